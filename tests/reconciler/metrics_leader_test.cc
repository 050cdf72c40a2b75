// crtoken_leader and crtoken_leadership_changes_total: the gauge follows the state, the counter
// counts changes only.
#include <gtest/gtest.h>
#include <prometheus/text_serializer.h>

#include "reconciler/metrics.h"

namespace crtoken {
namespace {

std::string Scrape(const Metrics& metrics) {
  return prometheus::TextSerializer().Serialize(metrics.registry()->Collect());
}

bool Has(const std::string& text, const std::string& line) {
  return text.find("\n" + line + "\n") != std::string::npos;
}

TEST(MetricsLeader, TheGaugeFollowsLeadershipAndTheCounterCountsChanges) {
  Metrics m;
  std::string text = Scrape(m);
  EXPECT_EQ(text.find("crtoken_leader{"), std::string::npos) << text;  // not before it is set
  EXPECT_EQ(text.find("crtoken_leader "), std::string::npos) << text;

  m.SetLeader(false);  // a standby starting: no change
  text = Scrape(m);
  EXPECT_TRUE(Has(text, "crtoken_leader 0")) << text;
  EXPECT_TRUE(Has(text, "crtoken_leadership_changes_total{change=\"gained\"} 0")) << text;
  EXPECT_TRUE(Has(text, "crtoken_leadership_changes_total{change=\"lost\"} 0")) << text;

  m.SetLeader(true);
  m.SetLeader(true);  // a renewal is no change
  text = Scrape(m);
  EXPECT_TRUE(Has(text, "crtoken_leader 1")) << text;
  EXPECT_TRUE(Has(text, "crtoken_leadership_changes_total{change=\"gained\"} 1")) << text;

  m.SetLeader(false);
  m.SetLeader(true);
  text = Scrape(m);
  EXPECT_TRUE(Has(text, "crtoken_leader 1")) << text;
  EXPECT_TRUE(Has(text, "crtoken_leadership_changes_total{change=\"gained\"} 2")) << text;
  EXPECT_TRUE(Has(text, "crtoken_leadership_changes_total{change=\"lost\"} 1")) << text;
}

TEST(MetricsLeader, AnElectedProcessNamesItsLease) {
  Metrics m;
  m.SetLeader(false, "crtoken/crtoken");
  m.SetLeader(true, "crtoken/crtoken");
  const std::string text = Scrape(m);
  EXPECT_TRUE(Has(text, "crtoken_leader{lease=\"crtoken/crtoken\"} 1")) << text;
  EXPECT_TRUE(Has(text, "crtoken_leadership_changes_total{change=\"gained\"} 1")) << text;
}

}  // namespace
}  // namespace crtoken
