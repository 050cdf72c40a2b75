// The size of cpprest's shared thread pool, set once per process before the first request.
//
// cpprest runs every continuation of every request on one process-wide pool, which on Linux has
// 40 threads by default. Each continuation wakes a pool thread, so with 8 requests in flight the
// 40 threads mostly take turns at a futex: measured on 2 cores, 1,000 PUTs cost ~49,000 context
// switches and 0.8 s of system time with 40 threads, ~11,000 and 0.2 s with 2. crtoken's own
// threads block on their requests outside the pool, so a small pool only ever runs short
// callbacks.
#pragma once

namespace crtoken {

// Gives the pool 2 threads if it does not exist yet; a no-op once it does (cpprest sizes it only
// once). Call before any cpprest client is made. Thread-safe; never throws.
void SizeCpprestPool();

}  // namespace crtoken
