// select(2) can only watch fds below FD_SETSIZE: FD_SET on a larger one writes
// past the fd_set. The select backend must refuse such fds with a clear line,
// close the connection, and keep serving everything else.
#include <fcntl.h>
#include <sys/resource.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <cerrno>
#include <string>
#include <vector>

#include "core/connection.h"
#include "core/socket_ops.h"
#include "reactor/channel.h"
#include "reactor/reactor_loop.h"
#include "tests/reactor/reactor_test_helpers.h"
#include "tests/support/raw_client.h"
#include "tests/support/server_harness.h"

namespace duet::reactor_test {
namespace {

LoopOptions selectOptions() {
  LoopOptions o;
  o.backend = Backend::Select;
  return o;
}

// Skips the test if this process may not open fds well past FD_SETSIZE.
bool canOpenHighFds() {
  rlimit limit{};
  return ::getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur > FD_SETSIZE + 600;
}

bool isOpen(int fd) { return ::fcntl(fd, F_GETFD) != -1 || errno != EBADF; }

class NoHandler final : public ChannelHandler {
 public:
  void handleReady(unsigned) override { ADD_FAILURE() << "no event expected"; }
};

TEST(SelectFdLimit, ChannelRefusesAnFdAtOrAboveFdSetSize) {
  if (!canOpenHighFds()) GTEST_SKIP() << "RLIMIT_NOFILE too low to open fd " << FD_SETSIZE + 76;
  ReactorLoop loop(selectOptions());
  UniqueFd high(::dup2(STDIN_FILENO, FD_SETSIZE + 76));
  ASSERT_TRUE(high);
  NoHandler handler;
  Channel channel(loop, high.get(), handler);
  EXPECT_FALSE(channel.enableReading());
  EXPECT_FALSE(channel.enableWriting());
  EXPECT_FALSE(channel.registered());
  EXPECT_EQ(channel.interest(), 0u);
}

TEST(SelectFdLimit, CreateConnectionClosesAHighFdAndReturnsNull) {
  if (!canOpenHighFds()) GTEST_SKIP() << "RLIMIT_NOFILE too low";
  ReactorLoop loop(selectOptions());
  int pair[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair), 0);
  UniqueFd ours(pair[0]);
  const int highFd = FD_SETSIZE + 100;
  ASSERT_EQ(::dup2(pair[1], highFd), highFd);
  ::close(pair[1]);

  testing::internal::CaptureStderr();
  ConnectionPtr conn =
      loop.createConnection(UniqueFd(highFd), InetAddress(), InetAddress(5555, true));
  const std::string log = testing::internal::GetCapturedStderr();

  EXPECT_EQ(conn, nullptr);
  EXPECT_FALSE(isOpen(highFd)) << "the refused socket must be closed";
  char byte;
  EXPECT_EQ(::recv(ours.get(), &byte, 1, MSG_DONTWAIT), 0)
      << "the peer must see the connection closed";
  EXPECT_NE(
      log.find("select backend cannot watch fd " + std::to_string(highFd) + " (>= FD_SETSIZE " +
               std::to_string(FD_SETSIZE) + "): closing connection from 127.0.0.1:5555"),
      std::string::npos)
      << log;
}

TEST(SelectFdLimit, ServerClosesTheHighFdConnectionAndKeepsServing) {
  if (!canOpenHighFds()) GTEST_SKIP() << "RLIMIT_NOFILE too low";
  test::ServerHarness server(selectOptions(), loopbackServer(), plainEchoCallbacks());
  ASSERT_TRUE(server.ok()) << server.error();

  // Fill every descriptor below FD_SETSIZE + 10, so the next accept gets a
  // number select cannot watch.
  std::vector<UniqueFd> fillers;
  for (;;) {
    UniqueFd fd(::open("/dev/null", O_RDONLY | O_CLOEXEC));
    ASSERT_TRUE(fd);
    const bool done = fd.get() >= FD_SETSIZE + 10;
    fillers.push_back(std::move(fd));
    if (done) break;
  }
  {
    test::RawClient refused(server.address());
    ASSERT_TRUE(refused.isOpen());
    ASSERT_GE(refused.fd(), FD_SETSIZE);
    EXPECT_TRUE(refused.waitClosed(5000)) << "the connection select cannot watch must be closed";
  }
  // TcpServer counts a connection before the backend refuses it and uncounts
  // it just after the socket closes, so the client can see the close first.
  EXPECT_TRUE(eventually([&] { return server.server().connectionCount() == 0; }));

  fillers.clear();  // low descriptors again: the next connection is served
  test::RawClient served(server.address());
  ASSERT_TRUE(served.isOpen());
  ASSERT_LT(served.fd(), FD_SETSIZE);
  EXPECT_TRUE(served.echo("still serving"));
}

}  // namespace
}  // namespace duet::reactor_test
