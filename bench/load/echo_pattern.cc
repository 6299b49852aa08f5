#include "echo_pattern.h"

#include <algorithm>
#include <bit>
#include <cstring>

namespace duetload {
namespace {

// The first 8 bytes carry a key unique to (conn, seq): a reordered, lost or
// duplicated message fails the check. The rest walks a 251-byte table (prime
// period, so a slip by a power-of-two block does not line up again) from a
// key-dependent start.
constexpr size_t kPeriod = 251;
static_assert(std::endian::native == std::endian::little,
              "appendIovecs sends the key's bytes as they lie");

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

EchoPattern::EchoPattern(size_t longestRun)
    : longestRun_(longestRun), layout_(longestRun + kPeriod) {
  for (size_t i = 0; i < layout_.size(); ++i)
    layout_[i] = static_cast<char>(kTable.bytes[i % kPeriod]);
}

const char* EchoPattern::bodyAt(uint64_t key, size_t off) const {
  // fillMessage's byte i (i >= 8) is table[(start + i) % kPeriod]; layout_[k] is table[k %
  // kPeriod].
  return layout_.data() + (static_cast<size_t>(key % kPeriod) + off) % kPeriod;
}

bool EchoPattern::matches(const char* p, uint32_t conn, uint64_t seq, size_t off,
                          size_t len) const {
  const uint64_t key = messageKey(conn, seq);
  for (; len > 0 && off < kKeyBytes; ++off, --len, ++p)
    if (*p != static_cast<char>(key >> (8 * off))) return false;
  // A run longer than the layout (a message larger than longestRun_) goes in pieces.
  while (len > 0) {
    const size_t n = std::min(len, longestRun_);
    if (std::memcmp(p, bodyAt(key, off), n) != 0) return false;
    p += n;
    off += n;
    len -= n;
  }
  return true;
}

void EchoPattern::appendIovecs(std::vector<iovec>& out, uint64_t* key, uint32_t conn, uint64_t seq,
                               size_t off, size_t len) const {
  // Little-endian: byte i of *key is key >> (8 * i), as fillMessage writes it.
  *key = messageKey(conn, seq);
  if (off < kKeyBytes) {
    const size_t n = std::min(len, kKeyBytes - off);
    out.push_back({reinterpret_cast<char*>(key) + off, n});
    off += n;
    len -= n;
  }
  while (len > 0) {
    const size_t n = std::min(len, longestRun_);
    out.push_back({const_cast<char*>(bodyAt(*key, off)), n});  // writev only reads it
    off += n;
    len -= n;
  }
}

}  // namespace duetload
