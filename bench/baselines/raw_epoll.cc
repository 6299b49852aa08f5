// duet-raw-epoll: the smallest honest epoll echo server, no framework.
//
// One thread, level-triggered epoll. This is the floor a reactor backend is
// measured against: every system call it makes is one the design needs.
//
//   accept:  listening socket readable -> accept4(SOCK_NONBLOCK) until EAGAIN
//   read:    socket readable -> one read() into a 256 KiB buffer shared by all
//            connections (one thread: only one read is ever in progress)
//   write:   write() it straight back; what the kernel did not take is queued
//            on the connection, and only then do we ask for EPOLLOUT
//
// Level-triggered means one read per readiness event: if more is waiting,
// the next epoll_wait reports the socket again. That keeps a busy connection
// from starving the others, at the price of no extra system calls.
//
// Usage: duet-raw-epoll [--port P] [--cpu C] [--stats]
// SIGINT/SIGTERM (via signalfd, so no race with epoll_wait) exit cleanly.

#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "server_setup.h"

namespace {

struct Stats {
  uint64_t syscalls = 0;  // every system call the loop makes, counted by hand
  uint64_t wakeups = 0;   // epoll_wait returns
  uint64_t events = 0;    // events those returns carried
  uint64_t bytesIn = 0;
  uint64_t bytesOut = 0;
  uint64_t accepted = 0;  // connections: churn is counted per connection
  uint64_t closed = 0;
} st;

// Per connection: only the bytes write() did not take. A connection that
// keeps up costs one pointer in the table and nothing else.
struct Conn {
  std::string pending;
  uint32_t interest = EPOLLIN;  // what epoll is told now; changed only when it must
};

constexpr size_t kHighWater = 4 << 20;  // stop reading a peer that does not read its echoes

int ep = -1;
std::vector<Conn*> conns;  // indexed by fd
// 256 KiB: a pipelined or large-message peer's whole backlog in one read and
// one write. Against 64 KiB, CPU per message (alternating duet-load runs,
// 3 rounds): 0.79-0.81x at 10 x 256 KiB, 0.62-0.71x at 100 x 16 KiB x 16;
// 1 MiB bought nothing more (0.93-1.02x of 256 KiB).
char readBuf[256 * 1024];
int spareFd = -1;  // kept open to survive EMFILE (muduo's trick)

void setInterest(int fd, uint32_t events, int op = EPOLL_CTL_MOD) {
  epoll_event ev{};
  ev.events = events;
  ev.data.fd = fd;
  ++st.syscalls;
  epoll_ctl(ep, op, fd, &ev);
}

void closeConn(int fd) {
  delete conns[static_cast<size_t>(fd)];
  conns[static_cast<size_t>(fd)] = nullptr;
  ++st.syscalls;
  ++st.closed;
  close(fd);  // closing removes it from the epoll set too
}

void onAccept(int lfd) {
  for (;;) {
    ++st.syscalls;
    const int fd = accept4(lfd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EMFILE || errno == ENFILE) {
        // Out of descriptors: the pending connection would keep the listener
        // readable forever (a busy loop under level triggering). Free the
        // spare descriptor, accept and drop the peer, take the spare back.
        static bool logged = false;
        if (!logged) {
          std::fprintf(stderr, "raw-epoll: accept: %s (dropping peers)\n", std::strerror(errno));
          logged = true;
        }
        close(spareFd);
        const int victim = accept(lfd, nullptr, nullptr);
        if (victim >= 0) close(victim);
        spareFd = open("/dev/null", O_RDONLY | O_CLOEXEC);
        st.syscalls += 4;
        continue;
      }
      if (errno == EINTR || errno == ECONNABORTED) continue;
      return;  // EAGAIN: backlog drained
    }
    ++st.accepted;
    int one = 1;  // echo replies are small and immediate: no Nagle delay
    ++st.syscalls;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (static_cast<size_t>(fd) >= conns.size())
      conns.resize(static_cast<size_t>(fd) * 2 + 1, nullptr);
    conns[static_cast<size_t>(fd)] = new Conn;
    setInterest(fd, EPOLLIN, EPOLL_CTL_ADD);
  }
}

// Write what is queued; drop EPOLLOUT as soon as the queue is empty so an idle
// connection never wakes the loop.
void flush(int fd, Conn& c) {
  while (!c.pending.empty()) {
    ++st.syscalls;
    const ssize_t n = write(fd, c.pending.data(), c.pending.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN) break;
      closeConn(fd);  // EPIPE / ECONNRESET: the peer is gone
      return;
    }
    st.bytesOut += static_cast<uint64_t>(n);
    c.pending.erase(0, static_cast<size_t>(n));
  }
  const uint32_t want =
      (c.pending.size() < kHighWater ? EPOLLIN : 0u) | (c.pending.empty() ? 0u : EPOLLOUT);
  if (want != c.interest) {
    setInterest(fd, want);
    c.interest = want;
  }
}

