// The load: one LoadWorker per thread, each with its own epoll instance and
// its own share of every target's connections, so threads share nothing on
// the hot path (no locks; only relaxed progress counts and the slice hand-off).
//
// A worker keeps connections to every target open, but drives only one
// target at a time: the conductor (conductor.h) publishes a slice -- target,
// measured window -- and each worker loads that target's connections, stops
// replacing messages when the window closes, and lets what is in flight come
// back before it reports the slice drained.
//
// Two variations on who holds which connection when:
// - --connect-per-slice: a target's connections are opened when its slice
//   starts and closed when it ends, so only one target's are open at a time
//   (10,000 connections to each of two servers exceed one process's files).
// - --churn: no connection outlives one request. Each connection slot loops
//   connect -> one request -> whole reply -> close -> connect at once; the
//   slot is idle between slices.
#pragma once

#include <netinet/in.h>

#include <atomic>
#include <cstdint>
#include <deque>
#include <string>
#include <utility>
#include <vector>

#include "echo_pattern.h"
#include "histogram.h"
#include "http_response.h"
#include "load_config.h"
#include "source_address.h"

namespace duetload {

// State the conductor (main thread) and the workers share. Times are
// CLOCK_MONOTONIC ns.
struct Shared {
  enum Phase : int { kConnecting = 0, kRun = 1, kStop = 2 };
  std::atomic<int> phase{kConnecting};
  std::atomic<int> connectedWorkers{0};  // workers done with their connect phase
  std::atomic<int> readyWorkers{0};      // hold mode: workers done with their round trip
  std::atomic<int> drainedWorkers{0};    // workers done with the current slice
  // --connect-per-slice: a slice is published twice. First with only its
  // target (the workers connect, add what they opened to sliceConnections
  // and count themselves in sliceConnectedWorkers), then with its window.
  std::atomic<int> sliceConnectedWorkers{0};
  std::atomic<uint64_t> sliceConnections{0};
  // The current slice: written by the conductor before it bumps sliceGen
  // (release), read by workers after they see the new value (acquire).
  std::atomic<uint64_t> sliceGen{0};
  int sliceTarget = 0;
  int64_t measureStart = 0;
  int64_t measureEnd = 0;
};

struct Counters {
  uint64_t connected = 0;
  uint64_t connectRefused = 0;  // still refused when the connect deadline passed
  uint64_t connectTimeout = 0;  // not connected by the deadline
  uint64_t connectOther = 0;
  uint64_t messages = 0;       // completed inside a measured window
  uint64_t responseBytes = 0;  // HTTP: bytes of the responses counted in `messages`
  uint64_t warmupMessages = 0;
  uint64_t mismatches = 0;      // echo differed from what was sent, or bytes nobody asked for
  uint64_t badStatus = 0;       // HTTP: a status other than 200
  uint64_t protocolErrors = 0;  // HTTP: a response duet-load could not frame
  uint64_t drainTimeouts = 0;   // connections that did not answer within the drain timeout
  uint64_t reset = 0;           // ECONNRESET / EPIPE
  uint64_t eof = 0;             // the server closed between messages
  uint64_t shortEof = 0;        // the server closed in the middle of a message
  uint64_t otherErrors = 0;
  uint64_t roundTrips = 0;  // hold mode: connections that did their round trip
  uint64_t serverClosedFirst =
      0;  // churn: cycles where the server's FIN had come before duet-load closed

  uint64_t errors() const {
    return reset + eof + shortEof + otherErrors + badStatus + protocolErrors + drainTimeouts;
  }
  uint64_t connectErrors() const { return connectRefused + connectTimeout + connectOther; }
  void add(const Counters& o);
};

// --http-mix: one path's share of a target's load. (The per-target Counters
// keep every kind of error; this counts what tells the paths apart.)
struct GroupStats {
  Histogram hist;
  uint64_t messages = 0;  // completed inside a measured window
  uint64_t responseBytes = 0;
  uint64_t badStatus = 0;
  uint64_t failures = 0;  // connections of this path that failed (reset, closed, drain timeout...)

  uint64_t errors() const { return badStatus + failures; }
  void add(const GroupStats& o);
};

int64_t nowNs();

class LoadWorker {
 public:
  // `share[t]` connections to target t; connection ids start at firstIds[t].
  LoadWorker(const Config& cfg, Shared& shared, const std::vector<int>& share,
             const std::vector<uint32_t>& firstIds, double threadRate);
  ~LoadWorker();
  LoadWorker(const LoadWorker&) = delete;
  LoadWorker& operator=(const LoadWorker&) = delete;

  void run();  // thread body: connect, run the slices (or hold), close

  const Histogram& histogram(size_t target) const { return hist_[target]; }
  const Counters& counters(size_t target) const { return counters_[target]; }
  const GroupStats& groupStats(size_t target, size_t group) const { return groups_[target][group]; }
  // Read by the main thread for --progress.
  std::atomic<uint64_t> progressMessages{0};
  std::atomic<uint64_t> progressErrors{0};

