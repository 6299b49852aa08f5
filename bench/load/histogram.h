// Log-linear latency histogram (HdrHistogram-like, our own small code).
//
// Why not a sorted sample vector: a 5 s run at 200k msg/s is a million
// samples per thread; a fixed array of counters costs a few KiB, records in
// O(1) without allocating, and merges across threads by adding counters.
//
// Layout: values below 2^kSubBits are recorded exactly; above that, every
// power-of-two range [2^k, 2^(k+1)) is split into 2^(kSubBits-1) equal
// buckets, so a bucket's width is at most 1/128 of its value: < 0.8% error.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace duetload {

class Histogram {
 public:
  static constexpr int kSubBits = 8;   // 256 exact values, then 128 per octave
  static constexpr int kMaxBits = 42;  // up to ~4.4e12 ns (73 minutes)

  Histogram();

  void record(uint64_t value);  // value in nanoseconds
  void merge(const Histogram& other);
  void reset();

  uint64_t count() const { return count_; }
  uint64_t min() const { return count_ ? min_ : 0; }
  uint64_t max() const { return max_; }
  double mean() const { return count_ ? static_cast<double>(sum_) / count_ : 0.0; }
  // The value at quantile q in [0,1]: the midpoint of the bucket holding the
  // q-th sample, clamped to the exact observed min/max.
  uint64_t quantile(double q) const;

  // Every non-empty bucket as "value:count value:count ..." (value: the
  // bucket's midpoint in ns, the value quantile() reports for it), in
  // increasing order. Why print it: a p99 from one run of duet-load rests on
  // that run's samples only; a caller that adds the buckets of several runs
  // (duet-compare pools every round of a server) gets the p99 of all of them,
  // which averaging or taking the median of per-run p99s does not give.
  std::string buckets() const;

 private:
  static size_t indexOf(uint64_t v);
  static uint64_t lowerBound(size_t idx);
  static uint64_t width(size_t idx);
  static uint64_t midpoint(size_t idx) { return lowerBound(idx) + (width(idx) - 1) / 2; }

  std::vector<uint64_t> buckets_;
  uint64_t count_ = 0;
  uint64_t sum_ = 0;
  uint64_t min_ = UINT64_MAX;
  uint64_t max_ = 0;
};

}  // namespace duetload
