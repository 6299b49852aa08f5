// duet-load's latency histogram: the buckets it prints are what duet-compare
// pools across rounds, so adding two runs' buckets must give the same
// percentiles as recording both runs into one histogram.
#include "histogram.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <map>
#include <sstream>
#include <string>

namespace {

using duetload::Histogram;

// "value:count value:count" -> {value: count}
std::map<uint64_t, uint64_t> parse(const std::string& text) {
  std::map<uint64_t, uint64_t> out;
  std::istringstream in(text);
  std::string item;
  while (in >> item) {
    const size_t colon = item.find(':');
    out[std::stoull(item.substr(0, colon))] += std::stoull(item.substr(colon + 1));
  }
  return out;
}

TEST(LoadHistogram, EmptyHistogramPrintsNoBuckets) { EXPECT_EQ(Histogram().buckets(), ""); }

TEST(LoadHistogram, SmallValuesArePrintedExactlyWithTheirCounts) {
  Histogram h;
  h.record(7);
  h.record(7);
  h.record(200);
  EXPECT_EQ(h.buckets(), "7:2 200:1");
}

TEST(LoadHistogram, BucketCountsAddUpToTheSamplesAndValuesAreBucketMidpoints) {
  Histogram h;
  for (uint64_t v = 1; v <= 100000; v += 37) h.record(v * 1000);
  const auto buckets = parse(h.buckets());
  uint64_t total = 0;
  for (const auto& [value, count] : buckets) total += count;
  EXPECT_EQ(total, h.count());
  // Each printed value lies within 0.8% of the samples it stands for: the
  // quantile of a bucket is that value (here no clamp: min and max are exact).
  EXPECT_EQ(buckets.count(h.quantile(0.5)), 1u);
}

TEST(LoadHistogram, PoolingPrintedBucketsGivesTheMergedHistogramsBuckets) {
  Histogram slow, fast, both;
  for (uint64_t i = 0; i < 990; ++i) {
    fast.record(50'000 + i);
    both.record(50'000 + i);
  }
  for (uint64_t i = 0; i < 10; ++i) {
    slow.record(9'000'000 + i);
    both.record(9'000'000 + i);
  }
  auto pooled = parse(fast.buckets());
  for (const auto& [value, count] : parse(slow.buckets())) pooled[value] += count;
  EXPECT_EQ(pooled, parse(both.buckets()));
  Histogram merged = fast;
  merged.merge(slow);
  EXPECT_EQ(merged.buckets(), both.buckets());
}

}  // namespace