 private:
  struct Conn {
    int fd = -1;
    uint32_t id = 0;
    int target = 0;
    int group = 0;               // --http-mix: which path it requests (Config::pathGroups())
    bool up = false;             // connected
    bool out = false;            // EPOLLOUT interest currently registered
    bool bad = false;            // echo: current incoming message already failed its check
    bool connecting = false;     // churn: a non-blocking connect is in progress
    bool peerClosed = false;     // churn: the server's FIN has been seen (EPOLLRDHUP)
    uint64_t dueSeq = 0;         // messages that became due (may be sent)
    uint64_t sendSeq = 0;        // message being written
    size_t sendOff = 0;          //   and how much of it is written
    uint64_t recvSeq = 0;        // message being received
    size_t recvOff = 0;          //   echo: and how much of it came back
    HttpResponseReader http;     //   HTTP: the response being read
    std::deque<int64_t> stamps;  // due time of each message in [recvSeq, dueSeq)
  };

  // Connects conns_[i] for every i in `which`, retrying refusals until the
  // connect timeout; returns how many are up.
  uint64_t connectSet(const std::vector<size_t>& which);
  int openSocket();  // a non-blocking TCP socket, bound to the next source address
  // --connect-per-slice: open a target's connections and do one round trip
  // on each; returns how many are up. closeTarget() closes them again.
  uint64_t connectAndGreet(int target);
  void closeTarget(int target);
  void freshStream(Conn& c);  // a new connection: no bytes of it seen or sent yet
  // Churn: one cycle per connection.
  void startCycle(Conn& c, int64_t now);
  void onConnectDone(Conn& c, int64_t now);
  void connectFailed(Conn& c, int err, int64_t now);
  void endCycle(Conn& c, int64_t now);
  void retryLater(Conn& c, int64_t now);
  bool windowOpenFor(const Conn& c, int64_t now) const {
    return c.target == active_ && now < measureEnd_;
  }
  void runSlices();
  void runSlice(int target, int64_t measureStart, int64_t measureEnd);
  void runHold();
  // Handles events until `until` (ns) or until done() is true.
  template <class Done>
  void pump(int64_t until, Done done);
  void onReadable(Conn& c);
  void readEcho(Conn& c, const char* p, size_t len, int64_t now);
  void readHttp(Conn& c, const char* p, size_t len, int64_t now);
  void complete(Conn& c, int64_t now, bool ok, size_t bytes);
  void trySend(Conn& c);
  size_t requestSize(const Conn& c) const {
    return cfg_.http() ? requests_[static_cast<size_t>(c.group)].size() : cfg_.size;
  }
  // The due requests of c from (sendSeq, sendOff) on, up to `limit` and sendCap_ bytes, as iovecs
  // in iov_ (pointing into pattern_, keys_ and requests_: nothing is copied); returns their bytes.
  size_t gatherRequests(const Conn& c, uint64_t limit);
  void fail(Conn& c, int err, bool eof);
  void closeAll();
  void setOut(Conn& c, bool on);
  void makeDue(Conn& c, int64_t stamp);

  const Config& cfg_;
  Shared& shared_;
  int ep_ = -1;
  bool ready_ = false;  // epoll and the address are fine: the worker can load
  std::vector<Conn> conns_;
  std::vector<std::vector<size_t>> byTarget_;  // indices into conns_, per target
  std::vector<Histogram> hist_;                // per target
  std::vector<Counters> counters_;  // per target; connect counts are kept in [target] too
  std::vector<std::vector<GroupStats>> groups_;  // per target, per path group (HTTP)
  std::vector<sockaddr_in> addrs_;  // per target; empty if --host is not an IPv4 address
  SourceAddresses sources_;
  uint32_t inEvents_;  // the read interest: EPOLLIN (+ EPOLLRDHUP when churning)
  std::deque<std::pair<int64_t, size_t>>
      retries_;  // churn: (when, slot) to reconnect after a failure
  int alive_ = 0;
  uint64_t inFlight_ = 0;  // due but unanswered messages, all connections
  double threadRate_;
  std::vector<std::string> requests_;  // HTTP: the request each path group's messages send
  // The slice being run.
  int active_ = -1;
  int64_t measureStart_ = 0;
  int64_t measureEnd_ = 0;
  bool scheduling_ = false;  // open loop: still making messages due
  int64_t nextDue_ = 0;
  size_t rr_ = 0;
  std::vector<char> recvBuf_;
  size_t sendCap_ = 0;          // the most bytes one write() hands the kernel
  EchoPattern pattern_{0};      // echo: what every message holds, laid out once
  std::vector<iovec> iov_;      // one write()'s requests
  std::vector<uint64_t> keys_;  // echo: the message keys iov_ points at (fixed size: never moves)
};

}  // namespace duetload
