// Direct descriptors (UringOptions::directDescriptors): accepted sockets live
// only in the ring's fixed-file table. What must hold:
//   - the process gains no descriptor per accepted connection, and a
//     Connection reports none (fd() == -1);
//   - closing goes through the ring and gives the slot back, to our count and
//     to the kernel (a freed slot takes the next connection);
//   - a full table sheds the connection (the client sees it closed at once),
//     counts it, and accepting resumes when a slot frees, without spinning;
//   - a full table is logged once per burst, and its end once;
//   - the main acceptor with I/O threads hands each slot to an I/O loop's own
//     table (IORING_MSG_SEND_FD) with its peer address, and frees its own;
//     an I/O loop whose table is full gets nothing: the connection is closed,
//     counted, logged once per burst, and the server forgets it;
//   - a kernel that cannot do it makes an explicit `on` fail with the reason.
// The whole conformance suite also runs with them (config "uring_direct",
// with every threading model).
#include <gtest/gtest.h>

#include <future>
#include <mutex>
#include <string>
#include <vector>

#include "core/socket_ops.h"
#include "core/tcp_server.h"
#include "proactor/uring_loop.h"
#include "tests/proactor/uring_test_fixture.h"
#include "tests/support/fd_count.h"
#include "tests/support/raw_client.h"
#include "tests/support/server_harness.h"

namespace duet::test {
namespace {

LoopOptions directOptions(unsigned slots = 0) {
  LoopOptions o = uringOptions();
  o.uring.directDescriptors = KernelFeature::On;
  o.uring.directDescriptorSlots = slots;
  return o;
}

class DirectDescriptorsTest : public UringTest {
 protected:
  void SetUp() override {
    UringTest::SetUp();
    if (IsSkipped()) return;
    DUET_SKIP_WITHOUT_URING(directOptions());
  }

  // Echoes, and remembers what each accepted connection said its fd and peer were.
  ConnectionCallbacks recordingEcho() {
    ConnectionCallbacks cb = echoCallbacks();
    cb.onConnection = [this](const ConnectionPtr& conn) {
      if (!conn->connected()) return;
      std::lock_guard lock(mutex_);
      acceptedFds_.push_back(conn->fd());
      acceptedPeers_.push_back(conn->peer().toIpPort());
    };
    return cb;
  }
  std::vector<int> acceptedFds() {
    std::lock_guard lock(mutex_);
    return acceptedFds_;
  }
  std::vector<std::string> acceptedPeers() {
    std::lock_guard lock(mutex_);
    return acceptedPeers_;
  }

  // Slots held by each of the server's loops, the accepting one first.
  static std::vector<std::size_t> slotsPerLoop(ServerHarness& server) {
    std::vector<EventLoop*> loops;
    server.runSync([&] { loops = server.server().loops(); });
    std::vector<std::size_t> out;
    for (EventLoop* loop : loops) {
      std::promise<std::size_t> n;
      loop->runInLoop(
          [&n, loop] { n.set_value(dynamic_cast<UringLoop&>(*loop).directSlotsInUse()); });
      out.push_back(n.get_future().get());
    }
    return out;
  }
  // The accepting loop holds a slot only while it is on its way to an I/O
  // loop: until the close linked behind the MSG_RING has completed.
  static bool acceptorHoldsNoSlot(ServerHarness& server) {
    return eventually([&] { return slotsPerLoop(server).front() == 0; });
  }

  static std::size_t slotsInUse(ServerHarness& server) {
    std::size_t n = 0;
    server.runSync([&] { n = dynamic_cast<UringLoop&>(server.loop()).directSlotsInUse(); });
    return n;
  }
  static std::uint64_t shed(ServerHarness& server) {
    std::uint64_t n = 0;
    server.runSync([&] { n = server.loop().stats().acceptShed.get(); });
    return n;
  }
  static std::uint64_t acceptErrors(ServerHarness& server) {
    std::uint64_t n = 0;
    server.runSync([&] { n = server.loop().stats().acceptErrors.get(); });
    return n;
  }

