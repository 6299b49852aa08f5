#include "core/termination_signals.h"

#include <pthread.h>
#include <signal.h>

namespace duet {

namespace {
sigset_t terminationSet() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  return set;
}
}  // namespace

void TerminationSignals::blockInThisProcess() {
  const sigset_t set = terminationSet();
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  ::signal(SIGPIPE, SIG_IGN);
}

TerminationSignals::TerminationSignals(EventLoop& loop, std::function<void(int)> onSignal) {
  blockInThisProcess();  // harmless if main() already did it
  watcher_ = std::thread([this, &loop, onSignal = std::move(onSignal)] {
    const sigset_t set = terminationSet();
    for (;;) {
      int signo = 0;
      if (sigwait(&set, &signo) != 0) continue;
      if (stopping_.load(std::memory_order_acquire)) return;
      loop.queueInLoop([onSignal, signo] { onSignal(signo); });
    }
  });
}

TerminationSignals::~TerminationSignals() {
  // Wake the watcher with a signal aimed at its thread alone; it sees the flag and exits.
  stopping_.store(true, std::memory_order_release);
  pthread_kill(watcher_.native_handle(), SIGTERM);
  watcher_.join();
}

}  // namespace duet
