// duet-raw-uring: the smallest honest io_uring echo server, no framework.
//
// One thread, one ring. The floor a proactor backend is measured against:
//
//   accept:  one multishot accept; every connection arrives as a completion
//   recv:    one multishot recv per connection, picking buffers from a
//            provided buffer ring, so idle connections pin no memory
//   send:    at most one send in flight per connection (two would race for
//            the order of bytes on the wire); what arrives meanwhile is queued
//   loop:    io_uring_submit_and_wait(1): submissions and the wait for the
//            next completion share one io_uring_enter per iteration
//
// The task-run mode matters more than anything else here (docs/measuring.md):
// without COOP_TASKRUN or DEFER_TASKRUN, every completion interrupts the
// thread to run task work. DEFER_TASKRUN runs it only inside our own
// io_uring_enter, batched. We ask for it and fall back if the kernel refuses.
//
// Usage: duet-raw-uring [--port P] [--cpu C] [--stats] [--taskrun defer|coop|plain]
//                       [--buf-size B] [--buf-count N]

#include <arpa/inet.h>
#include <liburing.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sched.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/resource.h>
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

// liburing 2.3's headers predate some flags the running kernel knows.
#ifndef IORING_SETUP_SINGLE_ISSUER
#define IORING_SETUP_SINGLE_ISSUER (1U << 12)
#endif
#ifndef IORING_SETUP_DEFER_TASKRUN
#define IORING_SETUP_DEFER_TASKRUN (1U << 13)
#endif
#ifndef IORING_SETUP_COOP_TASKRUN
#define IORING_SETUP_COOP_TASKRUN (1U << 8)
#endif

