// A tiny HTTP/1.1 server on 127.0.0.1 for duet-load's tests: one thread,
// poll(), canned answers. It shapes traffic in ways duet-http never does, so
// the tests can pin down what duet-load sends and how it counts:
// - kCloseDelimited: answers each request with a body that has no
//   Content-Length and closes the connection to end it (and notes whether the
//   request said "Connection: close").
// - kHoldUntilPipelined: answers nothing on a connection until `depth`
//   requests have arrived on it, then answers every request at once; a client
//   that pipelines fewer than `depth` waits forever.
#pragma once

#include <atomic>
#include <cstdint>
#include <string>
#include <thread>

namespace duet::test {

class FakeHttpServer {
 public:
  enum class Mode { kCloseDelimited, kHoldUntilPipelined };

  // The full response every request gets.
  static const std::string& response(Mode mode);

  FakeHttpServer(Mode mode, int depth = 1);
  ~FakeHttpServer();   // stops the thread, closes everything
  FakeHttpServer(const FakeHttpServer&) = delete;
  FakeHttpServer& operator=(const FakeHttpServer&) = delete;

  int port() const { return port_; }
  uint64_t requests() const { return requests_.load(); }
  uint64_t requestsWithoutConnectionClose() const { return withoutClose_.load(); }
  uint64_t connections() const { return connections_.load(); }

 private:
  void serve();

  Mode mode_;
  int depth_;
  int listenFd_ = -1;
  int wakeFd_ = -1;   // eventfd: the destructor's "stop"
  int port_ = 0;
  std::atomic<uint64_t> requests_{0};
  std::atomic<uint64_t> withoutClose_{0};
  std::atomic<uint64_t> connections_{0};
  std::thread thread_;
};

}  // namespace duet::test
