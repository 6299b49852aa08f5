// SIGINT/SIGTERM for servers, without async-signal-safety puzzles: the signals
// are blocked in every thread and one watcher thread takes them with sigwait()
// and hands them to a loop with queueInLoop().
#pragma once

#include <atomic>
#include <functional>
#include <thread>

#include "core/event_loop.h"

namespace duet {

class TerminationSignals {
 public:
  // Blocks SIGINT, SIGTERM (and ignores SIGPIPE: a write to a closed socket must
  // return EPIPE, not kill the process). Call first in main(), before any thread
  // starts, so every thread inherits the mask.
  static void blockInThisProcess();

  // Runs `onSignal(signo)` on `loop` for each SIGINT/SIGTERM received.
  TerminationSignals(EventLoop& loop, std::function<void(int signo)> onSignal);
  ~TerminationSignals();
  TerminationSignals(const TerminationSignals&) = delete;
  TerminationSignals& operator=(const TerminationSignals&) = delete;

 private:
  std::thread watcher_;
  std::atomic<bool> stopping_{false};  // set before the wake-up signal, read by the watcher
};

}  // namespace duet
