// Replays raw bytes through an HttpConnection in different splits and
// compares what comes out. Shared by the libFuzzer target (http_fuzz.cc) and
// the gtest that runs every committed reproducer and corpus file on every
// build (tests/http/split_independence_test.cc), so both apply the same rule:
// how TCP splits a request, and how fast the client reads, must not change a
// single byte of the answer (Date values and interim 100 responses aside).
//
// An input's first byte picks the configuration (bit 0: tiny limits; bit 1:
// files over 16 bytes are streamed) and seeds the splits; the rest is raw HTTP.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "apps/http/http_connection.h"
#include "apps/http/http_limits.h"
#include "apps/http/router.h"

namespace duet::http::replay {

// The harness's way to report a broken rule: abort() in the fuzzer, a gtest
// failure in the unit test.
using FailFn = std::function<void(const std::string&)>;

struct Splitter {  // xorshift: deterministic from a seed byte
  std::uint32_t s;
  explicit Splitter(std::uint32_t seed) : s(0x9e3779b9u ^ (seed * 0x01000193u) ^ 1u) {}
  std::uint32_t next() {
    s ^= s << 13;
    s ^= s >> 17;
    s ^= s << 5;
    return s;
  }
};

class ReplayTransport final : public Transport {
 public:
  explicit ReplayTransport(const FailFn& fail) : fail_(fail) {}
  Buffer in;
  std::string out;
  std::size_t pending = 0;
  bool holdOutput = false;
  bool shutdownCalled = false;
  bool forceClosed = false;
  bool reading = true;
  std::vector<std::function<void()>> deferred;
  TimePoint clock = TimePoint{} + std::chrono::hours(1);
  // When the peer last read what was pending (or the connection opened):
  // how long it has been silent is what a send timeout may act on.
  TimePoint lastReadByPeer = clock;

  Buffer& input() override { return in; }
  void send(std::string&& bytes) override {
    if (shutdownCalled) fail_("send() after shutdown()");
    if (forceClosed) fail_("send() after forceClose()");
    out += bytes;
    if (holdOutput) pending += bytes.size();
  }
  std::size_t pendingOutputBytes() const override { return pending; }
  void shutdown() override { shutdownCalled = true; }
  void forceClose() override { forceClosed = true; }
  void stopReading() override { reading = false; }
  void startReading() override { reading = true; }
  void defer(std::function<void()> task) override { deferred.push_back(std::move(task)); }
  TimePoint now() const override { return clock; }
  std::string_view date() override { return "Sun, 06 Nov 1994 08:49:37 GMT"; }  // held still
  std::string peerName() const override { return "replay"; }

  bool open() const { return !forceClosed; }
  void drain(HttpConnection& http) {
    const bool had = pending > 0;
    pending = 0;
    if (had) lastReadByPeer = clock;
    if (had && open()) http.onWriteComplete();
  }
  void runDeferred() {
    auto tasks = std::move(deferred);
    deferred.clear();
    for (auto& t : tasks) {
      if (open()) t();
    }
  }
  void runUntilQuiet(HttpConnection& http) {
    for (int i = 0; i < 100000 && open() && (!deferred.empty() || pending > 0); ++i) {
      runDeferred();
      drain(http);
    }
  }