 private:
  std::mutex mutex_;
  std::vector<int> acceptedFds_;
  std::vector<std::string> acceptedPeers_;
};

// How many times `needle` occurs in `text`.
std::size_t occurrences(const std::string& text, const std::string& needle) {
  std::size_t n = 0;
  for (auto at = text.find(needle); at != std::string::npos; at = text.find(needle, at + 1)) ++n;
  return n;
}

// Hand-offs fail on purpose while one of these lives (UringLoop's test hook).
struct FailingHandoffs {
  FailingHandoffs() { UringLoop::failSocketHandoffForTesting(true); }
  ~FailingHandoffs() { UringLoop::failSocketHandoffForTesting(false); }
  FailingHandoffs(const FailingHandoffs&) = delete;
  FailingHandoffs& operator=(const FailingHandoffs&) = delete;
};

TEST_F(DirectDescriptorsTest, AcceptedSocketsTakeNoDescriptorAndCloseThroughTheRing) {
  constexpr int kClients = 8;
  ServerHarness server(directOptions(), testServerOptions(), recordingEcho());
  ASSERT_TRUE(server.ok()) << server.error();
  const int before = openFdCount();

  std::vector<RawClient> clients;
  for (int i = 0; i < kClients; ++i) {
    clients.emplace_back(server.address());
    ASSERT_TRUE(clients.back().echo("ping " + std::to_string(i)));
  }
  // Each connection is one descriptor here, the client's; the server's end
  // is a slot in the ring. With plain descriptors this would be 2 per client.
  EXPECT_EQ(openFdCount(), before + kClients);
  EXPECT_EQ(slotsInUse(server), std::size_t{kClients});
  const std::vector<int> fds = acceptedFds();
  ASSERT_EQ(fds.size(), std::size_t{kClients});
  for (int fd : fds) EXPECT_EQ(fd, -1) << "an accepted connection reported a descriptor";

  // Peers close: the server closes each slot through the ring.
  clients.clear();
  EXPECT_TRUE(eventually([&] { return server.server().connectionCount() == 0; }));
  EXPECT_TRUE(eventually([&] { return slotsInUse(server) == 0; }))
      << slotsInUse(server) << " slots still held";
  EXPECT_EQ(openFdCount(), before);
}

TEST_F(DirectDescriptorsTest, AFullTableShedsTheConnectionAndAClosedSlotTakesTheNext) {
  ServerHarness server(directOptions(/*slots=*/2), testServerOptions(), echoCallbacks());
  ASSERT_TRUE(server.ok()) << server.error();
  RawClient first(server.address());
  RawClient second(server.address());
  ASSERT_TRUE(first.echo("one"));
  ASSERT_TRUE(second.echo("two"));
  ASSERT_EQ(slotsInUse(server), 2u);

  // No slot left: the kernel takes the connection and closes it at once.
  RawClient third(server.address());
  EXPECT_TRUE(third.waitClosed(5000))
      << "a connection the table cannot hold must be closed, not left waiting";
  EXPECT_TRUE(eventually([&] { return shed(server) == 1; })) << shed(server);
  EXPECT_EQ(acceptErrors(server), 1u);

  // A slot closed through the ring is free in the kernel's table again: the
  // next connection gets it.
  first.close();
  EXPECT_TRUE(eventually([&] { return slotsInUse(server) == 1; }));
  RawClient fourth(server.address());
  EXPECT_TRUE(fourth.echo("four"))
      << "the slot the close freed was not given to the next connection";
  EXPECT_EQ(slotsInUse(server), 2u);
  // Nothing failed in between: a spinning acceptor would count errors on.
  EXPECT_EQ(acceptErrors(server), 1u);
  EXPECT_EQ(shed(server), 1u);
}

TEST_F(DirectDescriptorsTest, AFullTableIsLoggedOncePerBurstAndItsEndOnce) {
  ServerHarness server(directOptions(/*slots=*/1), testServerOptions(), echoCallbacks());
  ASSERT_TRUE(server.ok()) << server.error();
  RawClient holder(server.address());
  ASSERT_TRUE(holder.echo("holds the only slot"));

  testing::internal::CaptureStderr();
  constexpr int kShed = 3;
  for (int i = 0; i < kShed; ++i) {
    RawClient shedClient(server.address());
    EXPECT_TRUE(shedClient.waitClosed(5000)) << "connection " << i << " was not shed";
    EXPECT_TRUE(eventually([&] { return shed(server) == std::uint64_t(i + 1); })) << shed(server);
  }
  holder.close();
  EXPECT_TRUE(eventually([&] { return slotsInUse(server) == 0; }));
  RawClient next(server.address());
  const bool served = next.echo("after the burst");
  const std::string log = testing::internal::GetCapturedStderr();

  EXPECT_TRUE(served) << "accepting did not resume once a slot was free";
  // One line when the burst starts (ENFILE: "Too many open files in system"),
  // not one per connection; one when it ends, with the count.
  EXPECT_EQ(occurrences(log, "Too many open files in system"), 1u) << log;
  EXPECT_EQ(
      occurrences(log, "accept recovered: " + std::to_string(kShed) + " connection(s) were shed"),
      1u)
      << log;
  EXPECT_EQ(occurrences(log, "accept recovered"), 1u) << log;
}

TEST_F(DirectDescriptorsTest, TheMainAcceptorHandsEachSlotToAnIoLoopsTableWithItsPeer) {
  constexpr int kClients = 6;
  ServerHarness server(directOptions(), testServerOptions(2, AcceptMode::MainLoop),
                       recordingEcho());
  ASSERT_TRUE(server.ok()) << server.error();
  const int before = openFdCount();

  std::vector<RawClient> clients;
  std::vector<std::string> clientAddresses;
  for (int i = 0; i < kClients; ++i) {
    clients.emplace_back(server.address());
    ASSERT_TRUE(clients.back().echo("ping " + std::to_string(i)));
    clientAddresses.push_back(sockets::localAddress(clients.back().fd()).toIpPort());
  }
  // No server descriptor anywhere; each I/O loop holds its half of the slots
  // (round robin), and the acceptor none once each hand-off is done.
  EXPECT_EQ(openFdCount(), before + kClients);
  EXPECT_TRUE(eventually([&] {
    return slotsPerLoop(server) == std::vector<std::size_t>{0, 3, 3};
  })) << slotsPerLoop(server)[0]
      << " " << slotsPerLoop(server)[1] << " " << slotsPerLoop(server)[2];
  for (int fd : acceptedFds()) EXPECT_EQ(fd, -1) << "a handed-off connection reported a descriptor";
  // The peer address travelled with the socket.
  EXPECT_EQ(acceptedPeers(), clientAddresses);

  clients.clear();
  EXPECT_TRUE(eventually([&] { return server.server().connectionCount() == 0; }));
  EXPECT_TRUE(eventually([&] {
    return slotsPerLoop(server) == std::vector<std::size_t>{0, 0, 0};
  }));
  EXPECT_EQ(openFdCount(), before);
}

TEST_F(DirectDescriptorsTest,
       AnIoLoopWithAFullTableGetsNoSocketTheConnectionIsClosedCountedAndLoggedOncePerBurst) {
  // Two slots in every loop's table; two I/O loops take connections in turn.
  ServerHarness server(directOptions(/*slots=*/2), testServerOptions(2, AcceptMode::MainLoop),
                       echoCallbacks());
  ASSERT_TRUE(server.ok()) << server.error();
  std::vector<RawClient> held;
  for (int i = 0; i < 4; ++i) {
    held.emplace_back(server.address());
    ASSERT_TRUE(held.back().echo("fills a slot"));
    ASSERT_TRUE(acceptorHoldsNoSlot(server));
  }
  ASSERT_EQ(slotsPerLoop(server), (std::vector<std::size_t>{0, 2, 2}));

  testing::internal::CaptureStderr();
  // Both I/O loops are full: each of the next two connections is refused by
  // its target's table, and the acceptor closes it.
  for (int i = 0; i < 2; ++i) {
    RawClient refused(server.address());
    EXPECT_TRUE(refused.waitClosed(5000))
        << "a connection no I/O loop could take must be closed, not left waiting";
    EXPECT_TRUE(acceptorHoldsNoSlot(server))
        << "the acceptor kept the slot of a hand-off that failed";
  }
  EXPECT_TRUE(eventually([&] { return shed(server) == 2; })) << shed(server);
  // The server forgot them: only the four it serves are counted (a count
  // left behind would keep a graceful stop waiting for ever).
  EXPECT_TRUE(eventually([&] { return server.server().connectionCount() == 4; }))
      << server.server().connectionCount();

  // A slot freed in the first I/O loop takes its next connection.
  held.front().close();
  EXPECT_TRUE(eventually([&] {
    return slotsPerLoop(server) == std::vector<std::size_t>{0, 1, 2};
  }));
  RawClient next(server.address());
  const bool served = next.echo("after the burst");
  // The "recovered" line is written by the accepting loop when the close
  // linked behind the hand-off completes, which can come after the echo.
  // slotsPerLoop() asks that loop on its own thread, so once it holds no
  // slot the line has been written.
  EXPECT_TRUE(acceptorHoldsNoSlot(server));
  const std::string log = testing::internal::GetCapturedStderr();
  EXPECT_TRUE(served) << "hand-offs did not resume once the I/O loop had a free slot";
  EXPECT_EQ(occurrences(log, "fixed-file table is full"), 1u) << log;
  EXPECT_EQ(occurrences(log, "hand-offs recovered: 2 connection(s) were closed"), 1u) << log;
  EXPECT_EQ(shed(server), 2u);
}

TEST_F(DirectDescriptorsTest, AHandOffThatFailsClosesTheSlotAndTheServerForgetsTheConnection) {
  ServerHarness server(directOptions(), testServerOptions(2, AcceptMode::MainLoop),
                       echoCallbacks());
  ASSERT_TRUE(server.ok()) << server.error();
  {
    const FailingHandoffs failing;  // each MSG_RING aimed at no ring: EBADF, as a target gone
    RawClient lost(server.address());
    EXPECT_TRUE(lost.waitClosed(5000)) << "a socket that could not be handed off must be closed";
    EXPECT_TRUE(acceptorHoldsNoSlot(server)) << "the slot of a failed hand-off leaked";
    EXPECT_TRUE(eventually([&] { return server.server().connectionCount() == 0; }))
        << server.server().connectionCount();
  }
  RawClient next(server.address());
  EXPECT_TRUE(next.echo("hand-offs work again"));
}

TEST_F(DirectDescriptorsTest, EachReusePortLoopAcceptsIntoItsOwnRing) {
  ServerHarness server(directOptions(), testServerOptions(2, AcceptMode::ReusePort),
                       echoCallbacks());
  ASSERT_TRUE(server.ok()) << server.error();
  // Each I/O loop creates its acceptor (and its spare descriptor) from a
  // task start() queued: a task queued after it runs after it.
  std::vector<EventLoop*> loops;
  server.runSync([&] { loops = server.server().loops(); });
  for (EventLoop* loop : loops) {
    std::promise<void> ran;
    loop->queueInLoop([&ran] { ran.set_value(); });
    ran.get_future().wait();
  }
  const int before = openFdCount();
  std::vector<RawClient> clients;
  for (int i = 0; i < 6; ++i) {
    clients.emplace_back(server.address());
    ASSERT_TRUE(clients.back().echo("hello"));
  }
  EXPECT_EQ(openFdCount(), before + 6);
}

TEST_F(DirectDescriptorsTest, ATableTheKernelRefusesFailsAnExplicitOnAndTurnsAutoOff) {
  // More slots than any kernel allows (2^20): the registration fails as it
  // would on a kernel without the feature.
  LoopOptions on = directOptions(/*slots=*/1u << 30);
  try {
    makeEventLoop(on);
    ADD_FAILURE() << "an explicit on that the kernel refused must throw";
  } catch (const BackendUnavailable& e) {
    const std::string why = e.what();
    EXPECT_NE(why.find("Linux 6.0"), std::string::npos) << why;
    EXPECT_NE(why.find("--direct-fds off"), std::string::npos) << why;
  }
  LoopOptions automatic = on;
  automatic.uring.directDescriptors = KernelFeature::Auto;
  auto loop = makeEventLoop(automatic);
  EXPECT_FALSE(dynamic_cast<UringLoop&>(*loop).directDescriptors());
}

}  // namespace
}  // namespace duet::test
