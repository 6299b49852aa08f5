// A plain-socket test client, deliberately independent of the engine under
// test: blocking-free sockets driven by poll(2), every wait bounded, so a
// broken server fails a test instead of hanging it.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "core/inet_address.h"

namespace duet::test {

class RawClient {
 public:
  RawClient() = default;
  explicit RawClient(const InetAddress& server) { connect(server); }
  ~RawClient();
  RawClient(RawClient&& other) noexcept;
  RawClient& operator=(RawClient&& other) noexcept;
  RawClient(const RawClient&) = delete;
  RawClient& operator=(const RawClient&) = delete;

  bool connect(const InetAddress& server, int timeoutMs = 5000);
  bool isOpen() const { return fd_ >= 0; }
  int fd() const { return fd_; }

  // Sends everything (waits for room as needed); false on error or timeout.
  bool sendAll(std::string_view data, int timeoutMs = 10000);
  // Receives exactly n bytes, or fewer on EOF/error/timeout.
  std::string recvExactly(std::size_t n, int timeoutMs = 10000);
  // Receives until the peer closes (EOF or reset) or the timeout; *sawEof says which.
  std::string recvUntilClosed(int timeoutMs = 10000, bool* sawEof = nullptr);
  // True if the peer closed (EOF or reset) within the timeout, discarding data.
  bool waitClosed(int timeoutMs = 10000);

  // Echo round trip of `payload`, writing and reading at once so a payload larger
  // than the socket buffers cannot deadlock. True if the echo matched byte for byte.
  bool echo(std::string_view payload, int timeoutMs = 30000);

  void shutdownWrite();
  // Close with SO_LINGER 0: the kernel sends RST instead of FIN.
  void reset();
  void close();

 private:
  int fd_ = -1;
};

// `size` bytes that differ by position and seed, so a reordered, lost or
// duplicated chunk shows up as a mismatch.
std::string patternBytes(std::size_t size, unsigned seed = 1);

}  // namespace duet::test
