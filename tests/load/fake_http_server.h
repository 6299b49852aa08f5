// A tiny HTTP/1.1 server on 127.0.0.1 for duet-load's tests: one thread,
// poll(), canned answers. It shapes traffic in ways duet-http never does, so
// the tests can pin down what duet-load sends and how it counts:
// - kCloseDelimited: answers each request with a body that has no
//   Content-Length and closes the connection to end it (and notes whether the
//   request said "Connection: close").
// - kHoldUntilPipelined: answers nothing on a connection until `depth`
//   requests have arrived on it, then answers every request at once; a client
//   that pipelines fewer than `depth` waits forever.
// - kBodyIsThePath: answers each GET with its own path as the body
//   (Content-Length framed), so responses to different paths differ in size,
//   and counts requests per path; a GET of /stuck is never answered.
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <thread>

namespace duet::test {

class FakeHttpServer {
 public:
  enum class Mode { kCloseDelimited, kHoldUntilPipelined, kBodyIsThePath };

  // The full response every request gets (kBodyIsThePath: responseTo(path)).
  static const std::string& response(Mode mode);
  static std::string responseTo(const std::string& path);

  FakeHttpServer(Mode mode, int depth = 1);
  ~FakeHttpServer();  // stops the thread, closes everything
  FakeHttpServer(const FakeHttpServer&) = delete;
  FakeHttpServer& operator=(const FakeHttpServer&) = delete;

  int port() const { return port_; }
  uint64_t requests() const { return requests_.load(); }
  uint64_t requestsWithoutConnectionClose() const { return withoutClose_.load(); }
  uint64_t connections() const { return connections_.load(); }
  uint64_t requestsFor(const std::string& path) const;  // kBodyIsThePath

 private:
  void serve();

  Mode mode_;
  int depth_;
  int listenFd_ = -1;
  int wakeFd_ = -1;  // eventfd: the destructor's "stop"
  int port_ = 0;
  std::atomic<uint64_t> requests_{0};
  std::atomic<uint64_t> withoutClose_{0};
  std::atomic<uint64_t> connections_{0};
  mutable std::mutex pathsMutex_;
  std::map<std::string, uint64_t> requestsByPath_;
  std::thread thread_;
};

}  // namespace duet::test
