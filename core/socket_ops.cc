#include "core/socket_ops.h"

#include <netinet/tcp.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace duet {

void UniqueFd::reset(int fd) {
  if (fd_ >= 0) ::close(fd_);
  fd_ = fd;
}

namespace sockets {

UniqueFd listenTcp(const InetAddress& addr, bool reusePort, std::string* error, int backlog) {
  auto fail = [&](const char* what) {
    const int err = errno;
    if (error)
      *error = "cannot listen on " + addr.toIpPort() + ": " + what + ": " + std::strerror(err);
    return UniqueFd();
  };
  UniqueFd fd(::socket(addr.family(), SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_TCP));
  if (!fd) return fail("socket");
  const int on = 1;
  // SO_REUSEADDR lets a restarted server bind while old connections sit in TIME_WAIT.
  if (::setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &on, sizeof on) < 0)
    return fail("SO_REUSEADDR");
  if (reusePort && ::setsockopt(fd.get(), SOL_SOCKET, SO_REUSEPORT, &on, sizeof on) < 0) {
    return fail("SO_REUSEPORT");
  }
  if (::bind(fd.get(), addr.sockaddrPtr(), addr.length()) < 0) return fail("bind");
  if (::listen(fd.get(), backlog) < 0) return fail("listen");
  return fd;
}

UniqueFd tcpSocket(sa_family_t family) {
  return UniqueFd(::socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_TCP));
}

InetAddress localAddress(int fd) {
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  if (::getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len) == 0) {
    if (auto a = InetAddress::fromSockaddr(reinterpret_cast<sockaddr*>(&ss), len)) return *a;
  }
  return InetAddress();
}

InetAddress peerAddress(int fd) {
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  if (::getpeername(fd, reinterpret_cast<sockaddr*>(&ss), &len) == 0) {
    if (auto a = InetAddress::fromSockaddr(reinterpret_cast<sockaddr*>(&ss), len)) return *a;
  }
  return InetAddress();
}

int socketError(int fd) {
  int err = 0;
  socklen_t len = sizeof err;
  if (::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0) return errno;
  return err;
}

void setNoDelay(int fd, bool on) {
  const int v = on ? 1 : 0;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &v, sizeof v);
}

void setKeepAlive(int fd, bool on) {
  const int v = on ? 1 : 0;
  ::setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &v, sizeof v);
}

bool shutdownWrite(int fd) { return ::shutdown(fd, SHUT_WR) == 0; }

bool isPeerError(int err) {
  return err == ECONNRESET || err == EPIPE || err == ETIMEDOUT || err == ECONNABORTED ||
         err == EHOSTUNREACH || err == ENETUNREACH;
}

}  // namespace sockets
}  // namespace duet