 private:
  const FailFn& fail_;
};

inline HttpLimits tinyLimits() {
  HttpLimits l;
  l.maxUrlBytes = 64;
  l.maxHeaderBytes = 256;
  l.maxHeaderCount = 4;
  l.maxBodyBytes = 64;
  l.maxPipelined = 2;
  l.outputHighWater = 128;
  l.streamChunkBytes = 16;
  l.streamHighWater = 32;
  l.streamChunksPerTurn = 2;
  return l;
}

// The two routers the configurations choose from, over the same document root.
struct Routers {
  const Router* inlineFiles;  // files inline up to 64 KiB
  const Router* streamFiles;  // files over 16 bytes are streamed
};

// What one replay sent, and whether the connection was closed in the middle
// of a response (see runOnce).
struct Replayed {
  std::string wire;
  bool cutMidResponse = false;
};

enum class Run {
  Whole,       // all bytes at once, output drained at once, no timers
  Split,       // pseudo-random pieces, output held and drained at random moments
  Timers,      // like Split, with the clock jumping and timer turns in between
  ByteByByte,  // one byte at a time, output held and drained at random moments
};

// Runs `input` once and returns every byte the connection sent. `seed`
// changes the splits (the fuzzer uses the configuration byte).
//
// In the timed replay the clock may jump past limits.sendTimeout while output
// is held (the modelled peer sends but does not read). HttpConnection then
// closes, as http_limits.h specifies: "output pending with no progress for
// this long: the peer stopped reading". If a file was streaming, that cuts
// its body short of its Content-Length, and that is the only honest signal
// left: RFC 9112 8 makes such a response incomplete for the client, which
// cannot mistake it for a whole one. So a cut is accepted (cutMidResponse),
// but only after the peer really read nothing for sendTimeout: a connection
// closed mid-response while its peer was reading is a bug, and fails here.
inline Replayed runOnce(std::string_view input, std::uint8_t config, Run mode, std::uint32_t seed,
                        const Routers& routers, const FailFn& fail) {
  HttpContext context;
  context.router = (config & 0x02) ? routers.streamFiles : routers.inlineFiles;
  context.limits = (config & 0x01) ? tinyLimits() : HttpLimits{};
  ReplayTransport t(fail);
  HttpConnection http(t, context);
  Splitter rng(seed);
  t.holdOutput = mode != Run::Whole;

  std::size_t fed = 0;
  int stalls = 0;
  while (fed < input.size() && !t.shutdownCalled && t.open()) {
    if (t.reading) {
      std::size_t piece = input.size();
      if (mode == Run::ByteByByte) piece = 1;
      if (mode == Run::Split || mode == Run::Timers) piece = 1 + rng.next() % 64;
      const std::size_t n = std::min(piece, input.size() - fed);
      t.in.append(input.substr(fed, n));
      fed += n;
      http.onInput();
      stalls = 0;
    } else if (++stalls > 1000) {
      fail("reading paused with nothing left to drain: the connection is stuck");
      break;
    }
    if (mode == Run::Whole) {
      t.runUntilQuiet(http);
      continue;
    }
    const std::uint32_t r = rng.next();
    if (r % 4 == 0 || !t.reading) t.drain(http);
    if (r % 3 == 0 || !t.reading) t.runDeferred();
    if (mode == Run::Timers && r % 5 == 0) {
      t.clock += std::chrono::milliseconds(static_cast<int>(rng.next() % 20000));
      if (t.open()) http.onTimer();
    }
    // A connection never holds more than its limits allow, whatever arrives.
    if (http.waitingRequests() > context.limits.maxPipelined)
      fail("more requests queued than maxPipelined");
    if (t.in.readableBytes() > input.size()) fail("input buffer grew beyond what was fed");
  }
  t.runUntilQuiet(http);
  if (mode == Run::Timers && t.open()) {
    for (int i = 0; i < 4 && t.open(); ++i) {
      t.clock += std::chrono::seconds(31);
      http.onTimer();
      t.runUntilQuiet(http);
    }
    if (t.open() && !t.shutdownCalled && !http.idle())
      fail("timers never closed a connection that cannot finish");
  }
  // Closed with a file body still streaming: only the send timeout does that.
  const bool cutMidResponse = !t.open() && http.streaming();
  if (cutMidResponse && t.clock - t.lastReadByPeer < context.limits.sendTimeout) {
    fail("closed in the middle of a response while the peer was still reading");
  }
  http.onClosed();
  return Replayed{std::move(t.out), cutMidResponse};
}

// The output is a sequence of well-formed HTTP/1.1 responses: a status line,
// headers, CRLF CRLF, then a body as long as its Content-Length. A HEAD answer
// carries Content-Length without a body, so where the body would not end at
// the next status line (or the end) we only require that what follows is
// again a response or the end. When the replay was cut mid-response (see
// runOnce), the last body may end short of its Content-Length.
inline void checkWellFormed(const Replayed& replayed, const FailFn& fail) {
  std::string_view wire = replayed.wire;
  while (!wire.empty()) {
    if (!wire.starts_with("HTTP/1.1 ")) {
      fail("output does not start with an HTTP/1.1 status line: " +
           std::string(wire.substr(0, 40)));
      return;
    }
    const std::size_t end = wire.find("\r\n\r\n");
    if (end == std::string_view::npos) {
      fail("response head without its blank line");
      return;
    }
    const std::string_view head = wire.substr(0, end);
    if (head.find('\0') != std::string_view::npos) fail("NUL byte in a response head");
    std::size_t bodyLen = 0;
    const std::size_t cl = head.find("\r\nContent-Length: ");
    if (cl != std::string_view::npos)
      bodyLen = std::strtoull(std::string(head.substr(cl + 18, 20)).c_str(), nullptr, 10);
    wire.remove_prefix(end + 4);
    if (replayed.cutMidResponse && bodyLen > wire.size())
      return;  // the cut body, and nothing after it
    if (bodyLen <= wire.size() &&
        (bodyLen == wire.size() || wire.substr(bodyLen).starts_with("HTTP/1.1 "))) {
      wire.remove_prefix(bodyLen);
    } else if (!wire.empty() && !wire.starts_with("HTTP/1.1 ")) {
      fail("response body does not match its Content-Length");
      return;
    }
  }
}

// Where each response in `wire` starts, where its head ends (at the blank
// line) and where it ends, walking heads and Content-Length bodies: a body
// that does not fit before the next status line is taken as absent (a HEAD
// answer). Responses are found by structure, never by searching for text,
// because an echoed body can hold any text -- including "\r\nDate: " or
// "HTTP/1.1 " (a fuzzer found exactly that).
struct ResponseSpan {
  std::size_t start, headEnd, end;
};

inline std::vector<ResponseSpan> responses(std::string_view wire) {
  std::vector<ResponseSpan> out;
  std::size_t pos = 0;
  while (pos < wire.size()) {
    const std::size_t headEnd = wire.find("\r\n\r\n", pos);
    if (headEnd == std::string_view::npos) {
      out.push_back({pos, wire.size(), wire.size()});
      break;
    }
    const std::string_view head = wire.substr(pos, headEnd - pos);
    std::size_t bodyLen = 0;
    const std::size_t cl = head.find("\r\nContent-Length: ");
    if (cl != std::string_view::npos)
      bodyLen = std::strtoull(std::string(head.substr(cl + 18, 20)).c_str(), nullptr, 10);
    std::size_t next = headEnd + 4;
    const std::string_view rest = wire.substr(next);
    if (bodyLen <= rest.size() &&
        (bodyLen == rest.size() || rest.substr(bodyLen).starts_with("HTTP/1.1 "))) {
      next += bodyLen;
    }
    out.push_back({pos, headEnd, next});
    pos = next;
  }
  return out;
}

// Responses with their Date values blanked (in heads only) and interim
// "100 Continue" responses dropped: the Date changes with the wall clock, and
// whether a 100 is sent legitimately depends on whether earlier responses
// were still on their way. Neither is a desync.
inline std::string normalize(const std::string& s) {
  constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
  std::string out;
  out.reserve(s.size());
  for (const ResponseSpan& r : responses(s)) {
    const std::size_t bodyStart = std::min(r.headEnd + 4, r.end);
    std::string head = s.substr(r.start, bodyStart - r.start);
    if (head == kContinue) continue;
    for (std::size_t at = 0; (at = head.find("\r\nDate: ", at)) != std::string::npos;) {
      const std::size_t end = head.find("\r\n", at + 2);
      if (end == std::string::npos) break;
      head.replace(at, end - at, "\r\nDate: -");
      at += 9;
    }
    out += head;
    out.append(s, bodyStart, r.end - bodyStart);
  }
  return out;
}

}  // namespace duet::http::replay
