// The proactor's recycled Buffer storage: bounded, only empty storage is
// kept, and a Buffer that borrows one is empty and usable. No ring needed.
#include "core/spare_buffers.h"

#include <gtest/gtest.h>

#include <string>
#include <thread>

namespace duet {
namespace {

Buffer withStorage(std::size_t bytes) {
  Buffer b;
  b.append(std::string(bytes, 'x'));
  b.retrieveAll();  // empty, storage kept
  return b;
}

TEST(SpareBuffers, DrainedStorageIsLentToTheNextEmptyBuffer) {
  SpareBuffers spares;
  Buffer sent = withStorage(16384);
  const std::size_t capacity = sent.capacity();
  ASSERT_GE(capacity, 16384u);
  spares.takeFrom(sent);
  EXPECT_EQ(sent.capacity(), 0u);  // the connection holds nothing now
  EXPECT_EQ(spares.count(), 1u);
  EXPECT_EQ(spares.bytes(), capacity);

  Buffer input;
  spares.lendTo(input);
  EXPECT_EQ(input.capacity(), capacity);
  EXPECT_TRUE(input.empty());
  EXPECT_EQ(spares.count(), 0u);
  EXPECT_EQ(spares.bytes(), 0u);
  input.append("hello");
  EXPECT_EQ(input.view(), "hello");
}

TEST(SpareBuffers, ABufferHoldingBytesIsLeftAlone) {
  SpareBuffers spares;
  Buffer pending;
  pending.append("not sent yet");
  spares.takeFrom(pending);
  EXPECT_EQ(pending.view(), "not sent yet");
  EXPECT_EQ(spares.count(), 0u);
}

TEST(SpareBuffers, ABufferWithStorageBorrowsNothing) {
  SpareBuffers spares;
  Buffer spare = withStorage(4096);
  spares.takeFrom(spare);
  Buffer own = withStorage(100);
  const std::size_t ownCapacity = own.capacity();
  spares.lendTo(own);
  EXPECT_EQ(own.capacity(), ownCapacity);
  EXPECT_EQ(spares.count(), 1u);
}

TEST(SpareBuffers, CountBytesAndSizeAreBounded) {
  SpareBuffers spares(/*maxCount=*/3, /*maxBytes=*/64 * 1024, /*maxOne=*/32 * 1024);
  Buffer tooBig = withStorage(40 * 1024);
  spares.takeFrom(tooBig);
  EXPECT_EQ(tooBig.capacity(), 0u);  // freed, not kept
  EXPECT_EQ(spares.count(), 0u);

  for (int i = 0; i < 5; ++i) {
    Buffer b = withStorage(1000);
    spares.takeFrom(b);
    EXPECT_EQ(b.capacity(), 0u);  // kept or freed, never left with the connection
  }
  EXPECT_EQ(spares.count(), 3u);

  SpareBuffers byBytes(/*maxCount=*/100, /*maxBytes=*/40 * 1024, /*maxOne=*/32 * 1024);
  for (int i = 0; i < 5; ++i) {
    Buffer b = withStorage(16 * 1024);
    byBytes.takeFrom(b);
  }
  EXPECT_LE(byBytes.bytes(), 40u * 1024);
  EXPECT_EQ(byBytes.count(), 2u);
}

TEST(SpareBuffers, StorageWithoutBytesIsNotKeptTwice) {
  SpareBuffers spares;
  Buffer none;  // no storage at all: nothing to keep
  spares.takeFrom(none);
  EXPECT_EQ(spares.count(), 0u);
  Buffer lent;
  spares.lendTo(lent);  // nothing to lend
  EXPECT_EQ(lent.capacity(), 0u);
}

// Why: storage over 64 KiB used to go back to malloc, which unmapped or
// trimmed it, so every 256 KiB echo faulted its pages back in.
TEST(SpareBuffers, StorageOfLargeMessagesIsKept) {
  SpareBuffers spares;
  Buffer big = withStorage(256 * 1024);
  const std::size_t capacity = big.capacity();
  spares.takeFrom(big);
  EXPECT_EQ(big.capacity(), 0u);
  EXPECT_EQ(spares.count(), 1u);
  EXPECT_EQ(spares.bytes(), capacity);
}

TEST(SpareBuffers, CapacitiesComeInClassesWhoseWritableAreaIsAPowerOfTwo) {
  EXPECT_EQ(SpareBuffers::capacityFor(1), Buffer::kCheapPrepend + 1024);
  EXPECT_EQ(SpareBuffers::capacityFor(Buffer::kCheapPrepend + 1024), Buffer::kCheapPrepend + 1024);
  EXPECT_EQ(SpareBuffers::capacityFor(Buffer::kCheapPrepend + 1025), Buffer::kCheapPrepend + 2048);
  // The 64 KiB class is readFd's spill size: a read into it needs no spill.
  EXPECT_EQ(SpareBuffers::capacityFor(Buffer::kCheapPrepend + 40000),
            Buffer::kCheapPrepend + 65536);
  const std::size_t largest = SpareBuffers::classCapacity(SpareBuffers::kClassCount - 1);
  EXPECT_EQ(SpareBuffers::capacityFor(largest + 1), largest + 1);  // beyond the classes: as asked
}

TEST(SpareBuffers, BorrowGivesTheSmallestSpareThatHolds) {
  SpareBuffers spares;
  for (std::size_t bytes : {1000u, 16000u, 100000u}) {
    Buffer b = withStorage(bytes);
    spares.takeFrom(b);
  }
  ASSERT_EQ(spares.count(), 3u);
  Buffer got = spares.borrow(5000);
  EXPECT_EQ(got.capacity(), SpareBuffers::capacityFor(16000));
  EXPECT_TRUE(got.empty());
  EXPECT_EQ(spares.borrow(200000).capacity(), 0u);  // none holds that much
  EXPECT_EQ(spares.count(), 2u);
}

TEST(SpareBuffers, LendToGivesTheReadClassOrTheLargestBelowIt) {
  // The reader does not know how much is coming: 64 KiB of room make one
  // read as large as readFd's spill area, straight into the Buffer.
  SpareBuffers spares;
  for (std::size_t bytes : {1000u, 300000u, 40000u, 16000u}) {
    Buffer b = withStorage(bytes);
    spares.takeFrom(b);
  }
  Buffer input;
  spares.lendTo(input);
  EXPECT_EQ(input.capacity(), SpareBuffers::classCapacity(SpareBuffers::kReadClass));
  EXPECT_EQ(input.writableBytes(), 65536u);
  Buffer next;
  spares.lendTo(next);  // the smallest above the read class
  EXPECT_EQ(next.capacity(), SpareBuffers::capacityFor(300000));
  Buffer last;
  spares.lendTo(last);  // none left at or above it: the largest below
  EXPECT_EQ(last.capacity(), SpareBuffers::capacityFor(16000));
}

TEST(SpareBuffers, BuffersOnAServedThreadGrowFromTheSparesAndGiveOutgrownStorageBack) {
  SpareBuffers spares;
  Buffer warm = withStorage(40000);  // one 64 KiB-class storage, given to the spares below
  const char* warmStorage = warm.peek();
  std::thread([&] {
    spares.serveThisThread();
    ASSERT_EQ(SpareBuffers::forThisThread(), &spares);
    Buffer b;
    b.append(std::string(1000, 'a'));  // the 1 KiB class: none spare, malloc
    EXPECT_EQ(spares.count(), 0u);
    b.append(std::string(30000, 'b'));  // the 32 KiB class: none spare, malloc...
    EXPECT_EQ(spares.count(), 1u);      // ...and the outgrown 1 KiB storage is a spare now
    spares.takeFrom(warm);
    b.append(std::string(20000, 'c'));  // the 64 KiB class: the warm one, no malloc
    EXPECT_EQ(b.capacity(), SpareBuffers::capacityFor(40000));
    EXPECT_EQ(b.peek(), warmStorage);
    EXPECT_EQ(b.view(), std::string(1000, 'a') + std::string(30000, 'b') + std::string(20000, 'c'));
    EXPECT_EQ(spares.count(), 2u);  // the 1 KiB and the 32 KiB ones
    b.retrieveAll();
    spares.takeFrom(b);
  }).join();
  EXPECT_EQ(SpareBuffers::forThisThread(), nullptr);  // served on that thread only
  EXPECT_EQ(spares.count(), 3u);
}

TEST(SpareBuffers, ATestThreadBufferGrowsWithoutSpares) {
  // No loop serves this thread: growth is plain allocation, as before.
  ASSERT_EQ(SpareBuffers::forThisThread(), nullptr);
  Buffer b;
  b.append(std::string(100000, 'x'));
  EXPECT_EQ(b.capacity(), SpareBuffers::capacityFor(Buffer::kCheapPrepend + 100000));
}

TEST(SpareBuffers, LendForReadTakesTheSmallestSpareHoldingTheSizeOrAllocatesOnlyWhenAsked) {
  SpareBuffers spares;
  const std::size_t big = SpareBuffers::classCapacity(8);  // 256 KiB writable
  Buffer read =
      withStorage(SpareBuffers::classCapacity(SpareBuffers::kReadClass) - Buffer::kCheapPrepend);
  spares.takeFrom(read);
  ASSERT_EQ(spares.count(), 1u);

  // No spare holds 256 KiB; not asked to allocate: the read class spare, as lendTo().
  Buffer first;
  spares.lendForRead(first, big, /*fresh=*/false);
  EXPECT_EQ(first.capacity(), SpareBuffers::classCapacity(SpareBuffers::kReadClass));
  EXPECT_EQ(spares.count(), 0u);

  // Asked to allocate: fresh storage of exactly that class.
  Buffer second;
  spares.lendForRead(second, big, /*fresh=*/true);
  EXPECT_EQ(second.capacity(), big);
  EXPECT_TRUE(second.empty());

  // Given back, it is what the next read of that size borrows.
  spares.takeFrom(second);
  Buffer third;
  spares.lendForRead(third, big, /*fresh=*/true);
  EXPECT_EQ(third.capacity(), big);
  EXPECT_EQ(spares.count(), 0u);

  // A Buffer with storage keeps it.
  spares.lendForRead(first, big, /*fresh=*/true);
  EXPECT_EQ(first.capacity(), SpareBuffers::classCapacity(SpareBuffers::kReadClass));
}

// Large storage kept per streaming connection: the budget grows by
// kStreamingAllowance for each, and when one stops, spares beyond the smaller
// budget are freed at once (largest first), so a loop whose streams ended
// holds the base budget again without a timer.
TEST(SpareBuffers, StreamingConnectionsRaiseTheBudgetAndTheirEndFreesWhatNoLongerFits) {
  const std::size_t top = SpareBuffers::classCapacity(SpareBuffers::kClassCount - 1);
  const std::size_t base = std::size_t{2} << 20;
  SpareBuffers spares(256, base);
  const auto giveLargest = [&](int n) {
    for (int i = 0; i < n; ++i) {
      Buffer b = withStorage(top - Buffer::kCheapPrepend);
      ASSERT_EQ(b.capacity(), top);
      spares.takeFrom(b);
    }
  };
  giveLargest(8);
  EXPECT_EQ(spares.count(), base / top) << "without streaming, the base budget holds";

  spares.streamingStarted();
  spares.streamingStarted();
  EXPECT_EQ(spares.streamingConnections(), 2u);
  EXPECT_EQ(spares.budget(), base + 2 * SpareBuffers::kStreamingAllowance);
  giveLargest(8);
  EXPECT_EQ(spares.count(), (base + 2 * SpareBuffers::kStreamingAllowance) / top);

  spares.streamingStopped();
  EXPECT_LE(spares.bytes(), base + SpareBuffers::kStreamingAllowance);
  EXPECT_EQ(spares.count(), (base + SpareBuffers::kStreamingAllowance) / top);
  spares.streamingStopped();
  EXPECT_LE(spares.bytes(), base);
  EXPECT_EQ(spares.count(), base / top);
  spares.streamingStopped();  // more stops than starts: no underflow
  EXPECT_EQ(spares.streamingConnections(), 0u);
  EXPECT_EQ(spares.budget(), base);
}

TEST(SpareBuffers, TheTrimFreesTheLargestSparesFirst) {
  const std::size_t top = SpareBuffers::classCapacity(SpareBuffers::kClassCount - 1);
  SpareBuffers spares(256, top + SpareBuffers::classCapacity(0));
  spares.streamingStarted();
  Buffer large1 = withStorage(top - Buffer::kCheapPrepend);
  Buffer large2 = withStorage(top - Buffer::kCheapPrepend);
  Buffer small = withStorage(SpareBuffers::classCapacity(0) - Buffer::kCheapPrepend);
  spares.takeFrom(large1);
  spares.takeFrom(large2);
  spares.takeFrom(small);
  ASSERT_EQ(spares.count(), 3u);
  spares.streamingStopped();
  EXPECT_EQ(spares.count(), 2u) << "one large spare alone had to go";
  Buffer smallAgain = spares.borrow(SpareBuffers::classCapacity(0));
  EXPECT_EQ(smallAgain.capacity(), SpareBuffers::classCapacity(0)) << "the small spare was freed";
}

TEST(SpareBuffers, TheStreamingBudgetHasACeiling) {
  const std::size_t base = std::size_t{2} << 20;
  const std::size_t ceiling = std::size_t{4} << 20;
  SpareBuffers spares(256, base, SpareBuffers::classCapacity(SpareBuffers::kClassCount - 1),
                      ceiling);
  for (int i = 0; i < 100; ++i) spares.streamingStarted();
  EXPECT_EQ(spares.budget(), ceiling);
  for (int i = 0; i < 100; ++i) spares.streamingStopped();
  EXPECT_EQ(spares.budget(), base);
}

}  // namespace
}  // namespace duet
