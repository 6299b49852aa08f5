#include "fake_http_server.h"

#include <netinet/in.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cstring>
#include <map>
#include <vector>

namespace duet::test {
namespace {

bool mentionsConnectionClose(std::string request) {
  std::transform(request.begin(), request.end(), request.begin(),
                 [](unsigned char c) { return std::tolower(c); });
  return request.find("\r\nconnection: close\r\n") != std::string::npos;
}

struct Peer {
  std::string in;         // bytes not yet parsed into requests
  std::string out;        // answers not yet written
  uint64_t pending = 0;   // complete requests not answered yet
  bool released = false;  // kHoldUntilPipelined: `depth` requests have been seen
  bool closeAfterOut = false;
};

}  // namespace

const std::string& FakeHttpServer::response(Mode mode) {
  static const std::string closeDelimited =
      "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil the close";
  static const std::string framed = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello";
  return mode == Mode::kCloseDelimited ? closeDelimited : framed;
}

std::string FakeHttpServer::responseTo(const std::string& path) {
  return "HTTP/1.1 200 OK\r\nContent-Length: " + std::to_string(path.size()) + "\r\n\r\n" + path;
}

uint64_t FakeHttpServer::requestsFor(const std::string& path) const {
  std::lock_guard lock(pathsMutex_);
  const auto it = requestsByPath_.find(path);
  return it == requestsByPath_.end() ? 0 : it->second;
}

FakeHttpServer::FakeHttpServer(Mode mode, int depth) : mode_(mode), depth_(depth) {
  listenFd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  if (::bind(listenFd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      ::listen(listenFd_, 1024) != 0 ||
      ::getsockname(listenFd_, reinterpret_cast<sockaddr*>(&addr), &len) != 0)
    return;  // port_ stays 0: the test asserts on it
  port_ = ntohs(addr.sin_port);
  wakeFd_ = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  thread_ = std::thread([this] { serve(); });
}

FakeHttpServer::~FakeHttpServer() {
  if (thread_.joinable()) {
    const uint64_t one = 1;
    [[maybe_unused]] const ssize_t w = ::write(wakeFd_, &one, sizeof one);
    thread_.join();
  }
  if (wakeFd_ >= 0) ::close(wakeFd_);
  if (listenFd_ >= 0) ::close(listenFd_);
}

void FakeHttpServer::serve() {
  std::map<int, Peer> peers;
  char buf[16384];
  for (;;) {
    std::vector<pollfd> fds = {{wakeFd_, POLLIN, 0}, {listenFd_, POLLIN, 0}};
    for (auto& [fd, p] : peers)
      fds.push_back({fd, static_cast<short>(POLLIN | (p.out.empty() ? 0 : POLLOUT)), 0});
    if (::poll(fds.data(), fds.size(), -1) < 0) continue;
    if (fds[0].revents) break;
    if (fds[1].revents & POLLIN) {
      int fd;
      while ((fd = ::accept4(listenFd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0) {
        peers[fd];
        ++connections_;
      }
    }
    std::vector<int> gone;
    for (size_t i = 2; i < fds.size(); ++i) {
      const int fd = fds[i].fd;
      Peer& p = peers[fd];
      if (fds[i].revents & (POLLIN | POLLHUP | POLLERR)) {
        const ssize_t n = ::read(fd, buf, sizeof buf);
        if (n <= 0) {
          gone.push_back(fd);
          continue;
        }
        p.in.append(buf, static_cast<size_t>(n));
        size_t end;
        while ((end = p.in.find("\r\n\r\n")) != std::string::npos) {  // GETs only: no bodies
          const std::string request = p.in.substr(0, end + 4);
          p.in.erase(0, end + 4);
          ++requests_;
          if (!mentionsConnectionClose(request)) ++withoutClose_;
          if (mode_ == Mode::kBodyIsThePath) {  // "GET /path HTTP/1.1": answered at once, in order
            const size_t from = request.find(' ') + 1;
            const std::string path = request.substr(from, request.find(' ', from) - from);
            {
              std::lock_guard lock(pathsMutex_);
              ++requestsByPath_[path];
            }
            if (path != "/stuck") p.out += responseTo(path);
            continue;
          }
          ++p.pending;
        }
        if (mode_ == Mode::kHoldUntilPipelined && p.pending >= static_cast<uint64_t>(depth_))
          p.released = true;
        const bool answer = mode_ == Mode::kCloseDelimited || p.released;
        if (answer && p.pending > 0) {
          for (; p.pending > 0; --p.pending) p.out += response(mode_);
          if (mode_ == Mode::kCloseDelimited) p.closeAfterOut = true;  // the close ends the body
        }
      }
      if (!p.out.empty()) {
        const ssize_t w = ::write(fd, p.out.data(), p.out.size());
        if (w > 0) p.out.erase(0, static_cast<size_t>(w));
        if (w < 0 && errno != EAGAIN) gone.push_back(fd);
      }
      if (p.out.empty() && p.closeAfterOut) gone.push_back(fd);
    }
    for (int fd : gone) {
      if (peers.erase(fd)) ::close(fd);
    }
  }
  for (auto& [fd, p] : peers) ::close(fd);
}

}  // namespace duet::test