namespace {

// What a completion is about: the low byte of user_data; the fd above it.
enum Op : uint64_t { kAccept = 1, kRecv, kSend, kClose, kCancel, kSignal, kAcceptRetry };
uint64_t tag(Op op, int fd) { return (static_cast<uint64_t>(fd) << 8) | op; }

struct Stats {
  uint64_t syscalls = 0, wakeups = 0, enters = 0, sqes = 0, cqes = 0, bytesIn = 0, bytesOut = 0;
} st;

struct Conn {
  int fd = -1;
  bool recvArmed = false;   // a multishot recv is live (its last CQE lacks F_MORE)
  bool sending = false;     // the one send in flight
  bool closing = false;
  bool cancelled = false;
  int sendBid = -1;         // provided buffer the send reads from, or -1: `out`
  const char* sendPtr = nullptr;
  size_t sendLen = 0;
  std::string out;          // bytes of the in-flight send when not a ring buffer
  std::string queued;       // bytes received while a send was in flight
};

io_uring ring;
std::vector<Conn*> conns;   // indexed by fd

// ---- Provided buffer ring, set up by hand (liburing 2.3 has no
// io_uring_setup_buf_ring): the kernel picks a buffer per recv completion,
// we hand it back once its bytes are sent or copied.
constexpr int kGroup = 0;
io_uring_buf_ring* bufRing = nullptr;
char* bufBase = nullptr;
unsigned bufCount = 1024, bufSize = 16384, held = 0;

bool setupBufRing() {
  const size_t ringBytes = bufCount * sizeof(io_uring_buf);
  void* r = mmap(nullptr, ringBytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  void* b = mmap(nullptr, size_t{bufCount} * bufSize, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (r == MAP_FAILED || b == MAP_FAILED) return false;
  bufRing = static_cast<io_uring_buf_ring*>(r);
  bufBase = static_cast<char*>(b);
  io_uring_buf_reg reg{};
  reg.ring_addr = reinterpret_cast<uint64_t>(bufRing);
  reg.ring_entries = bufCount;
  reg.bgid = kGroup;
  ++st.syscalls;
  if (const int e = io_uring_register_buf_ring(&ring, &reg, 0); e < 0) {
    std::fprintf(stderr, "raw-uring: io_uring_register_buf_ring: %s\n", std::strerror(-e));
    return false;
  }
  io_uring_buf_ring_init(bufRing);
  const int mask = io_uring_buf_ring_mask(bufCount);
  for (unsigned i = 0; i < bufCount; ++i)
    io_uring_buf_ring_add(bufRing, bufBase + size_t{i} * bufSize, bufSize, static_cast<unsigned short>(i), mask, static_cast<int>(i));
  io_uring_buf_ring_advance(bufRing, static_cast<int>(bufCount));
  return true;
}

void recycle(unsigned bid) {
  io_uring_buf_ring_add(bufRing, bufBase + size_t{bid} * bufSize, bufSize, static_cast<unsigned short>(bid),
                        io_uring_buf_ring_mask(bufCount), 0);
  io_uring_buf_ring_advance(bufRing, 1);
}

// An SQE, submitting early only if the submission queue is full.
io_uring_sqe* sqe() {
  io_uring_sqe* s = io_uring_get_sqe(&ring);
  while (!s) {
    ++st.enters;
    ++st.syscalls;
    st.sqes += static_cast<uint64_t>(std::max(0, io_uring_submit(&ring)));
    s = io_uring_get_sqe(&ring);
  }
  return s;
}

void armAccept(int lfd) {
  io_uring_sqe* s = sqe();
  io_uring_prep_multishot_accept(s, lfd, nullptr, nullptr, 0);
  io_uring_sqe_set_data64(s, tag(kAccept, lfd));
}

void armRecv(Conn& c) {
  io_uring_sqe* s = sqe();
  io_uring_prep_recv_multishot(s, c.fd, nullptr, 0, 0);
  s->flags |= IOSQE_BUFFER_SELECT;
  s->buf_group = kGroup;
  io_uring_sqe_set_data64(s, tag(kRecv, c.fd));
  c.recvArmed = true;
}

void submitSend(Conn& c) {
  io_uring_sqe* s = sqe();
  io_uring_prep_send(s, c.fd, c.sendPtr, c.sendLen, MSG_NOSIGNAL);
  io_uring_sqe_set_data64(s, tag(kSend, c.fd));
  c.sending = true;
}

// Teardown waits until no operation of the connection is in flight, so no
// completion can ever name a freed Conn: cancel the recv, let the send
// finish, then close on the ring.
void maybeClose(Conn& c) {
  if (c.recvArmed && !c.cancelled) {
    io_uring_sqe* s = sqe();
    io_uring_prep_cancel64(s, tag(kRecv, c.fd), 0);
    io_uring_sqe_set_data64(s, tag(kCancel, c.fd));
    c.cancelled = true;
  }
  if (c.recvArmed || c.sending) return;
  io_uring_sqe* s = sqe();
  io_uring_prep_close(s, c.fd);
  io_uring_sqe_set_data64(s, tag(kClose, c.fd));
  conns[static_cast<size_t>(c.fd)] = nullptr;
  delete &c;
}

void startClose(Conn& c) {
  c.closing = true;
  c.queued.clear();
  maybeClose(c);
}

void onRecv(Conn& c, const io_uring_cqe* cqe) {
  if (!(cqe->flags & IORING_CQE_F_MORE)) c.recvArmed = false;
  if (cqe->res > 0 && (cqe->flags & IORING_CQE_F_BUFFER)) {
    const unsigned bid = cqe->flags >> IORING_CQE_BUFFER_SHIFT;
    const char* data = bufBase + size_t{bid} * bufSize;
    const size_t len = static_cast<size_t>(cqe->res);
    st.bytesIn += len;
    if (c.closing) {
      recycle(bid);
    } else if (!c.sending && held < bufCount / 2) {
      // Fast path: send straight from the kernel-filled buffer, no copy. Only
      // while at most half the ring is held by sends, so recv never starves.
      c.sendBid = static_cast<int>(bid);
      ++held;
      c.sendPtr = data;
      c.sendLen = len;
      submitSend(c);
    } else {
      c.queued.append(data, len);   // order: behind the send in flight
      recycle(bid);
      if (!c.sending) {
        c.out.swap(c.queued);
        c.sendPtr = c.out.data();
        c.sendLen = c.out.size();
        submitSend(c);
      }
    }
  } else if (cqe->res == -ENOBUFS) {
    // Every buffer was taken when data arrived: the multishot recv stopped.
    // Buffers come back as this batch's sends complete; re-arm (below).
    static bool logged = false;
    if (!logged) { std::fprintf(stderr, "raw-uring: buffer ring empty (ENOBUFS), re-arming\n"); logged = true; }
  } else if (cqe->res <= 0 && !c.closing) {
    startClose(c);   // 0: peer closed; <0: reset or cancelled
    return;
  }
  if (c.recvArmed) return;
  if (c.closing) maybeClose(c); else armRecv(c);   // ended without error (ENOBUFS, overflow): re-arm
}

void onSend(Conn& c, int res) {
  c.sending = false;
  if (res > 0) {
    st.bytesOut += static_cast<uint64_t>(res);
    if (static_cast<size_t>(res) < c.sendLen && !c.closing) {   // short send: the rest goes next
      c.sendPtr += res;
      c.sendLen -= static_cast<size_t>(res);
      submitSend(c);
      return;
    }
  }
  if (c.sendBid >= 0) { recycle(static_cast<unsigned>(c.sendBid)); c.sendBid = -1; --held; }
  c.out.clear();
  if (res < 0 && !c.closing) { startClose(c); return; }
  if (c.closing) { maybeClose(c); return; }
  if (!c.queued.empty()) {
    c.out.swap(c.queued);
    c.sendPtr = c.out.data();
    c.sendLen = c.out.size();
    submitSend(c);
  }
}

// Ring flags per --taskrun choice; "auto" tries them best first.
unsigned flagsFor(const std::string& mode) {
  if (mode == "defer") return IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN;
  if (mode == "coop") return IORING_SETUP_COOP_TASKRUN;
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  int port = 0, cpu = -1;
  bool stats = false;
  std::string taskrun = "auto";
  CLI::App app{"duet-raw-uring: single-threaded io_uring echo server"};
  app.add_option("--port", port, "TCP port on 127.0.0.1 (0 = ephemeral)")->check(CLI::Range(0, 65535));
  app.add_option("--cpu", cpu, "pin to this CPU");
  app.add_flag("--stats", stats, "print the loop's counters at exit");
  app.add_option("--taskrun", taskrun, "ring task-run mode")->check(CLI::IsMember({"auto", "defer", "coop", "plain"}))->capture_default_str();
  app.add_option("--buf-size", bufSize, "bytes per provided buffer")->check(CLI::Range(64u, 1u << 20))->capture_default_str();
  app.add_option("--buf-count", bufCount, "provided buffers (power of two)")->check(CLI::Range(1u, 32768u))->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  if (bufCount & (bufCount - 1)) { std::fprintf(stderr, "raw-uring: --buf-count must be a power of two\n"); return 2; }

  if (cpu >= 0) {
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    if (sched_setaffinity(0, sizeof set, &set) != 0) { std::perror("sched_setaffinity"); return 1; }
  }
  rlimit rl{};
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0) { rl.rlim_cur = rl.rlim_max; setrlimit(RLIMIT_NOFILE, &rl); }

  // Ring: big enough that 10,000 connections' completions never overflow.
  std::vector<std::string> tries = taskrun == "auto" ? std::vector<std::string>{"defer", "coop", "plain"}
                                                     : std::vector<std::string>{taskrun};
  std::string mode;
  for (const auto& t : tries) {
    io_uring_params p{};
    p.flags = flagsFor(t) | IORING_SETUP_CQSIZE;
    p.cq_entries = 65536;
    if (const int e = io_uring_queue_init_params(4096, &ring, &p); e == 0) { mode = t; break; }
    else if (taskrun != "auto" || t == "plain") {
      std::fprintf(stderr, "raw-uring: io_uring setup (%s) failed: %s\n", t.c_str(), std::strerror(-e));
      return 1;
    }
  }
  if (!setupBufRing()) return 1;

  const int lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  int one = 1;
  setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (bind(lfd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 || listen(lfd, SOMAXCONN) != 0) {
    std::perror("bind/listen");
    return 1;
  }
  socklen_t alen = sizeof addr;
  getsockname(lfd, reinterpret_cast<sockaddr*>(&addr), &alen);
  std::printf("listening on %d\n", ntohs(addr.sin_port));
  std::fflush(stdout);

  // SIGINT/SIGTERM arrive as a read completion on a signalfd: the loop
  // never has to be interrupted mid-wait.
  // A peer that vanishes with echoes in flight must cost an EPIPE, not the
  // process. SIGINT may arrive ignored from a non-interactive shell's `&`.
  signal(SIGPIPE, SIG_IGN);
  signal(SIGINT, SIG_DFL);
  sigset_t mask;
  sigemptyset(&mask);
  sigaddset(&mask, SIGINT);
  sigaddset(&mask, SIGTERM);
  sigprocmask(SIG_BLOCK, &mask, nullptr);
  const int sfd = signalfd(-1, &mask, SFD_CLOEXEC);
  signalfd_siginfo sig{};
  io_uring_sqe* s = sqe();
  io_uring_prep_read(s, sfd, &sig, sizeof sig, 0);
  io_uring_sqe_set_data64(s, tag(kSignal, sfd));
  armAccept(lfd);

  for (bool running = true; running;) {
    ++st.enters;
    ++st.syscalls;
    const int r = io_uring_submit_and_wait(&ring, 1);
    if (r < 0 && r != -EINTR && r != -EAGAIN && r != -EBUSY) {
      std::fprintf(stderr, "raw-uring: io_uring_enter: %s\n", std::strerror(-r));
      return 1;
    }
    if (r > 0) st.sqes += static_cast<uint64_t>(r);
    unsigned head, n = 0;
    io_uring_cqe* cqe;
    io_uring_for_each_cqe(&ring, head, cqe) {
      ++n;
      const uint64_t ud = io_uring_cqe_get_data64(cqe);
      const int fd = static_cast<int>(ud >> 8);
      switch (static_cast<Op>(ud & 0xff)) {
        case kAccept:
          if (cqe->res >= 0) {
            const int cfd = cqe->res;
            ++st.syscalls;   // plain setsockopt: once per connection, not per message
            setsockopt(cfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
            if (static_cast<size_t>(cfd) >= conns.size()) conns.resize(static_cast<size_t>(cfd) * 2 + 1, nullptr);
            Conn* c = new Conn;
            c->fd = cfd;
            conns[static_cast<size_t>(cfd)] = c;
            armRecv(*c);
          } else {
            static bool logged = false;   // e.g. EMFILE: never fatal
            if (!logged) { std::fprintf(stderr, "raw-uring: accept: %s\n", std::strerror(-cqe->res)); logged = true; }
          }
          if (!(cqe->flags & IORING_CQE_F_MORE)) {
            if (cqe->res >= 0) {
              armAccept(fd);
            } else {   // after an error, pause 100 ms rather than spin on EMFILE
              static __kernel_timespec pause{0, 100'000'000};
              io_uring_sqe* t = sqe();
              io_uring_prep_timeout(t, &pause, 0, 0);
              io_uring_sqe_set_data64(t, tag(kAcceptRetry, fd));
            }
          }
          break;
        case kAcceptRetry:
          armAccept(fd);
          break;
        case kRecv:
          if (Conn* c = conns[static_cast<size_t>(fd)]) onRecv(*c, cqe);
          break;
        case kSend:
          if (Conn* c = conns[static_cast<size_t>(fd)]) onSend(*c, cqe->res);
          break;
        case kSignal:
          running = false;
          break;
        case kClose:
        case kCancel:
          break;
      }
    }
    io_uring_cq_advance(&ring, n);
    if (n > 0) ++st.wakeups;
    st.cqes += n;
  }

  if (stats) {
    std::printf("stats loop=raw mode=raw-uring-%s syscalls=%llu wakeups=%llu events=%llu enters=%llu sqes=%llu cqes=%llu bytes_in=%llu bytes_out=%llu\n",
                mode.c_str(), static_cast<unsigned long long>(st.syscalls), static_cast<unsigned long long>(st.wakeups),
                static_cast<unsigned long long>(st.cqes), static_cast<unsigned long long>(st.enters),
                static_cast<unsigned long long>(st.sqes), static_cast<unsigned long long>(st.cqes),
                static_cast<unsigned long long>(st.bytesIn), static_cast<unsigned long long>(st.bytesOut));
    std::fflush(stdout);
  }
  // Exiting tears the ring down and closes every socket.
  io_uring_queue_exit(&ring);
  return 0;
}
