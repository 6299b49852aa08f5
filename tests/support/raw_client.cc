#include "tests/support/raw_client.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <utility>

namespace duet::test {

namespace {
using Clock = std::chrono::steady_clock;

int remainingMs(Clock::time_point deadline) {
  const auto left =
      std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
  return left > 0 ? static_cast<int>(left) : 0;
}

bool waitFor(int fd, short events, Clock::time_point deadline) {
  pollfd p{fd, events, 0};
  for (;;) {
    const int n = ::poll(&p, 1, remainingMs(deadline));
    if (n > 0) return true;
    if (n == 0) return false;
    if (errno != EINTR) return false;
  }
}
}  // namespace

RawClient::~RawClient() { close(); }

RawClient::RawClient(RawClient&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}

RawClient& RawClient::operator=(RawClient&& other) noexcept {
  if (this != &other) {
    close();
    fd_ = std::exchange(other.fd_, -1);
  }
  return *this;
}

bool RawClient::connect(const InetAddress& server, int timeoutMs) {
  close();
  fd_ = ::socket(server.family(), SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd_ < 0) return false;
  const auto deadline = Clock::now() + std::chrono::milliseconds(timeoutMs);
  if (::connect(fd_, server.sockaddrPtr(), server.length()) == 0) return true;
  if (errno != EINPROGRESS || !waitFor(fd_, POLLOUT, deadline)) {
    close();
    return false;
  }
  int err = 0;
  socklen_t len = sizeof err;
  ::getsockopt(fd_, SOL_SOCKET, SO_ERROR, &err, &len);
  if (err != 0) {
    close();
    return false;
  }
  return true;
}

bool RawClient::sendAll(std::string_view data, int timeoutMs) {
  const auto deadline = Clock::now() + std::chrono::milliseconds(timeoutMs);
  std::size_t sent = 0;
  while (sent < data.size()) {
    const ssize_t n = ::send(fd_, data.data() + sent, data.size() - sent, MSG_NOSIGNAL);
    if (n > 0) {
      sent += static_cast<std::size_t>(n);
    } else if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
      if (!waitFor(fd_, POLLOUT, deadline)) return false;
    } else {
      return false;
    }
  }
  return true;
}

std::string RawClient::recvExactly(std::size_t n, int timeoutMs) {
  const auto deadline = Clock::now() + std::chrono::milliseconds(timeoutMs);
  std::string out;
  out.reserve(n);
  char buf[65536];
  while (out.size() < n) {
    const std::size_t want = std::min(sizeof buf, n - out.size());
    const ssize_t r = ::recv(fd_, buf, want, 0);
    if (r > 0) {
      out.append(buf, static_cast<std::size_t>(r));
    } else if (r < 0 && (errno == EAGAIN || errno == EINTR)) {
      if (!waitFor(fd_, POLLIN, deadline)) break;
    } else {
      break;  // EOF or error
    }
  }
  return out;
}

std::string RawClient::recvUntilClosed(int timeoutMs, bool* sawEof) {
  const auto deadline = Clock::now() + std::chrono::milliseconds(timeoutMs);
  std::string out;
  char buf[65536];
  if (sawEof) *sawEof = false;
  for (;;) {
    const ssize_t r = ::recv(fd_, buf, sizeof buf, 0);
    if (r > 0) {
      out.append(buf, static_cast<std::size_t>(r));
    } else if (r == 0) {
      if (sawEof) *sawEof = true;
      return out;
    } else if (errno == EAGAIN || errno == EINTR) {
      if (!waitFor(fd_, POLLIN, deadline)) return out;
    } else {
      if (sawEof) *sawEof = true;  // reset: closed as well
      return out;
    }
  }
}

bool RawClient::waitClosed(int timeoutMs) {
  bool closed = false;
  recvUntilClosed(timeoutMs, &closed);
  return closed;
}

bool RawClient::echo(std::string_view payload, int timeoutMs) {
  const auto deadline = Clock::now() + std::chrono::milliseconds(timeoutMs);
  std::size_t sent = 0;
  std::size_t received = 0;
  char buf[65536];
  while (received < payload.size()) {
    pollfd p{fd_, static_cast<short>(POLLIN | (sent < payload.size() ? POLLOUT : 0)), 0};
    const int n = ::poll(&p, 1, remainingMs(deadline));
    if (n <= 0) {
      if (n < 0 && errno == EINTR) continue;
      return false;
    }
    if ((p.revents & POLLOUT) && sent < payload.size()) {
      const ssize_t w = ::send(fd_, payload.data() + sent, payload.size() - sent, MSG_NOSIGNAL);
      if (w > 0) sent += static_cast<std::size_t>(w);
      else if (errno != EAGAIN && errno != EINTR) return false;
    }
    if (p.revents & (POLLIN | POLLHUP | POLLERR)) {
      const ssize_t r = ::recv(fd_, buf, sizeof buf, 0);
      if (r > 0) {
        const auto got = static_cast<std::size_t>(r);
        if (received + got > payload.size() ||
            payload.compare(received, got, std::string_view(buf, got)) != 0) {
          return false;
        }
        received += got;
      } else if (r == 0 || (errno != EAGAIN && errno != EINTR)) {
        return false;
      }
    }
  }
  return true;
}

void RawClient::shutdownWrite() {
  if (fd_ >= 0) ::shutdown(fd_, SHUT_WR);
}

void RawClient::reset() {
  if (fd_ < 0) return;
  linger l{1, 0};
  ::setsockopt(fd_, SOL_SOCKET, SO_LINGER, &l, sizeof l);
  close();
}

void RawClient::close() {
  if (fd_ >= 0) ::close(std::exchange(fd_, -1));
}

std::string patternBytes(std::size_t size, unsigned seed) {
  std::string out(size, '\0');
  std::uint32_t x = seed * 2654435761u + 1;
  for (std::size_t i = 0; i < size; ++i) {
    x = x * 1664525u + 1013904223u;  // an LCG: cheap, and no two chunks alike
    out[i] = static_cast<char>(x >> 24);
  }
  return out;
}

}  // namespace duet::test
