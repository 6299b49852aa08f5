// Reading an HTTP server's answers off a raw client socket, for the
// end-to-end tests (http_server_test, sendfile_test). Every wait is bounded:
// a server that stops answering fails the test instead of hanging it.
#pragma once

#include <poll.h>
#include <sys/socket.h>

#include <chrono>
#include <cstddef>
#include <functional>
#include <string>
#include <vector>

#include "http_test_util.h"
#include "tests/support/raw_client.h"

namespace duet::http::test {

// Reads from `client` until `count` final (not 1xx) responses are parsed, the
// peer closes, or `limit` passes, and returns every response parsed. With
// `closed`, it reads on past `count` until the close (or `limit`), and
// *closed tells whether the server closed. `noBody` is parseResponses'.
inline std::vector<ParsedResponse> readResponses(
    duet::test::RawClient& client, std::size_t count, bool* closed = nullptr,
    const std::vector<bool>& noBody = {},
    std::chrono::milliseconds limit = std::chrono::seconds(10)) {
  std::string wire;
  std::vector<ParsedResponse> parsed;
  const auto deadline = std::chrono::steady_clock::now() + limit;
  bool eof = false;
  auto finals = [&] {
    std::size_t n = 0;
    for (const auto& r : parsed) n += r.status >= 200;
    return n;
  };
  while (finals() < count || closed) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) break;
    pollfd p{client.fd(), POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) break;
    char buf[65536];
    const ssize_t n = ::recv(client.fd(), buf, sizeof buf, 0);
    if (n <= 0) {
      eof = true;
      break;
    }
    wire.append(buf, static_cast<std::size_t>(n));
    parsed = parseResponses(wire, noBody);
  }
  if (closed) *closed = eof;
  return parseResponses(wire, noBody);
}

// For answers too many to hold at once (a client that read nothing for a
// while): reads responses as they arrive and hands each to `onResponse` with
// its index, in order, until `count` have come, the peer closes or `limit`
// passes. Returns how many came.
inline std::size_t forEachResponse(
    duet::test::RawClient& client, std::size_t count, std::chrono::milliseconds limit,
    const std::function<void(const ParsedResponse&, std::size_t index)>& onResponse) {
  std::string wire;
  std::size_t done = 0;
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (done < count && std::chrono::steady_clock::now() < deadline) {
    pollfd p{client.fd(), POLLIN, 0};
    if (::poll(&p, 1, 1000) <= 0) continue;
    char buf[65536];
    const ssize_t n = ::recv(client.fd(), buf, sizeof buf, 0);
    if (n <= 0) break;
    wire.append(buf, static_cast<std::size_t>(n));
    std::string rest;
    for (const auto& r : parseResponses(wire, {}, &rest)) onResponse(r, done++);
    wire = std::move(rest);
  }
  return done;
}

}  // namespace duet::http::test
