// EchoPattern against fillMessage, the pattern's definition: what the sender
// gathers and what the checker accepts must be exactly the bytes fillMessage
// writes, for every way a message can be cut by short writes and reads.
#include "echo_pattern.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace duetload {
namespace {

std::string filled(uint32_t conn, uint64_t seq, size_t off, size_t len) {
  std::string s(len, '\0');
  fillMessage(s.data(), conn, seq, off, len);
  return s;
}

std::string gathered(const EchoPattern& pattern, uint32_t conn, uint64_t seq, size_t off,
                     size_t len, size_t* pieces = nullptr) {
  std::vector<iovec> iov;
  uint64_t key = 0;
  pattern.appendIovecs(iov, &key, conn, seq, off, len);
  if (pieces) *pieces = iov.size();
  std::string s;
  for (const iovec& v : iov) s.append(static_cast<const char*>(v.iov_base), v.iov_len);
  return s;
}

// Sizes around the key (8 bytes), the table's period (251) and the layout's length.
constexpr size_t kLongestRun = 4096;
const size_t kSizes[] = {1, 7, 8, 9, 250, 251, 252, 259, 4096, 4104, 3 * 4096 + 5};

TEST(EchoPattern, GathersExactlyWhatFillMessageWritesForEveryCut) {
  const EchoPattern pattern(kLongestRun);
  for (size_t size : kSizes) {
    for (size_t off :
         {size_t{0}, size_t{1}, size_t{7}, size_t{8}, size_t{9}, size_t{250}, size_t{4000}}) {
      if (off >= size) continue;
      for (size_t len : {size_t{1}, size_t{3}, size_t{251}, size - off}) {
        if (off + len > size) continue;
        size_t pieces = 0;
        EXPECT_EQ(gathered(pattern, 42, 7 + size, off, len, &pieces),
                  filled(42, 7 + size, off, len))
            << "size " << size << " off " << off << " len " << len;
        if (len <= kLongestRun) {
          EXPECT_LE(pieces, 2u);  // the key's part and one run: no copy, no split
        }
      }
    }
  }
}

TEST(EchoPattern, AcceptsWhatFillMessageWritesInAnyPieces) {
  const EchoPattern pattern(kLongestRun);
  for (size_t size : kSizes) {
    const std::string message = filled(3, 1000, 0, size);
    EXPECT_TRUE(pattern.matches(message.data(), 3, 1000, 0, size)) << size;
    for (size_t cut : {size_t{1}, size_t{8}, size_t{251}, size / 2}) {
      if (cut == 0 || cut >= size) continue;
      EXPECT_TRUE(pattern.matches(message.data(), 3, 1000, 0, cut)) << size << " " << cut;
      EXPECT_TRUE(pattern.matches(message.data() + cut, 3, 1000, cut, size - cut))
          << size << " " << cut;
    }
  }
}

TEST(EchoPattern, RejectsAFlippedByteAnywhereAndAnotherMessagesBytes) {
  const EchoPattern pattern(kLongestRun);
  const size_t size = 3 * 4096 + 5;
  const std::string message = filled(9, 77, 0, size);
  for (size_t at : {size_t{0}, size_t{5}, size_t{7}, size_t{8}, size_t{258}, size_t{4095},
                    size_t{4096}, size_t{8200}, size - 1}) {
    std::string bad = message;
    bad[at] = static_cast<char>(bad[at] ^ 0x20);
    EXPECT_FALSE(pattern.matches(bad.data(), 9, 77, 0, size)) << "flipped byte " << at;
    EXPECT_FALSE(pattern.matches(bad.data() + at, 9, 77, at, size - at)) << "from byte " << at;
  }
  EXPECT_FALSE(
      pattern.matches(message.data(), 9, 78, 0, size));  // the next message: a duplicate or a loss
  EXPECT_FALSE(pattern.matches(message.data(), 10, 77, 0, size));  // another connection's
  // Bytes shifted by one (a byte lost in the middle) fail too.
  EXPECT_FALSE(pattern.matches(message.data() + 101, 9, 77, 100, 500));
}

}  // namespace
}  // namespace duetload
