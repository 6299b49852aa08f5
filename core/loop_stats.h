// What one event loop costs: the counters the compare runner turns into
// "system calls per request" and "requests per wake-up".
//
// Each loop has one LoopStats, written only by its own thread, except
// sys_wakeup (see count()). Other threads (an HTTP /stats handler, the app at
// exit) may read it at any time, so every counter is a relaxed atomic: a
// single writer makes load+store as good as an atomic add, and on x86 a
// relaxed store is a plain mov.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <iosfwd>
#include <string>
#include <string_view>

namespace duet {

class Counter {
 public:
  void add(std::uint64_t n = 1) {
    value_.store(value_.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
  }
  // For the rare counter written from several threads (wake-up requests).
  void addShared(std::uint64_t n = 1) { value_.fetch_add(n, std::memory_order_relaxed); }
  std::uint64_t get() const { return value_.load(std::memory_order_relaxed); }
  void reset() { value_.store(0, std::memory_order_relaxed); }

 private:
  std::atomic<std::uint64_t> value_{0};
};

// System calls a loop makes, by purpose. The reactor's wait is epoll_wait/poll/select;
// the proactor's is io_uring_enter (which also submits: see LoopStats::submits).
enum class Syscall : int {
  Wait,     // epoll_wait, poll, select, io_uring_enter
  Read,     // read, readv, recv
  Write,    // write, writev, send, sendfile
  Accept,   // accept4
  Close,    // close, shutdown
  Control,  // epoll_ctl, timerfd_settime, setsockopt, io_uring_register ...
  Wakeup,   // cross-thread wake-ups (eventfd write/read, MSG_RING enter), charged to the loop woken
  kCount
};
std::string_view syscallName(Syscall s);

struct LoopStats {
  std::array<Counter, static_cast<int>(Syscall::kCount)> syscalls;

  Counter wakeups;  // returns from the wait with something to do
  Counter events;   // ready events (reactor) or completions reaped (proactor)
  Counter tasks;    // queued functors run
  Counter timersFired;

  Counter bytesIn;
  Counter bytesOut;
  Counter reads;  // onMessage calls: input deliveries (see docs/reading-the-report.md)
  // Output handed to the kernel, counted the same way on both models so they
  // can be compared: one per write/send system call on a reactor (also in
  // syscalls[Write]), one per send SQE on a proactor (submitted in batches by
  // io_uring_enter, so not a system call of its own).
  Counter sendOps;

  Counter accepted;
  Counter closed;
  Counter refused;          // over max-connections
  Counter acceptErrors;     // EMFILE/ENFILE/... on accept
  Counter acceptShed;       // connections closed unaccepted because descriptors ran out
  Counter resets;           // ECONNRESET/EPIPE from a peer
  Counter outputOverflows;  // connections closed for exceeding the output cap
  Counter idleEvictions;

  // io_uring only: the proactor counts these, a reactor leaves them at zero.
  // Grouped so a reader of a counter knows which backend it speaks of; printed
  // among the rest under their own keys (sqes=, cqes=, enters=, ...), which
  // the compare runner reads.
  struct UringCounters {
    Counter sqesSubmitted;
    Counter cqesReaped;
    Counter enterCalls;       // io_uring_enter (also counted in syscalls[Wait])
    Counter bufferRingEmpty;  // ENOBUFS: recv found no provided buffer and was re-armed
    Counter recvRearms;   // a multishot recv armed again after the connection's previous one ended
    Counter cqOverflows;  // episodes of the kernel holding completions back (CQ full)
    Counter cqesDropped;  // completions the kernel threw away (could not even hold them)
    Counter sendZeroCopy;
    Counter recvDirect;  // adaptive receive: plain recvs straight into a connection's input Buffer
    Counter sendsVectored;  // sends that carried two or more chunks of queued output (vectoredSend)
  };
  UringCounters uring;

  // sys_wakeup is charged to the loop a wake-up wakes, by whichever thread
  // sends it (docs/reading-the-report.md, "Counters"): that one counter has
  // several writers, so it always takes the shared add, or counts would be
  // lost to a load+store race. Every other counter has one writer.
  void count(Syscall s, std::uint64_t n = 1) {
    if (s == Syscall::Wakeup) {
      syscalls[static_cast<int>(s)].addShared(n);
    } else {
      syscalls[static_cast<int>(s)].add(n);
    }
  }
  std::uint64_t totalSyscalls() const;

  // "key=value" pairs on one line, stable names: the compare runner parses these.
  void print(std::ostream& out, std::string_view loopName, std::string_view mode) const;
  std::string toJson(std::string_view mode) const;
};

}  // namespace duet
