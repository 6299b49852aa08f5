#include "core/socket_ops.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>

#include <gtest/gtest.h>

namespace duet {
namespace {

bool isOpen(int fd) { return ::fcntl(fd, F_GETFD) != -1; }
bool isClosed(int fd) { return ::fcntl(fd, F_GETFD) == -1 && errno == EBADF; }

int newFd() {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  EXPECT_GE(fd, 0) << std::strerror(errno);
  return fd;
}

// A blocking client connected to `addr` (for accept/peer tests).
UniqueFd connectBlocking(const InetAddress& addr) {
  UniqueFd fd(::socket(addr.family(), SOCK_STREAM | SOCK_CLOEXEC, 0));
  EXPECT_TRUE(fd);
  EXPECT_EQ(::connect(fd.get(), addr.sockaddrPtr(), addr.length()), 0) << std::strerror(errno);
  return fd;
}

UniqueFd acceptBlocking(int listenFd) {
  // The listener is non-blocking: wait for the connection with poll-free retries
  // bounded by a generous count (connect() above already completed the handshake).
  for (int i = 0; i < 100000; ++i) {
    const int fd = ::accept4(listenFd, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd >= 0) return UniqueFd(fd);
    if (errno != EAGAIN && errno != EINTR) break;
    ::usleep(100);
  }
  ADD_FAILURE() << "accept failed: " << std::strerror(errno);
  return UniqueFd();
}

TEST(UniqueFd, DefaultIsEmpty) {
  UniqueFd fd;
  EXPECT_FALSE(fd);
  EXPECT_EQ(fd.get(), -1);
  fd.reset();  // no-op
}

TEST(UniqueFd, ClosesOnDestruction) {
  const int raw = newFd();
  {
    UniqueFd fd(raw);
    EXPECT_TRUE(fd);
    EXPECT_EQ(fd.get(), raw);
    EXPECT_TRUE(isOpen(raw));
  }
  EXPECT_TRUE(isClosed(raw));
}

TEST(UniqueFd, ResetClosesTheOldFd) {
  const int first = newFd();
  const int second = newFd();
  UniqueFd fd(first);
  fd.reset(second);
  EXPECT_TRUE(isClosed(first));
  EXPECT_TRUE(isOpen(second));
  EXPECT_EQ(fd.get(), second);
  fd.reset();
  EXPECT_TRUE(isClosed(second));
  EXPECT_FALSE(fd);
}

TEST(UniqueFd, ReleaseGivesUpOwnership) {
  const int raw = newFd();
  {
    UniqueFd fd(raw);
    EXPECT_EQ(fd.release(), raw);
    EXPECT_FALSE(fd);
  }
  EXPECT_TRUE(isOpen(raw));
  ::close(raw);
}

TEST(UniqueFd, MoveTransfersOwnership) {
  const int raw = newFd();
  UniqueFd a(raw);
  UniqueFd b(std::move(a));
  EXPECT_FALSE(a);  // NOLINT(bugprone-use-after-move)
  EXPECT_EQ(b.get(), raw);
  a.reset();  // must not close b's fd
  EXPECT_TRUE(isOpen(raw));

  const int other = newFd();
  UniqueFd c(other);
  c = std::move(b);  // closes c's old fd, takes b's
  EXPECT_TRUE(isClosed(other));
  EXPECT_EQ(c.get(), raw);
  EXPECT_TRUE(isOpen(raw));

  UniqueFd& alias = c;
  c = std::move(alias);  // self-move keeps the fd
  EXPECT_EQ(c.get(), raw);
  EXPECT_TRUE(isOpen(raw));
  c.reset();
  EXPECT_TRUE(isClosed(raw));
}

TEST(ListenTcp, PortZeroGetsARealPort) {
  std::string error;
  UniqueFd fd = sockets::listenTcp(InetAddress(0, /*loopbackOnly=*/true), false, &error);
  ASSERT_TRUE(fd) << error;
  EXPECT_TRUE(error.empty()) << error;
  const InetAddress local = sockets::localAddress(fd.get());
  EXPECT_EQ(local.toIp(), "127.0.0.1");
  EXPECT_NE(local.port(), 0);
  // Non-blocking and close-on-exec, as documented.
  EXPECT_TRUE(::fcntl(fd.get(), F_GETFL) & O_NONBLOCK);
  EXPECT_TRUE(::fcntl(fd.get(), F_GETFD) & FD_CLOEXEC);
  int acceptConn = 0;
  socklen_t len = sizeof acceptConn;
  ASSERT_EQ(::getsockopt(fd.get(), SOL_SOCKET, SO_ACCEPTCONN, &acceptConn, &len), 0);
  EXPECT_EQ(acceptConn, 1) << "must be listening";
}

TEST(ListenTcp, InUsePortFailsWithAClearMessage) {
  std::string error;
  UniqueFd first = sockets::listenTcp(InetAddress(0, true), false, &error);
  ASSERT_TRUE(first) << error;
  const InetAddress taken = sockets::localAddress(first.get());

  std::string error2;
  UniqueFd second = sockets::listenTcp(taken, false, &error2);
  EXPECT_FALSE(second);
  EXPECT_NE(error2.find("Address already in use"), std::string::npos) << error2;
  EXPECT_NE(error2.find(taken.toIpPort()), std::string::npos)
      << "should name the address: " << error2;

  // Without an error pointer it still just fails.
  EXPECT_FALSE(sockets::listenTcp(taken, false, nullptr));
}

TEST(ListenTcp, ReusePortAllowsTwoListeners) {
  std::string error;
  UniqueFd first = sockets::listenTcp(InetAddress(0, true), true, &error);
  ASSERT_TRUE(first) << error;
  const InetAddress addr = sockets::localAddress(first.get());
  UniqueFd second = sockets::listenTcp(addr, true, &error);
  EXPECT_TRUE(second) << error;
}

TEST(ListenTcp, Ipv6Loopback) {
  std::string error;
  UniqueFd fd = sockets::listenTcp(InetAddress(0, true, /*ipv6=*/true), false, &error);
  if (!fd) GTEST_SKIP() << "no IPv6 loopback here: " << error;
  const InetAddress local = sockets::localAddress(fd.get());
  EXPECT_TRUE(local.isIpv6());
  EXPECT_EQ(local.toIp(), "::1");
  EXPECT_NE(local.port(), 0);
}

TEST(SocketOps, LocalAndPeerAddressOfAConnection) {
  std::string error;
  UniqueFd listener = sockets::listenTcp(InetAddress(0, true), false, &error);
  ASSERT_TRUE(listener) << error;
  const InetAddress serverAddr = sockets::localAddress(listener.get());
  UniqueFd client = connectBlocking(serverAddr);
  UniqueFd server = acceptBlocking(listener.get());
  ASSERT_TRUE(server);
  EXPECT_TRUE(sockets::peerAddress(client.get()) == serverAddr);
  EXPECT_TRUE(sockets::localAddress(client.get()) == sockets::peerAddress(server.get()));
  EXPECT_EQ(sockets::socketError(client.get()), 0);

  // shutdownWrite half-closes: the peer reads EOF, and can still write back.
  EXPECT_TRUE(sockets::shutdownWrite(client.get()));
  char c;
  EXPECT_EQ(::read(server.get(), &c, 1), 0);
  ASSERT_EQ(::write(server.get(), "k", 1), 1);
  ASSERT_EQ(::read(client.get(), &c, 1), 1);
  EXPECT_EQ(c, 'k');
}

TEST(SocketOps, AcceptedSocketsInheritNoDelayAndSendBufferFromTheListener) {
  // TcpServer relies on it for sockets it has no descriptor to set options on
  // (io_uring direct descriptors): it sets them on the listener instead.
  std::string error;
  UniqueFd listener = sockets::listenTcp(InetAddress(0, true), false, &error);
  ASSERT_TRUE(listener) << error;
  sockets::setNoDelay(listener.get(), true);
  const int sendBuffer = 32 * 1024;
  ASSERT_EQ(::setsockopt(listener.get(), SOL_SOCKET, SO_SNDBUF, &sendBuffer, sizeof sendBuffer), 0);
  UniqueFd client = connectBlocking(sockets::localAddress(listener.get()));
  UniqueFd server = acceptBlocking(listener.get());
  ASSERT_TRUE(server);
  const auto option = [](int fd, int level, int name) {
    int value = -1;
    socklen_t len = sizeof value;
    EXPECT_EQ(::getsockopt(fd, level, name, &value, &len), 0);
    return value;
  };
  EXPECT_EQ(option(server.get(), IPPROTO_TCP, TCP_NODELAY), 1);
  EXPECT_EQ(option(server.get(), SOL_SOCKET, SO_SNDBUF),
            option(listener.get(), SOL_SOCKET, SO_SNDBUF));
  EXPECT_EQ(option(client.get(), IPPROTO_TCP, TCP_NODELAY), 0);  // the option is what changed it
}

TEST(SocketOps, AddressesOfAnUnconnectedOrBadFd) {
  // Not an error path a caller can miss: a default (0.0.0.0:0) address comes back.
  EXPECT_EQ(sockets::localAddress(-1).toIpPort(), "0.0.0.0:0");
  UniqueFd fd = sockets::tcpSocket(AF_INET);
  ASSERT_TRUE(fd);
  EXPECT_EQ(sockets::peerAddress(fd.get()).toIpPort(), "0.0.0.0:0");
  EXPECT_FALSE(sockets::shutdownWrite(fd.get()));  // not connected
}

TEST(SocketOps, TcpSocketIsNonBlockingCloexec) {
  UniqueFd fd = sockets::tcpSocket(AF_INET);
  ASSERT_TRUE(fd);
  EXPECT_TRUE(::fcntl(fd.get(), F_GETFL) & O_NONBLOCK);
  EXPECT_TRUE(::fcntl(fd.get(), F_GETFD) & FD_CLOEXEC);
  int type = 0;
  socklen_t len = sizeof type;
  ASSERT_EQ(::getsockopt(fd.get(), SOL_SOCKET, SO_TYPE, &type, &len), 0);
  EXPECT_EQ(type, SOCK_STREAM);
}

TEST(SocketOps, SetNoDelayAndKeepAlive) {
  UniqueFd fd = sockets::tcpSocket(AF_INET);
  ASSERT_TRUE(fd);
  int v = -1;
  socklen_t len = sizeof v;
  sockets::setNoDelay(fd.get(), true);
  ASSERT_EQ(::getsockopt(fd.get(), IPPROTO_TCP, TCP_NODELAY, &v, &len), 0);
  EXPECT_NE(v, 0);
  sockets::setNoDelay(fd.get(), false);
  ASSERT_EQ(::getsockopt(fd.get(), IPPROTO_TCP, TCP_NODELAY, &v, &len), 0);
  EXPECT_EQ(v, 0);
  sockets::setKeepAlive(fd.get(), true);
  ASSERT_EQ(::getsockopt(fd.get(), SOL_SOCKET, SO_KEEPALIVE, &v, &len), 0);
  EXPECT_NE(v, 0);
  sockets::setKeepAlive(fd.get(), false);
  ASSERT_EQ(::getsockopt(fd.get(), SOL_SOCKET, SO_KEEPALIVE, &v, &len), 0);
  EXPECT_EQ(v, 0);
}

TEST(SocketOps, SocketErrorReportsRefusedConnect) {
  // Connect a non-blocking socket to a port nobody listens on (take a port,
  // then close its listener): SO_ERROR reports ECONNREFUSED once it completes.
  InetAddress addr;
  {
    std::string error;
    UniqueFd l = sockets::listenTcp(InetAddress(0, true), false, &error);
    ASSERT_TRUE(l) << error;
    addr = sockets::localAddress(l.get());
  }
  UniqueFd fd = sockets::tcpSocket(AF_INET);
  ASSERT_TRUE(fd);
  const int rc = ::connect(fd.get(), addr.sockaddrPtr(), addr.length());
  if (rc == -1 && errno == ECONNREFUSED)
    GTEST_SKIP() << "refused synchronously; nothing left for SO_ERROR";
  ASSERT_TRUE(rc == -1 && errno == EINPROGRESS) << std::strerror(errno);
  pollfd pfd{fd.get(), POLLOUT, 0};
  ASSERT_EQ(::poll(&pfd, 1, 10000), 1);
  EXPECT_EQ(sockets::socketError(fd.get()), ECONNREFUSED);
  EXPECT_EQ(sockets::socketError(fd.get()), 0) << "SO_ERROR is cleared by reading it";
}

TEST(SocketOps, IsPeerError) {
  for (int e : {ECONNRESET, EPIPE, ETIMEDOUT, ECONNABORTED, EHOSTUNREACH, ENETUNREACH}) {
    EXPECT_TRUE(sockets::isPeerError(e)) << e;
  }
  for (int e : {0, EAGAIN, EINTR, EBADF, EINVAL, EMFILE, ENOBUFS}) {
    EXPECT_FALSE(sockets::isPeerError(e)) << e;
  }
}

}  // namespace
}  // namespace duet
