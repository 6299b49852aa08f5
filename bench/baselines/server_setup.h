// The few steps every baseline server takes before its loop, the same in all
// four (raw_epoll.cc, raw_uring.cc, and thread_per_connection.cc for
// thread_echo.cc and thread_http.cc): pin to a CPU, take every descriptor the
// kernel allows, listen on 127.0.0.1, block the stop signals so that they are
// taken only on purpose (by the event loops as a descriptor). Each server's
// own way of waiting for its sockets stays in its own file, start to end.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>

#include <cstdint>
#include <cstdio>

namespace baseline {

// --cpu: pins the process, so every thread it starts later inherits the CPU.
// cpu < 0: leaves it free. False, after one line on stderr, if the kernel
// refuses (no such CPU, or not ours to use).
inline bool pinToCpu(int cpu) {
  if (cpu < 0) return true;
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  if (sched_setaffinity(0, sizeof set, &set) != 0) {
    std::perror("sched_setaffinity");
    return false;
  }
  return true;
}

// One descriptor per connection: raises the soft limit to the hard one, so a
// run with 10,000 connections is not stopped by the shell's default of 1,024.
// Returns the limit now in force (all zero if it could not be read).
inline rlimit takeAllDescriptors() {
  rlimit rl{};
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
  }
  return rl;
}

// A listening TCP socket on 127.0.0.1:port (0: the kernel picks one; see
// listeningPort). socketFlags go to socket() beside SOCK_STREAM | SOCK_CLOEXEC
// (SOCK_NONBLOCK for an event loop). SO_REUSEADDR lets a server restarted at
// once bind while the last run's connections wait out TIME_WAIT. Returns -1
// after one line on stderr if the port cannot be had.
inline int listenOnLoopback(int port, int socketFlags) {
  const int lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | socketFlags, 0);
  int one = 1;
  setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (bind(lfd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      listen(lfd, SOMAXCONN) != 0) {
    std::perror("bind/listen");
    return -1;
  }
  return lfd;
}

// The port lfd listens on: what --port 0 became, for the "listening on PORT"
// line the tests and duet-compare wait for.
inline int listeningPort(int lfd) {
  sockaddr_in addr{};
  socklen_t len = sizeof addr;
  getsockname(lfd, reinterpret_cast<sockaddr*>(&addr), &len);
  return ntohs(addr.sin_port);
}

// The stop signals, SIGINT and SIGTERM, blocked in the calling thread and
// so in every thread it starts afterwards (call it before any exists): they
// are then only ever taken on purpose, by sigwait() or a signalfd, never by
// interrupting whatever a thread was doing. Returns the set, for those.
// Also ignores SIGPIPE: a peer that vanishes with replies in flight must cost
// an EPIPE, not the process. SIGINT may arrive ignored from a
// non-interactive shell's `&`: it is set back to its default first.
inline sigset_t blockStopSignals() {
  signal(SIGPIPE, SIG_IGN);
  signal(SIGINT, SIG_DFL);
  sigset_t stopSignals;
  sigemptyset(&stopSignals);
  sigaddset(&stopSignals, SIGINT);
  sigaddset(&stopSignals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stopSignals, nullptr);
  return stopSignals;
}

// For an event loop: the stop signals as a descriptor that becomes readable
// when one arrives (signalfd). The loop waits for it beside its sockets, so a
// signal can never slip in between checking a flag and blocking in the wait.
inline int stopSignalsAsDescriptor(int signalfdFlags) {
  const sigset_t stopSignals = blockStopSignals();
  return signalfd(-1, &stopSignals, SFD_CLOEXEC | signalfdFlags);
}

}  // namespace baseline
