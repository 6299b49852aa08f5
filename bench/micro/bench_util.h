// Helpers shared by the micro-benchmarks.
#pragma once

#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstring>
#include <string>

#include <benchmark/benchmark.h>

#include "core/socket_ops.h"

namespace duet::bench {

// A connected AF_UNIX stream pair; `ok` is false (and the benchmark should
// SkipWithError) if it could not be made.
struct SocketPair {
  UniqueFd reader;
  UniqueFd writer;
  bool ok = false;

  SocketPair() {
    int fds[2];
    if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) == 0) {
      reader.reset(fds[0]);
      writer.reset(fds[1]);
      ok = true;
    }
  }
};

// Writes all of [data, data+len) to a blocking fd; false on error.
inline bool writeAll(int fd, const char* data, std::size_t len) {
  while (len > 0) {
    const ssize_t n = ::write(fd, data, len);
    if (n < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    data += n;
    len -= static_cast<std::size_t>(n);
  }
  return true;
}

}  // namespace duet::bench
