#include "echo_pattern.h"

#include <algorithm>
#include <cstring>

namespace duetload {
namespace {

// The first 8 bytes carry a key unique to (conn, seq): a reordered, lost or
// duplicated message fails the check. The rest walks a 251-byte table (prime
// period, so a slip by a power-of-two block does not line up again) from a
// key-dependent start.
constexpr size_t kPeriod = 251;

struct PatternTable {
  unsigned char bytes[2 * kPeriod];
  PatternTable() {
    uint64_t x = 0x9E3779B97F4A7C15ull;
    for (size_t i = 0; i < kPeriod; ++i) {
      x ^= x << 13;
      x ^= x >> 7;
      x ^= x << 17;  // xorshift: any fixed noise will do
      bytes[i] = bytes[i + kPeriod] = static_cast<unsigned char>(x >> 24);
    }
  }
};
const PatternTable kTable;

uint64_t messageKey(uint32_t conn, uint64_t seq) {
  return (static_cast<uint64_t>(conn) << 40) ^ (seq * 0x9E3779B97F4A7C15ull);
}

}  // namespace

void fillMessage(char* dst, uint32_t conn, uint64_t seq, size_t off, size_t len) {
  const uint64_t key = messageKey(conn, seq);
  size_t i = off;
  const size_t end = off + len;
  for (; i < end && i < 8; ++i) *dst++ = static_cast<char>(key >> (8 * i));
  const size_t start = static_cast<size_t>(key % kPeriod);
  while (i < end) {
    // The table is stored twice over, so kPeriod bytes from any pos are contiguous.
    const size_t pos = (start + i) % kPeriod;
    const size_t n = std::min(end - i, kPeriod);
    std::memcpy(dst, kTable.bytes + pos, n);
    dst += n;
    i += n;
  }
}

}  // namespace duetload
