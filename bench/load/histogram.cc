#include "histogram.h"

#include <algorithm>
#include <bit>
#include <cmath>

namespace duetload {

namespace {
constexpr uint64_t kExact = uint64_t{1} << Histogram::kSubBits;  // 256
constexpr uint64_t kHalf = kExact / 2;                           // 128 buckets per octave
constexpr uint64_t kMaxValue = (uint64_t{1} << Histogram::kMaxBits) - 1;
}  // namespace

Histogram::Histogram() : buckets_(indexOf(kMaxValue) + 1, 0) {}

// For v >= 256: shift = msb(v) - 7 keeps the top 8 bits of v, whose value
// (v >> shift) lies in [128, 256); consecutive octaves then map to
// consecutive runs of 128 indices, contiguous with the 256 exact ones.
size_t Histogram::indexOf(uint64_t v) {
  if (v < kExact) return static_cast<size_t>(v);
  const int shift = std::bit_width(v) - kSubBits;  // >= 1
  return static_cast<size_t>(static_cast<uint64_t>(shift) * kHalf + (v >> shift));
}

uint64_t Histogram::lowerBound(size_t idx) {
  if (idx < kExact) return idx;
  const uint64_t shift = idx / kHalf - 1;
  const uint64_t mantissa = idx - shift * kHalf;
  return mantissa << shift;
}

uint64_t Histogram::width(size_t idx) {
  if (idx < kExact) return 1;
  return uint64_t{1} << (idx / kHalf - 1);
}

void Histogram::record(uint64_t value) {
  value = std::min(value, kMaxValue);  // clamp rather than drop: a huge value is still a sample
  ++buckets_[indexOf(value)];
  ++count_;
  sum_ += value;
  min_ = std::min(min_, value);
  max_ = std::max(max_, value);
}

void Histogram::merge(const Histogram& other) {
  for (size_t i = 0; i < buckets_.size(); ++i) buckets_[i] += other.buckets_[i];
  count_ += other.count_;
  sum_ += other.sum_;
  min_ = std::min(min_, other.min_);
  max_ = std::max(max_, other.max_);
}

void Histogram::reset() {
  std::fill(buckets_.begin(), buckets_.end(), 0);
  count_ = sum_ = max_ = 0;
  min_ = UINT64_MAX;
}

uint64_t Histogram::quantile(double q) const {
  if (count_ == 0) return 0;
  q = std::clamp(q, 0.0, 1.0);
  // Rank of the sample we want, 1-based: ceil(q * n), at least 1.
  const uint64_t rank =
      std::max<uint64_t>(1, static_cast<uint64_t>(std::ceil(q * static_cast<double>(count_))));
  uint64_t seen = 0;
  for (size_t i = 0; i < buckets_.size(); ++i) {
    seen += buckets_[i];
    if (seen >= rank) {
      return std::clamp(midpoint(i), min_, max_);
    }
  }
  return max_;
}

std::string Histogram::buckets() const {
  std::string out;
  for (size_t i = 0; i < buckets_.size(); ++i) {
    if (buckets_[i] == 0) continue;
    if (!out.empty()) out += ' ';
    out += std::to_string(midpoint(i));
    out += ':';
    out += std::to_string(buckets_[i]);
  }
  return out;
}

}  // namespace duetload
