// RFC 3339 instants and durations, without the C library's time zone state (pure, thread-safe).
#pragma once

#include <chrono>
#include <optional>
#include <string>

#include "reconciler/types.h"

namespace crtoken {

// Parses "2027-06-30T00:00:00Z", "2027-06-30T02:00:00+02:00", "2027-06-30t00:00:00.123z".
// Fractional seconds are truncated. Rejects anything that is not a full RFC 3339 date-time,
// including impossible dates (2027-02-30), a missing zone, and an instant that its offset puts
// outside the years 0000 to 9999.
std::optional<Instant> ParseRfc3339(const std::string& text);

// "2027-06-30T00:00:00Z": the form the API writes.
std::string FormatRfc3339(Instant instant);

// "30s", "5m", "2h", "7d", "1h30m", "250ms". Rejects negative, empty and unitless values, and
// a number over a billion or a sum over a billion days.
std::optional<std::chrono::milliseconds> ParseDuration(const std::string& text);

}  // namespace crtoken
