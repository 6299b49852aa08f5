// The echo load: one EchoWorker per thread, each with its own epoll instance
// and its own share of the connections, so threads share nothing on the hot
// path (no locks, no shared counters other than a relaxed progress count).
#pragma once

#include <atomic>
#include <cstdint>
#include <deque>
#include <string>
#include <vector>

#include "histogram.h"

namespace duetload {

struct Config {
  std::string host = "127.0.0.1";
  uint16_t port = 0;
  int connections = 1;
  size_t size = 128;
  int inflight = 1;
  double duration = 5.0;
  double warmup = 1.0;
  int threads = 1;
  double rate = 0.0;              // total requests/s; 0 = closed loop
  bool hold = false;
  double connectTimeout = 10.0;   // seconds allowed for connecting everything
};

// State the main thread and the workers share. Times are CLOCK_MONOTONIC ns.
struct Shared {
  enum Phase : int { kConnecting = 0, kGo = 1, kStop = 2 };
  std::atomic<int> phase{kConnecting};
  std::atomic<int> connectedWorkers{0};   // workers done with their connect phase
  std::atomic<int> readyWorkers{0};       // hold mode: workers done with their round trip
  int64_t measureStart = 0;               // written before phase = kGo, read after
  int64_t measureEnd = 0;
};

struct Counters {
  uint64_t connected = 0;
  uint64_t connectRefused = 0;    // still refused when the connect deadline passed
  uint64_t connectTimeout = 0;    // not connected by the deadline
  uint64_t connectOther = 0;
  uint64_t messages = 0;          // completed inside the measurement window
  uint64_t warmupMessages = 0;
  uint64_t mismatches = 0;        // messages whose echo differed from what was sent
  uint64_t reset = 0;             // ECONNRESET / EPIPE
  uint64_t eof = 0;               // the server closed between messages
  uint64_t shortEof = 0;          // the server closed in the middle of a message
  uint64_t otherErrors = 0;
  uint64_t roundTrips = 0;        // hold mode: connections that did their round trip

  uint64_t errors() const { return reset + eof + shortEof + otherErrors; }
  uint64_t connectErrors() const { return connectRefused + connectTimeout + connectOther; }
  void add(const Counters& o);
};

int64_t nowNs();

class EchoWorker {
 public:
  EchoWorker(const Config& cfg, Shared& shared, uint32_t firstConnId, int nConns, double threadRate);
  ~EchoWorker();
  EchoWorker(const EchoWorker&) = delete;
  EchoWorker& operator=(const EchoWorker&) = delete;

  void run();   // thread body: connect, wait for go, load, close

  const Histogram& histogram() const { return hist_; }
  const Counters& counters() const { return counters_; }
  // Read by the main thread once a second for --progress.
  std::atomic<uint64_t> progressMessages{0};
  std::atomic<uint64_t> progressErrors{0};

 private:
  struct Conn {
    int fd = -1;
    uint32_t id = 0;
    bool up = false;           // connected
    bool out = false;          // EPOLLOUT interest currently registered
    bool bad = false;          // current incoming message already failed its check
    uint64_t dueSeq = 0;       // messages that became due (may be sent)
    uint64_t sendSeq = 0;      // message being written
    size_t sendOff = 0;        //   and how much of it is written
    uint64_t recvSeq = 0;      // message being received
    size_t recvOff = 0;        //   and how much of it came back
    std::deque<int64_t> stamps;  // due time of each message in [recvSeq, dueSeq)
  };

  void connectAll();
  void loadLoop(int64_t until, bool untilStop);
  void onReadable(Conn& c, int64_t now);
  void trySend(Conn& c);
  void fail(Conn& c, int err, bool eof);
  void closeAll();
  void setOut(Conn& c, bool on);
  void makeDue(Conn& c, int64_t stamp);

  const Config& cfg_;
  Shared& shared_;
  int ep_ = -1;
  std::vector<Conn> conns_;
  int alive_ = 0;
  double threadRate_;
  Histogram hist_;
  Counters counters_;
  std::vector<char> sendBuf_, recvBuf_, expectBuf_;
};

}  // namespace duetload
