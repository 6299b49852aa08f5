// The proactor's recycled Buffer storage: bounded, only empty storage is
// kept, and a Buffer that borrows one is empty and usable. No ring needed.
#include "core/spare_buffers.h"

#include <gtest/gtest.h>

#include <string>

namespace duet {
namespace {

Buffer withStorage(std::size_t bytes) {
  Buffer b;
  b.append(std::string(bytes, 'x'));
  b.retrieveAll();   // empty, storage kept
  return b;
}

TEST(SpareBuffers, DrainedStorageIsLentToTheNextEmptyBuffer) {
  SpareBuffers spares;
  Buffer sent = withStorage(16384);
  const std::size_t capacity = sent.capacity();
  ASSERT_GE(capacity, 16384u);
  spares.takeFrom(sent);
  EXPECT_EQ(sent.capacity(), 0u);        // the connection holds nothing now
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
  EXPECT_EQ(tooBig.capacity(), 0u);      // freed, not kept
  EXPECT_EQ(spares.count(), 0u);

  for (int i = 0; i < 5; ++i) {
    Buffer b = withStorage(1000);
    spares.takeFrom(b);
    EXPECT_EQ(b.capacity(), 0u);         // kept or freed, never left with the connection
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
  Buffer none;                           // no storage at all: nothing to keep
  spares.takeFrom(none);
  EXPECT_EQ(spares.count(), 0u);
  Buffer lent;
  spares.lendTo(lent);                   // nothing to lend
  EXPECT_EQ(lent.capacity(), 0u);
}

}  // namespace
}  // namespace duet
