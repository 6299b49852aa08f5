// Direct descriptors (UringOptions::directDescriptors): accepted sockets live
// only in the ring's fixed-file table. What must hold:
//   - the process gains no descriptor per accepted connection, and a
//     Connection reports none (fd() == -1);
//   - closing goes through the ring and gives the slot back, to our count and
//     to the kernel (a freed slot takes the next connection);
//   - a full table sheds the connection (the client sees it closed at once),
//     counts it, and accepting resumes when a slot frees, without spinning;
//   - the main acceptor with I/O threads is refused with one clear error (a
//     slot cannot leave its ring);
//   - a kernel that cannot do it makes an explicit `on` fail with the reason.
// The whole conformance suite also runs with them (config "uring_direct").
#include <gtest/gtest.h>

#include <future>
#include <mutex>
#include <string>
#include <vector>

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

  // Echoes, and remembers what each accepted connection said its fd was.
  ConnectionCallbacks recordingEcho() {
    ConnectionCallbacks cb = echoCallbacks();
    cb.onConnection = [this](const ConnectionPtr& conn) {
      if (!conn->connected()) return;
      std::lock_guard lock(mutex_);
      acceptedFds_.push_back(conn->fd());
    };
    return cb;
  }
  std::vector<int> acceptedFds() {
    std::lock_guard lock(mutex_);
    return acceptedFds_;
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
  EXPECT_TRUE(eventually([&] { return slotsInUse(server) == 0; })) << slotsInUse(server) << " slots still held";
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
  EXPECT_TRUE(third.waitClosed(5000)) << "a connection the table cannot hold must be closed, not left waiting";
  EXPECT_TRUE(eventually([&] { return shed(server) == 1; })) << shed(server);
  EXPECT_EQ(acceptErrors(server), 1u);

  // A slot closed through the ring is free in the kernel's table again: the
  // next connection gets it.
  first.close();
  EXPECT_TRUE(eventually([&] { return slotsInUse(server) == 1; }));
  RawClient fourth(server.address());
  EXPECT_TRUE(fourth.echo("four")) << "the slot the close freed was not given to the next connection";
  EXPECT_EQ(slotsInUse(server), 2u);
  // Nothing failed in between: a spinning acceptor would count errors on.
  EXPECT_EQ(acceptErrors(server), 1u);
  EXPECT_EQ(shed(server), 1u);
}

TEST_F(DirectDescriptorsTest, TheMainAcceptorWithIoThreadsIsRefusedWithOneClearError) {
  ServerHarness server(directOptions(), testServerOptions(2, AcceptMode::MainLoop), echoCallbacks());
  EXPECT_FALSE(server.ok());
  EXPECT_NE(server.error().find("--direct-fds"), std::string::npos) << server.error();
  EXPECT_NE(server.error().find("reuseport"), std::string::npos) << server.error();
}

TEST_F(DirectDescriptorsTest, EachReusePortLoopAcceptsIntoItsOwnRing) {
  ServerHarness server(directOptions(), testServerOptions(2, AcceptMode::ReusePort), echoCallbacks());
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
