// Small helpers shared by the unit tests: owned pipes and socketpairs, byte
// patterns that make a misplaced or duplicated byte visible, and a way to
// capture what the logger writes to stderr.
#pragma once

#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstring>
#include <string>
#include <string_view>
#include <utility>

#include <gtest/gtest.h>

#include "core/socket_ops.h"

namespace duet::testing {

struct FdPair {
  UniqueFd a;  // pipe: read end; socketpair: one end
  UniqueFd b;  // pipe: write end; socketpair: the other end
};

// A pipe whose capacity is raised (to 1 MiB if allowed) so that a test can
// write a large payload up front without a concurrent reader.
inline FdPair makePipe(std::size_t wantCapacity = 1 << 20) {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) ADD_FAILURE() << "pipe2: " << std::strerror(errno);
  FdPair p{UniqueFd(fds[0]), UniqueFd(fds[1])};
  ::fcntl(p.b.get(), F_SETPIPE_SZ, static_cast<int>(wantCapacity));
  return p;
}

inline std::size_t pipeCapacity(int fd) {
  const int n = ::fcntl(fd, F_GETPIPE_SZ);
  return n > 0 ? static_cast<std::size_t>(n) : 0;
}

inline FdPair makeSocketPair(bool nonBlocking = false) {
  int fds[2];
  const int type = SOCK_STREAM | SOCK_CLOEXEC | (nonBlocking ? SOCK_NONBLOCK : 0);
  if (::socketpair(AF_UNIX, type, 0, fds) != 0)
    ADD_FAILURE() << "socketpair: " << std::strerror(errno);
  return FdPair{UniqueFd(fds[0]), UniqueFd(fds[1])};
}

// Writes all of `data` (blocking fd); false on error.
inline bool writeAll(int fd, std::string_view data) {
  while (!data.empty()) {
    const ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    data.remove_prefix(static_cast<std::size_t>(n));
  }
  return true;
}

// A payload in which every position has a distinct-looking byte, so a lost,
// duplicated or reordered chunk shows up as a mismatch (a period of 251, a
// prime, never lines up with power-of-two chunk sizes).
inline std::string pattern(std::size_t len, std::size_t seed = 0) {
  std::string s(len, '\0');
  for (std::size_t i = 0; i < len; ++i) s[i] = static_cast<char>((i + seed) % 251);
  return s;
}

// Index of the first differing byte, or npos: keeps a failure message short
// instead of printing two 100 KiB strings.
inline std::size_t firstMismatch(std::string_view a, std::string_view b) {
  const std::size_t n = std::min(a.size(), b.size());
  for (std::size_t i = 0; i < n; ++i) {
    if (a[i] != b[i]) return i;
  }
  return a.size() == b.size() ? std::string_view::npos : n;
}

// Redirects fd 2 into a pipe for its lifetime; text() returns what was written.
// Only for small outputs (must fit in the pipe).
class StderrCapture {
 public:
  StderrCapture() {
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0) ADD_FAILURE() << "pipe2: " << std::strerror(errno);
    read_.reset(fds[0]);
    UniqueFd write(fds[1]);
    ::fcntl(read_.get(), F_SETFL, O_NONBLOCK);
    saved_.reset(::dup(STDERR_FILENO));
    ::dup2(write.get(), STDERR_FILENO);
  }
  ~StderrCapture() { restore(); }
  StderrCapture(const StderrCapture&) = delete;
  StderrCapture& operator=(const StderrCapture&) = delete;

  // Stops capturing and returns everything captured so far.
  std::string text() {
    restore();
    std::string out;
    char buf[4096];
    ssize_t n;
    while ((n = ::read(read_.get(), buf, sizeof buf)) > 0)
      out.append(buf, static_cast<std::size_t>(n));
    return out;
  }

 private:
  void restore() {
    if (saved_) {
      ::dup2(saved_.get(), STDERR_FILENO);
      saved_.reset();
    }
  }
  UniqueFd read_;
  UniqueFd saved_;
};

}  // namespace duet::testing
