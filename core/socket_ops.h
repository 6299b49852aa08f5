// Thin, backend-neutral wrappers over the socket system calls both models share
// (creating and binding a listener, reading addresses, options). The I/O itself
// (read/write vs. io_uring submissions) belongs to the backends.
#pragma once

#include <string>
#include <utility>

#include "core/inet_address.h"

namespace duet {

// Owns one file descriptor; closes it on destruction.
class UniqueFd {
 public:
  UniqueFd() = default;
  explicit UniqueFd(int fd) : fd_(fd) {}
  UniqueFd(UniqueFd&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
  UniqueFd& operator=(UniqueFd&& other) noexcept {
    if (this != &other) reset(std::exchange(other.fd_, -1));
    return *this;
  }
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;
  ~UniqueFd() { reset(); }

  int get() const { return fd_; }
  explicit operator bool() const { return fd_ >= 0; }
  int release() { return std::exchange(fd_, -1); }
  void reset(int fd = -1);

 private:
  int fd_ = -1;
};

namespace sockets {

// A non-blocking, close-on-exec TCP listener bound to `addr`. On failure returns
// an empty UniqueFd and sets *error to one line such as
// "cannot listen on 127.0.0.1:8080: Address already in use".
UniqueFd listenTcp(const InetAddress& addr, bool reusePort, std::string* error, int backlog = 4096);

// A non-blocking, close-on-exec TCP socket for connect().
UniqueFd tcpSocket(sa_family_t family);

InetAddress localAddress(int fd);
InetAddress peerAddress(int fd);
int socketError(int fd);  // SO_ERROR
void setNoDelay(int fd, bool on);
void setKeepAlive(int fd, bool on);
bool shutdownWrite(int fd);

// True for the errors a peer causes (reset, broken pipe, timeouts): logged
// briefly and counted, never treated as a bug of ours.
bool isPeerError(int err);

}  // namespace sockets
}  // namespace duet
