// AdaptiveReadSize: the storage a connection's next read gets grows at once
// when reads fill it and shrinks only after repeated small reads, within the
// spares' classes.
#include "core/adaptive_read_size.h"

#include <gtest/gtest.h>

namespace duet {
namespace {

constexpr std::size_t writable(std::size_t k) {
  return SpareBuffers::classCapacity(k) - Buffer::kCheapPrepend;
}
constexpr std::size_t kRead = SpareBuffers::kReadClass;

TEST(AdaptiveReadSize, StartsAtTheReadClass) {
  AdaptiveReadSize size;
  EXPECT_EQ(size.capacity(), SpareBuffers::classCapacity(kRead));
  EXPECT_FALSE(size.grown());
}

TEST(AdaptiveReadSize, AFullReadGrowsTwoClassesUpToTheLargest) {
  AdaptiveReadSize size;
  size.recordRead(writable(kRead), writable(kRead));
  EXPECT_EQ(size.capacity(), SpareBuffers::classCapacity(kRead + 2));
  EXPECT_TRUE(size.grown());
  size.recordRead(writable(kRead + 2), writable(kRead + 2));
  EXPECT_EQ(size.capacity(), SpareBuffers::classCapacity(SpareBuffers::kClassCount - 1));
  size.recordRead(writable(SpareBuffers::kClassCount - 1), writable(SpareBuffers::kClassCount - 1));
  EXPECT_EQ(size.capacity(), SpareBuffers::classCapacity(SpareBuffers::kClassCount - 1));
}

TEST(AdaptiveReadSize, TwoSmallReadsInARowStepOneClassDownNeverBelowTheReadClass) {
  AdaptiveReadSize size;
  size.recordRead(writable(kRead), writable(kRead));  // now kRead + 2
  const std::size_t room = writable(kRead + 2);
  size.recordRead(100, room);
  EXPECT_EQ(size.capacity(), SpareBuffers::classCapacity(kRead + 2))
      << "one small read is not a trend";
  size.recordRead(writable(kRead + 1), room);  // fits the class below only exactly: not small
  size.recordRead(100, room);
  EXPECT_EQ(size.capacity(), SpareBuffers::classCapacity(kRead + 2))
      << "the small reads were not consecutive";
  size.recordRead(100, room);
  EXPECT_EQ(size.capacity(), SpareBuffers::classCapacity(kRead + 1));
  for (int i = 0; i < 10; ++i) size.recordRead(100, writable(kRead + 1));
  EXPECT_EQ(size.capacity(), SpareBuffers::classCapacity(kRead));
  EXPECT_FALSE(size.grown());
}

TEST(AdaptiveReadSize, AMessageOfExactlyTheLowerClassDoesNotOscillate) {
  // 256 KiB messages read into 512 KiB storage: each read is 256 KiB, not
  // below the class under 512 KiB, so the size stays put.
  AdaptiveReadSize size;
  size.recordRead(writable(kRead), writable(kRead));
  size.recordRead(writable(kRead + 2), writable(kRead + 2));
  const std::size_t top = SpareBuffers::kClassCount - 1;
  for (int i = 0; i < 4; ++i) size.recordRead(writable(top - 1), writable(top));
  EXPECT_EQ(size.capacity(), SpareBuffers::classCapacity(top));
}

}  // namespace
}  // namespace duet
