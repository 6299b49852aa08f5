#include "core/buffer.h"

#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <string>
#include <thread>
#include <utility>

#include <gtest/gtest.h>

#include "tests/unit/unit_helpers.h"

namespace duet {
namespace {

using duet::testing::firstMismatch;
using duet::testing::makePipe;
using duet::testing::makeSocketPair;
using duet::testing::pattern;
using duet::testing::pipeCapacity;
using duet::testing::writeAll;

constexpr std::size_t kPre = Buffer::kCheapPrepend;
constexpr std::size_t kSpill = 64 * 1024;  // Buffer::readFd's stack spill area

// The three regions always tile the storage exactly.
void expectRegionsTile(const Buffer& b) {
  if (b.capacity() == 0) {
    EXPECT_EQ(b.readableBytes(), 0u);
    EXPECT_EQ(b.writableBytes(), 0u);
    EXPECT_EQ(b.prependableBytes(), 0u);
    return;
  }
  EXPECT_EQ(b.prependableBytes() + b.readableBytes() + b.writableBytes(), b.capacity());
  EXPECT_GE(b.prependableBytes(), 0u);
}

TEST(Buffer, NewBufferAllocatesNothing) {
  Buffer b;
  EXPECT_EQ(b.capacity(), 0u);
  EXPECT_EQ(b.readableBytes(), 0u);
  EXPECT_EQ(b.writableBytes(), 0u);
  EXPECT_EQ(b.prependableBytes(), 0u);
  EXPECT_TRUE(b.empty());
  ASSERT_NE(b.peek(), nullptr);  // valid even without storage
  EXPECT_EQ(b.view(), "");
  EXPECT_EQ(b.findCRLF(), nullptr);
  EXPECT_EQ(b.findEOL(), nullptr);
  EXPECT_EQ(b.retrieveAllAsString(), "");
  expectRegionsTile(b);
}

TEST(Buffer, EmptyAppendAndZeroEnsureDoNotAllocate) {
  Buffer b;
  b.append("", 0);
  b.append(std::string_view{});
  b.ensureWritable(0);
  EXPECT_EQ(b.capacity(), 0u);
  b.retrieveAll();
  EXPECT_EQ(b.capacity(), 0u);
  EXPECT_EQ(b.prependableBytes(), 0u);
}

TEST(Buffer, ExplicitInitialCapacity) {
  Buffer b(100);
  EXPECT_EQ(b.capacity(), kPre + 100);
  EXPECT_EQ(b.writableBytes(), 100u);
  EXPECT_EQ(b.prependableBytes(), kPre);
  EXPECT_EQ(b.readableBytes(), 0u);
  expectRegionsTile(b);
}

TEST(Buffer, AppendRetrieveAndRegions) {
  Buffer b;
  b.append(std::string(200, 'x'));
  EXPECT_EQ(b.readableBytes(), 200u);
  EXPECT_EQ(b.prependableBytes(), kPre);
  EXPECT_EQ(b.capacity(), kPre + Buffer::kInitialSize);  // first allocation is the initial size
  EXPECT_EQ(b.writableBytes(), Buffer::kInitialSize - 200);
  expectRegionsTile(b);

  b.retrieve(50);
  EXPECT_EQ(b.readableBytes(), 150u);
  EXPECT_EQ(b.prependableBytes(), kPre + 50);
  EXPECT_EQ(b.writableBytes(), Buffer::kInitialSize - 200);
  expectRegionsTile(b);

  const std::string s = b.retrieveAsString(100);
  EXPECT_EQ(s, std::string(100, 'x'));
  EXPECT_EQ(b.readableBytes(), 50u);
  EXPECT_EQ(b.prependableBytes(), kPre + 150);
  expectRegionsTile(b);

  // Retrieving everything rewinds both indexes so the whole storage is reusable.
  b.retrieve(50);
  EXPECT_TRUE(b.empty());
  EXPECT_EQ(b.prependableBytes(), kPre);
  EXPECT_EQ(b.writableBytes(), Buffer::kInitialSize);
  expectRegionsTile(b);
}

TEST(Buffer, PeekAndViewSeeAppendedBytesInOrder) {
  Buffer b;
  b.append("hello, ");
  b.append(std::string_view("world"));
  const char raw[] = {'!', '\0', '?'};
  b.append(raw, sizeof raw);  // embedded NUL survives
  ASSERT_EQ(b.readableBytes(), 15u);
  EXPECT_EQ(b.view(), std::string_view("hello, world!\0?", 15));
  EXPECT_EQ(std::string(b.peek(), 5), "hello");
  b.retrieve(7);
  EXPECT_EQ(std::string(b.peek(), 5), "world");
  EXPECT_EQ(b.retrieveAllAsString(), std::string("world!\0?", 8));
  EXPECT_TRUE(b.empty());
}

TEST(Buffer, AppendVoidPointerOverload) {
  Buffer b;
  const std::uint32_t v = 0x01020304;
  b.append(static_cast<const void*>(&v), sizeof v);
  ASSERT_EQ(b.readableBytes(), sizeof v);
  std::uint32_t back = 0;
  std::memcpy(&back, b.peek(), sizeof back);
  EXPECT_EQ(back, v);
}

TEST(Buffer, RetrieveUntil) {
  Buffer b;
  b.append("key=value;rest");
  const char* semi = static_cast<const char*>(std::memchr(b.peek(), ';', b.readableBytes()));
  ASSERT_NE(semi, nullptr);
  b.retrieveUntil(semi + 1);
  EXPECT_EQ(b.view(), "rest");
}

TEST(Buffer, RetrieveAllRewinds) {
  Buffer b;
  b.append(std::string(300, 'a'));
  b.retrieve(10);
  const std::size_t cap = b.capacity();
  b.retrieveAll();
  EXPECT_TRUE(b.empty());
  EXPECT_EQ(b.capacity(), cap);  // keeps the storage
  EXPECT_EQ(b.prependableBytes(), kPre);
  EXPECT_EQ(b.writableBytes(), cap - kPre);
}

TEST(Buffer, Prepend) {
  Buffer b;
  b.append("payload");
  ASSERT_EQ(b.prependableBytes(), kPre);
  const std::uint32_t len = 7;
  b.prepend(&len, sizeof len);
  EXPECT_EQ(b.prependableBytes(), kPre - sizeof len);
  ASSERT_EQ(b.readableBytes(), sizeof len + 7);
  std::uint32_t header = 0;
  std::memcpy(&header, b.peek(), sizeof header);
  EXPECT_EQ(header, 7u);
  EXPECT_EQ(std::string(b.peek() + sizeof len, 7), "payload");
  expectRegionsTile(b);

  // The whole cheap-prepend area can be used.
  b.prepend("1234", 4);
  EXPECT_EQ(b.prependableBytes(), 0u);
  EXPECT_EQ(std::string(b.peek(), 4), "1234");
  expectRegionsTile(b);
}

TEST(Buffer, PrependIntoSpaceFreedByRetrieve) {
  Buffer b;
  b.append("0123456789");
  b.retrieve(6);
  EXPECT_EQ(b.prependableBytes(), kPre + 6);
  b.prepend("abcdefghijkl", 12);
  EXPECT_EQ(b.view(), "abcdefghijkl6789");
  EXPECT_EQ(b.prependableBytes(), kPre + 6 - 12);
}

TEST(Buffer, GrowsWhenTotalRoomIsShort) {
  Buffer b;
  b.append(std::string(1000, 'a'));
  ASSERT_EQ(b.capacity(), kPre + Buffer::kInitialSize);
  const std::string more = pattern(2000);
  b.append(more);
  EXPECT_GE(b.capacity(), kPre + 3000);
  EXPECT_EQ(b.readableBytes(), 3000u);
  EXPECT_EQ(b.view().substr(0, 1000), std::string(1000, 'a'));
  EXPECT_EQ(b.view().substr(1000), more);
  EXPECT_EQ(b.prependableBytes(), kPre);
  expectRegionsTile(b);
}

TEST(Buffer, GrowthIsGeometric) {
  // Many small appends must not reallocate every time: count distinct capacities.
  Buffer b;
  std::size_t reallocations = 0;
  std::size_t cap = b.capacity();
  for (int i = 0; i < 100000; ++i) {
    b.append("0123456789");
    if (b.capacity() != cap) {
      ++reallocations;
      cap = b.capacity();
    }
  }
  EXPECT_EQ(b.readableBytes(), 1000000u);
  EXPECT_LE(reallocations, 20u);
}

TEST(Buffer, SlidesToFrontInsteadOfGrowing) {
  Buffer b;
  b.append(pattern(1000));
  const std::size_t cap = b.capacity();
  ASSERT_EQ(cap, kPre + Buffer::kInitialSize);
  b.retrieve(900);  // 100 readable, 24 writable, 908 prependable
  ASSERT_EQ(b.writableBytes(), cap - kPre - 1000);
  const std::string kept(b.view());

  // 500 does not fit behind the data, but fits once the data is slid to the front.
  b.append(std::string(500, 'z'));
  EXPECT_EQ(b.capacity(), cap) << "must reuse the prependable space, not grow";
  EXPECT_EQ(b.prependableBytes(), kPre);
  EXPECT_EQ(b.readableBytes(), 600u);
  EXPECT_EQ(b.view().substr(0, 100), kept);
  EXPECT_EQ(b.view().substr(100), std::string(500, 'z'));
  expectRegionsTile(b);
}

TEST(Buffer, SlideBoundaryExactFit) {
  // Exactly enough room overall (writable + prependable - kCheapPrepend == len): no growth.
  Buffer b;
  b.append(pattern(1000));
  const std::size_t cap = b.capacity();
  b.retrieve(500);
  const std::size_t room = b.writableBytes() + b.prependableBytes() - kPre;
  b.append(std::string(room, 'q'));
  EXPECT_EQ(b.capacity(), cap);
  EXPECT_EQ(b.writableBytes(), 0u);
  EXPECT_EQ(b.readableBytes(), 500 + room);
  EXPECT_EQ(b.view().substr(0, 500), pattern(1000).substr(500));

  // One more byte now needs real growth.
  b.append("!");
  EXPECT_GT(b.capacity(), cap);
  EXPECT_EQ(b.view().back(), '!');
  EXPECT_EQ(b.view().substr(0, 500), pattern(1000).substr(500));
}

TEST(Buffer, EnsureWritableBeginWriteHasWritten) {
  Buffer b;
  b.ensureWritable(64);
  ASSERT_GE(b.writableBytes(), 64u);
  std::memcpy(b.beginWrite(), "direct", 6);
  b.hasWritten(6);
  EXPECT_EQ(b.view(), "direct");
  b.unwrite(3);
  EXPECT_EQ(b.view(), "dir");
  expectRegionsTile(b);
}

TEST(Buffer, FindCRLF) {
  Buffer b;
  b.append("GET / HTTP/1.1\r\nHost: x\r\n\r\n");
  const char* first = b.findCRLF();
  ASSERT_NE(first, nullptr);
  EXPECT_EQ(first - b.peek(), 14);

  const char* second = b.findCRLF(first + 2);
  ASSERT_NE(second, nullptr);
  EXPECT_EQ(second - b.peek(), 23);

  const char* third = b.findCRLF(second + 2);
  ASSERT_NE(third, nullptr);
  EXPECT_EQ(third - b.peek(), 25);

  EXPECT_EQ(b.findCRLF(third + 2), nullptr);  // start == end of readable
  EXPECT_EQ(b.findCRLF(first), first);        // start on the CRLF itself
  EXPECT_EQ(b.findCRLF(first + 1), second);   // start between '\r' and '\n'
}

TEST(Buffer, FindCRLFAcrossAppends) {
  Buffer b;
  b.append("line\r");
  EXPECT_EQ(b.findCRLF(), nullptr);  // half a terminator is not a terminator
  b.append("\nnext");
  const char* crlf = b.findCRLF();
  ASSERT_NE(crlf, nullptr);
  EXPECT_EQ(crlf - b.peek(), 4);
  b.retrieveUntil(crlf + 2);
  EXPECT_EQ(b.view(), "next");
  EXPECT_EQ(b.findCRLF(), nullptr);
}

TEST(Buffer, FindCRLFOnlyLooksAtReadableBytes) {
  // A CRLF that was retrieved (now in the prependable area) must not be found.
  Buffer b;
  b.append("a\r\nbc");
  b.retrieve(3);
  EXPECT_EQ(b.findCRLF(), nullptr);
  // Nor bytes past the writer index (unwritten garbage).
  Buffer c(32);
  std::memcpy(c.beginWrite(), "xy\r\n", 4);
  c.hasWritten(2);
  EXPECT_EQ(c.findCRLF(), nullptr);
  EXPECT_EQ(c.findEOL(), nullptr);
}

TEST(Buffer, FindEOL) {
  Buffer b;
  b.append("abc");
  EXPECT_EQ(b.findEOL(), nullptr);
  b.append("\ndef\n");
  const char* eol = b.findEOL();
  ASSERT_NE(eol, nullptr);
  EXPECT_EQ(eol - b.peek(), 3);
  b.retrieveUntil(eol + 1);
  eol = b.findEOL();
  ASSERT_NE(eol, nullptr);
  EXPECT_EQ(eol - b.peek(), 3);
  b.retrieveAll();
  EXPECT_EQ(b.findEOL(), nullptr);
}

TEST(Buffer, ShrinkFreesWhenEmpty) {
  Buffer b;
  b.append(std::string(5000, 'x'));
  ASSERT_GT(b.capacity(), 0u);
  b.retrieveAll();
  b.shrink();
  EXPECT_EQ(b.capacity(), 0u);
  EXPECT_EQ(b.prependableBytes(), 0u);
  EXPECT_EQ(b.writableBytes(), 0u);
  ASSERT_NE(b.peek(), nullptr);
  EXPECT_EQ(b.view(), "");
  // Still fully usable afterwards.
  b.append("again");
  EXPECT_EQ(b.view(), "again");
  EXPECT_EQ(b.prependableBytes(), kPre);
  expectRegionsTile(b);
}

TEST(Buffer, ShrinkKeepsReadableBytes) {
  Buffer b;
  const std::string data = pattern(10000);
  b.append(data);
  b.retrieve(9000);
  ASSERT_GT(b.capacity(), kPre + 1000);
  b.shrink();
  EXPECT_EQ(b.capacity(), kPre + 1000);
  EXPECT_EQ(b.readableBytes(), 1000u);
  EXPECT_EQ(b.prependableBytes(), kPre);
  EXPECT_EQ(b.writableBytes(), 0u);
  EXPECT_EQ(b.view(), std::string_view(data).substr(9000));
  expectRegionsTile(b);
}

TEST(Buffer, ShrinkWithReserve) {
  Buffer b;
  b.append(pattern(10000));
  b.retrieve(9900);
  b.shrink(50);
  EXPECT_EQ(b.capacity(), kPre + 100 + 50);
  EXPECT_EQ(b.writableBytes(), 50u);
  EXPECT_EQ(b.view(), std::string_view(pattern(10000)).substr(9900));

  // Shrinking to something not smaller leaves the storage alone.
  const char* before = b.peek();
  b.shrink(50);
  EXPECT_EQ(b.peek(), before);
  b.shrink(1000);
  EXPECT_EQ(b.capacity(), kPre + 150);
}

TEST(Buffer, MoveConstructLeavesSourceEmptyAndUsable) {
  Buffer a;
  a.append("moved bytes");
  const char* storage = a.peek();
  Buffer b(std::move(a));
  EXPECT_EQ(b.view(), "moved bytes");
  EXPECT_EQ(b.peek(), storage);  // a move steals, never copies
  EXPECT_EQ(a.capacity(),
            0u);  // NOLINT(bugprone-use-after-move): the moved-from state is specified
  EXPECT_TRUE(a.empty());
  ASSERT_NE(a.peek(), nullptr);
  a.append("reuse");
  EXPECT_EQ(a.view(), "reuse");
}

TEST(Buffer, MoveAssign) {
  Buffer a;
  a.append("source");
  Buffer b;
  b.append(std::string(3000, 'd'));
  b = std::move(a);
  EXPECT_EQ(b.view(), "source");
  EXPECT_TRUE(a.empty());  // NOLINT(bugprone-use-after-move)
  a.append("x");
  EXPECT_EQ(a.view(), "x");
}

TEST(Buffer, Swap) {
  Buffer a;
  a.append("first");
  a.retrieve(1);
  Buffer b(10);
  b.append("second!");
  const std::size_t capA = a.capacity();
  const std::size_t capB = b.capacity();
  a.swap(b);
  EXPECT_EQ(a.view(), "second!");
  EXPECT_EQ(b.view(), "irst");
  EXPECT_EQ(a.capacity(), capB);
  EXPECT_EQ(b.capacity(), capA);
  EXPECT_EQ(b.prependableBytes(), kPre + 1);
  expectRegionsTile(a);
  expectRegionsTile(b);

  Buffer empty;
  a.swap(empty);
  EXPECT_EQ(a.capacity(), 0u);
  EXPECT_EQ(empty.view(), "second!");
}

// ---- readFd ----

TEST(BufferReadFd, SmallReadIntoExistingRoom) {
  auto p = makeSocketPair();
  Buffer b(4096);
  b.append("pre:");
  const std::size_t cap = b.capacity();
  ASSERT_TRUE(writeAll(p.b.get(), "hello over a socket"));
  int err = 0;
  const ssize_t n = b.readFd(p.a.get(), &err);
  EXPECT_EQ(n, 19);
  EXPECT_EQ(b.view(), "pre:hello over a socket");
  EXPECT_EQ(b.capacity(), cap) << "a read that fits must not reallocate";
  EXPECT_EQ(err, 0);
  expectRegionsTile(b);
}

TEST(BufferReadFd, IntoUnallocatedBufferUsesSpill) {
  auto p = makeSocketPair();
  Buffer b;
  ASSERT_TRUE(writeAll(p.b.get(), "lazy"));
  int err = 0;
  EXPECT_EQ(b.readFd(p.a.get(), &err), 4);
  EXPECT_EQ(b.view(), "lazy");
  EXPECT_GT(b.capacity(), 0u);
  expectRegionsTile(b);
}

TEST(BufferReadFd, ReadIntoFullBuffer) {
  // No writable room at all: everything goes through the spill area.
  auto p = makeSocketPair();
  Buffer b(16);
  b.append(std::string(16, 'f'));
  ASSERT_EQ(b.writableBytes(), 0u);
  ASSERT_TRUE(writeAll(p.b.get(), "tail"));
  int err = 0;
  EXPECT_EQ(b.readFd(p.a.get(), &err), 4);
  EXPECT_EQ(b.view(), std::string(16, 'f') + "tail");
}

TEST(BufferReadFd, LargerThanWritableUsesSpill100KiB) {
  auto p = makePipe();
  const std::size_t total = 100 * 1024;
  if (pipeCapacity(p.b.get()) < total) GTEST_SKIP() << "cannot raise the pipe capacity to 100 KiB";
  const std::string data = pattern(total, 7);
  ASSERT_TRUE(writeAll(p.b.get(), data));

  Buffer b(1000);
  const std::size_t writable = b.writableBytes();
  int err = 0;
  const ssize_t first = b.readFd(p.a.get(), &err);
  // One readv fills the buffer's room and the whole spill area.
  ASSERT_EQ(first, static_cast<ssize_t>(writable + kSpill));
  EXPECT_EQ(b.readableBytes(), writable + kSpill);
  EXPECT_EQ(firstMismatch(b.view(), std::string_view(data).substr(0, writable + kSpill)),
            std::string_view::npos);
  expectRegionsTile(b);

  while (b.readableBytes() < total) {
    const ssize_t n = b.readFd(p.a.get(), &err);
    ASSERT_GT(n, 0) << "errno " << err;
  }
  EXPECT_EQ(b.readableBytes(), total);
  EXPECT_EQ(firstMismatch(b.view(), data), std::string_view::npos);
}

TEST(BufferReadFd, SpillIntoUnallocatedBuffer64KiBPerCall) {
  auto p = makePipe();
  const std::size_t total = 100 * 1024;
  if (pipeCapacity(p.b.get()) < total) GTEST_SKIP() << "cannot raise the pipe capacity to 100 KiB";
  const std::string data = pattern(total, 3);
  ASSERT_TRUE(writeAll(p.b.get(), data));
  Buffer b;
  int err = 0;
  EXPECT_EQ(b.readFd(p.a.get(), &err),
            static_cast<ssize_t>(kSpill));  // only the spill area is there
  EXPECT_EQ(b.readableBytes(), kSpill);
  while (b.readableBytes() < total) ASSERT_GT(b.readFd(p.a.get(), &err), 0);
  EXPECT_EQ(firstMismatch(b.view(), data), std::string_view::npos);
}

TEST(BufferReadFd, TwoHundredKiBInSeveralCallsEveryByteChecked) {
  auto p = makePipe();
  const std::size_t total = 200 * 1024;
  if (pipeCapacity(p.b.get()) < total) GTEST_SKIP() << "cannot raise the pipe capacity to 200 KiB";
  const std::string data = pattern(total, 11);
  ASSERT_TRUE(writeAll(p.b.get(), data));

  Buffer b;
  int err = 0;
  int calls = 0;
  std::string consumed;  // also consume as we go, so the slide path is exercised
  while (consumed.size() + b.readableBytes() < total) {
    const ssize_t n = b.readFd(p.a.get(), &err);
    ASSERT_GT(n, 0) << "errno " << err;
    ASSERT_LE(static_cast<std::size_t>(n), b.capacity() + kSpill);
    ++calls;
    if (calls % 2 == 0) consumed += b.retrieveAsString(b.readableBytes() / 2);
    expectRegionsTile(b);
  }
  consumed += b.retrieveAllAsString();
  EXPECT_GE(calls, 2);
  ASSERT_EQ(consumed.size(), total);
  EXPECT_EQ(firstMismatch(consumed, data), std::string_view::npos);
}

TEST(BufferReadFd, LargeWritableAreaReadsDirectly) {
  // With >= 64 KiB of room the read goes straight into the buffer.
  auto p = makePipe();
  const std::size_t total = 100 * 1024;
  if (pipeCapacity(p.b.get()) < total) GTEST_SKIP() << "cannot raise the pipe capacity to 100 KiB";
  const std::string data = pattern(total, 5);
  ASSERT_TRUE(writeAll(p.b.get(), data));
  Buffer b(128 * 1024);
  const std::size_t cap = b.capacity();
  int err = 0;
  EXPECT_EQ(b.readFd(p.a.get(), &err), static_cast<ssize_t>(total));
  EXPECT_EQ(b.capacity(), cap);
  EXPECT_EQ(firstMismatch(b.view(), data), std::string_view::npos);
}

TEST(BufferReadFd, SocketPairLargeTransferEveryByteChecked) {
  // The same through a stream socket, with a writer thread so the socket
  // buffer size does not matter; the reader never pre-grows the buffer.
  auto p = makeSocketPair();
  const std::size_t total = 200 * 1024;
  const std::string data = pattern(total, 13);
  std::thread writer([&] { EXPECT_TRUE(writeAll(p.b.get(), data)); });
  Buffer b;
  int err = 0;
  while (b.readableBytes() < total) {
    const ssize_t n = b.readFd(p.a.get(), &err);
    ASSERT_GT(n, 0) << "errno " << err;
  }
  writer.join();
  EXPECT_EQ(b.readableBytes(), total);
  EXPECT_EQ(firstMismatch(b.view(), data), std::string_view::npos);
}

TEST(BufferReadFd, EofReturnsZero) {
  auto p = makeSocketPair();
  ASSERT_TRUE(writeAll(p.b.get(), "last"));
  p.b.reset();
  Buffer b;
  int err = 0;
  EXPECT_EQ(b.readFd(p.a.get(), &err), 4);
  EXPECT_EQ(b.readFd(p.a.get(), &err), 0);
  EXPECT_EQ(b.view(), "last");
}

TEST(BufferReadFd, EofOnPipe) {
  auto p = makePipe();
  p.b.reset();
  Buffer b(100);
  int err = 0;
  EXPECT_EQ(b.readFd(p.a.get(), &err), 0);
  EXPECT_TRUE(b.empty());
}

TEST(BufferReadFd, EagainSetsSavedErrno) {
  auto p = makeSocketPair(/*nonBlocking=*/true);
  Buffer b;
  int err = 0;
  EXPECT_EQ(b.readFd(p.a.get(), &err), -1);
  EXPECT_TRUE(err == EAGAIN || err == EWOULDBLOCK) << err;
  EXPECT_TRUE(b.empty());

  Buffer c(100);
  c.append("keep");
  err = 0;
  EXPECT_EQ(c.readFd(p.a.get(), &err), -1);
  EXPECT_TRUE(err == EAGAIN || err == EWOULDBLOCK) << err;
  EXPECT_EQ(c.view(), "keep");
}

TEST(BufferReadFd, BadFdSetsSavedErrno) {
  Buffer b;
  int err = 0;
  EXPECT_EQ(b.readFd(-1, &err), -1);
  EXPECT_EQ(err, EBADF);
}

}  // namespace
}  // namespace duet