void onReadable(int fd, Conn& c) {
  ++st.syscalls;
  const ssize_t n = read(fd, readBuf, sizeof readBuf);
  if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
    closeConn(fd);  // peer closed (or reset): we have nothing left to say
    return;
  }
  if (n < 0) return;
  st.bytesIn += static_cast<uint64_t>(n);
  if (!c.pending.empty()) {  // older bytes still queued: keep the order
    c.pending.append(readBuf, static_cast<size_t>(n));
    flush(fd, c);
    return;
  }
  ++st.syscalls;
  ssize_t w = write(fd, readBuf, static_cast<size_t>(n));
  if (w < 0) {
    if (errno != EAGAIN && errno != EINTR) {
      closeConn(fd);
      return;
    }
    w = 0;
  }
  st.bytesOut += static_cast<uint64_t>(w);
  if (w < n) {  // the socket's send buffer is full: queue the rest, wait for EPOLLOUT
    c.pending.append(readBuf + w, static_cast<size_t>(n - w));
    flush(fd, c);
  }
}

}  // namespace

int main(int argc, char** argv) {
  int port = 0, cpu = -1;
  bool stats = false;
  CLI::App app{"duet-raw-epoll: single-threaded level-triggered epoll echo server"};
  app.add_option("--port", port, "TCP port on 127.0.0.1 (0 = ephemeral)")
      ->check(CLI::Range(0, 65535));
  app.add_option("--cpu", cpu, "pin to this CPU");
  app.add_flag("--stats", stats, "print the loop's counters at exit");
  CLI11_PARSE(app, argc, argv);

  if (!baseline::pinToCpu(cpu)) return 1;
  baseline::takeAllDescriptors();
  spareFd = open("/dev/null", O_RDONLY | O_CLOEXEC);

  const int lfd = baseline::listenOnLoopback(port, SOCK_NONBLOCK);
  if (lfd < 0) return 1;
  std::printf("listening on %d\n", baseline::listeningPort(lfd));
  std::fflush(stdout);

  // Signals arrive as a readable descriptor, so a signal can never slip in
  // between checking a flag and blocking in epoll_wait.
  const int sfd = baseline::stopSignalsAsDescriptor(SFD_NONBLOCK);

  ep = epoll_create1(EPOLL_CLOEXEC);
  setInterest(lfd, EPOLLIN, EPOLL_CTL_ADD);
  setInterest(sfd, EPOLLIN, EPOLL_CTL_ADD);

  std::vector<epoll_event> events(1024);
  for (bool running = true; running;) {
    ++st.syscalls;
    const int n = epoll_wait(ep, events.data(), static_cast<int>(events.size()), -1);
    if (n < 0) {
      if (errno == EINTR) continue;
      std::perror("epoll_wait");
      return 1;
    }
    ++st.wakeups;
    st.events += static_cast<uint64_t>(n);
    for (int i = 0; i < n; ++i) {
      const int fd = events[static_cast<size_t>(i)].data.fd;
      const uint32_t e = events[static_cast<size_t>(i)].events;
      if (fd == lfd) {
        onAccept(lfd);
        continue;
      }
      if (fd == sfd) {
        running = false;
        continue;
      }
      Conn* c = conns[static_cast<size_t>(fd)];
      if (!c) continue;  // closed earlier in this batch
      if (e & (EPOLLIN | EPOLLERR | EPOLLHUP)) onReadable(fd, *c);
      c = conns[static_cast<size_t>(fd)];
      if (c && (e & EPOLLOUT)) flush(fd, *c);
    }
  }

  for (size_t fd = 0; fd < conns.size(); ++fd)
    if (conns[fd]) closeConn(static_cast<int>(fd));
  if (stats) {
    std::printf(
        "stats loop=raw mode=raw-epoll syscalls=%llu wakeups=%llu events=%llu bytes_in=%llu "
        "bytes_out=%llu "
        "accepted=%llu closed=%llu\n",
        static_cast<unsigned long long>(st.syscalls), static_cast<unsigned long long>(st.wakeups),
        static_cast<unsigned long long>(st.events), static_cast<unsigned long long>(st.bytesIn),
        static_cast<unsigned long long>(st.bytesOut), static_cast<unsigned long long>(st.accepted),
        static_cast<unsigned long long>(st.closed));
    std::fflush(stdout);
  }
  return 0;
}
