// The errors of a spec file whose name is not valid UTF-8 go through both log formats as valid
// lines: one JSON object per line in json, one printable line in text.
#include <gtest/gtest.h>
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>

#include <nlohmann/json.hpp>
#include <sstream>

#include "daemon/app/logging.h"
#include "daemon/common/json_text.h"
#include "daemon/specs/spec_tracker.h"
#include "reconciler/log_fields.h"
#include "tests/support/temp_dir.h"

namespace crtoken {
namespace {

using test::TempDir;
using test::WriteFile;

std::string LogOne(const std::string& format, const std::string& message) {
  std::ostringstream out;
  auto sink = std::make_shared<spdlog::sinks::ostream_sink_mt>(out);
  spdlog::logger logger("", sink);
  logger.set_formatter(MakeLogFormatter(format));
  logger.warn("{}", WithFields("spec error", {{"error", message}}));
  return out.str();
}

TEST(SpecUtf8LogsTest, ErrorsOfANonUtf8FileNameLogValidly) {
  TempDir dir;
  WriteFile(dir / "caf\xe9.yaml", "apiVersion: crtoken.io/v1alpha1\nkind: RegistryToken\n");
  SpecTracker tracker({dir.path().string()});
  SpecSnapshot snap = tracker.Load();
  ASSERT_FALSE(snap.errors.empty());
  const std::string error = snap.errors[0].ToString();
  EXPECT_EQ(error.rfind((dir / "caf\\ufffd.yaml:").string(), 0), 0u) << PrintableText(error);

  const std::string json_line = LogOne("json", error);
  ASSERT_FALSE(json_line.empty());
  EXPECT_EQ(json_line.find('\n'), json_line.size() - 1);
  const auto j = nlohmann::json::parse(json_line, nullptr, /*allow_exceptions=*/false);
  ASSERT_FALSE(j.is_discarded()) << PrintableText(json_line);
  EXPECT_EQ(j.value("error", ""), error);

  const std::string text_line = LogOne("text", error);
  ASSERT_FALSE(text_line.empty());
  EXPECT_EQ(text_line.find('\n'), text_line.size() - 1);
  const std::string body = text_line.substr(0, text_line.size() - 1);
  EXPECT_EQ(PrintableText(body, std::string::npos), body);
  EXPECT_NE(body.find("ufffd.yaml:1:1: missing required field"), std::string::npos) << body;
}

}  // namespace
}  // namespace crtoken
