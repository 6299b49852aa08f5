// duet-thread-echo: the classic thread-per-connection echo server, with
// blocking sockets and no framework. The "before" picture: what every event
// loop in this repository replaces, measured on the same workload.
//
// The whole model fits in one sentence: the main thread blocks in accept(),
// and every connection gets its own thread that blocks in read() and write().
//
//   main thread:    accept() -> TCP_NODELAY -> pthread_create(serveConnection)
//   per connection: read() whatever has arrived; write() all of it back;
//                   repeat until the peer closes
//
// What it gets for free, and what an event loop must work for:
//   - Back-pressure: a peer that does not read its echoes fills the socket's
//     send buffer, write() blocks, this thread stops reading, and the peer's
//     own sends stall. No high-water mark, no output queue, no EPOLLOUT.
//   - State: the connection's whole state is this thread's stack frame.
//   - Fairness: the kernel's scheduler interleaves the connections.
// What it pays:
//   - A thread per connection: a stack, a kernel task, a scheduler entry.
//     Every message costs two context switches (the reader wakes, then
//     sleeps again) instead of one epoll_wait return shared by many sockets.
//   - Threads are a resource that runs out (RLIMIT_NPROC, kernel.threads-max,
//     pid_max, memory for stacks). When one cannot be created, that
//     connection is closed at once, counted, and one line per burst of such
//     refusals goes to stderr; everyone already connected is still served.
//     The same happens when accept() runs out of descriptors.
//
// Stack size: 64 KiB, set explicitly (std::thread cannot choose it; the
// default is RLIMIT_STACK, 8 MiB here). A connection's thread needs its 16 KiB
// read buffer plus a few small frames of libc; 64 KiB leaves ample room, and
// the guard page below it turns an overflow into a crash, not corruption.
// Only touched pages cost RAM either way, but 8 MiB per thread would reserve
// 80 GB of address space for 10,000 connections, and a small stack keeps the
// cost honest and visible: the RSS per connection is mostly this buffer.
//
// Stopping: SIGINT/SIGTERM are blocked in every thread and taken by one
// signal thread with sigwait() (no handler, no race). It shuts the listening
// socket down, which wakes the blocked accept(); the main thread then shuts
// every live connection down, which wakes its blocked read() or write(), waits
// for the threads to finish, prints --stats and exits 0.
//
// thread_http.cc has the same scaffolding line for line; only
// serveConnection() differs.
//
// What it costs here: every figure is in the committed full run,
// docs/results/2026-11-30-full-2 (report.md; the command in command.txt), in
// "Models side by side", where "CPU × callbacks" is this server's CPU per
// message over callbacks on epoll, per-round pairs:
//   - `echo c1 s128`: one connection, on par with the event loops (the
//     thread's blocking read against epoll_wait + read).
//   - `echo c100 s128`, `echo c1000 s128`, `echo c10000 s128`: more CPU per
//     message than every event-driven model, and a longer p99 (at 1,000 and
//     10,000 resting on few load cycles, as the table says). Every message
//     wakes a different thread, a context switch each way, where epoll hands
//     one wakeup many ready sockets: the same run's Summary table shows
//     events per wake-up for `thread` beside `epoll`.
//   - "RSS per idle connection", row `thread`: the touched stack pages,
//     mostly the read buffer, many times any event loop's row; the
//     kernel stack of every thread (/proc/meminfo KernelStack) comes on top,
//     unseen by RSS. That row is also where it went to 10,000 connections
//     (a thread each); pid_max and the descriptor limit (command.txt's
//     ulimit -n) are the next walls. A thread that cannot be created is the
//     refusal path above, tested with --max-threads in
//     tests/baselines/thread_baselines_test.cc.
//   - Its churn rows (`churn echo ...`) are not a measurement: that run's
//     duet-load summed the CPU of the live threads only and lost every
//     thread that had exited (fixed in bench/load/server_cpu.h since).
//
// Usage: duet-thread-echo [--port P] [--cpu C] [--stats] [--max-threads N]
// Prints "listening on PORT" when ready, like duet-raw-epoll.

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <atomic>
#include <cerrno>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_set>

namespace {

constexpr const char* kName = "thread-echo";
constexpr size_t kStackBytes = 64 * 1024;
constexpr size_t kReadBytes = 16 * 1024;  // on the stack: see the header

// What one connection's thread counted; added to the totals when it ends, so
// the threads never share a counter (and its cache line) while they run.
struct Counters {
  uint64_t syscalls = 0;  // every system call, counted by hand
  uint64_t wakeups = 0;   // blocking reads that returned: each is a thread waking up
  uint64_t events = 0;    // those that brought bytes
  uint64_t bytesIn = 0;
  uint64_t bytesOut = 0;
};

// The live connections, each owned by its thread. The main thread adds a
// connection before starting its thread; the thread removes it when done.
// Stopping shuts every live socket down, which wakes the blocked threads.
class Registry {
 public:
  // False if the server is stopping or already runs maxThreads connections.
  bool add(int fd, size_t maxThreads) {
    std::lock_guard lock(mutex_);
    if (stopping_ || live_.size() >= maxThreads) return false;
    live_.insert(fd);
    if (live_.size() > peak_) peak_ = live_.size();
    return true;
  }
  // The thread's last word. The caller closes fd only after this: once the
  // fd is out of the set, stop() cannot shut down a reused descriptor number.
  void finish(int fd, const Counters& c) {
    std::lock_guard lock(mutex_);
    live_.erase(fd);
    totals_.syscalls += c.syscalls;
    totals_.wakeups += c.wakeups;
    totals_.events += c.events;
    totals_.bytesIn += c.bytesIn;
    totals_.bytesOut += c.bytesOut;
    if (live_.empty()) allDone_.notify_all();
  }
  void stop() {
    std::lock_guard lock(mutex_);
    stopping_ = true;
    for (const int fd : live_) ::shutdown(fd, SHUT_RDWR);
  }
  void waitUntilEmpty() {
    std::unique_lock lock(mutex_);
    allDone_.wait(lock, [&] { return live_.empty(); });
  }
  Counters totals() {
    std::lock_guard lock(mutex_);
    return totals_;
  }
  size_t peak() {
    std::lock_guard lock(mutex_);
    return peak_;
  }

 private:
  std::mutex mutex_;
  std::condition_variable allDone_;
  std::unordered_set<int> live_;
  bool stopping_ = false;
  size_t peak_ = 0;
  Counters totals_;
};

Registry registry;

// One line on stderr when refusals start, not one per refused connection:
// under a flood of connections the log must not become the next problem.
// Only the main thread uses it.
class RefusalLog {
 public:
  void refused(const std::string& why) {
    if (!inBurst_ || why != lastWhy_)
      std::fprintf(
          stderr,
          "%s: %s; closing new connections until that clears (the others are still served)\n",
          kName, why.c_str());
    inBurst_ = true;
    lastWhy_ = why;
  }
  void served() { inBurst_ = false; }

 private:
  bool inBurst_ = false;
  std::string lastWhy_;
};

// write() until everything is out: a blocking socket may still take only
// part of a large buffer (a signal, or a send buffer smaller than the data).
bool writeAll(int fd, const char* p, size_t n, Counters& c) {
  while (n > 0) {
    ++c.syscalls;
    const ssize_t w = ::write(fd, p, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      return false;  // EPIPE / ECONNRESET, or stop() shut us down
    }
    c.bytesOut += static_cast<uint64_t>(w);
    p += w;
    n -= static_cast<size_t>(w);
  }
  return true;
}

// One connection, start to end, on its own thread.
void* serveConnection(void* arg) {
  const int fd = static_cast<int>(reinterpret_cast<intptr_t>(arg));
  Counters c;
  char buf[kReadBytes];
  for (;;) {
    ++c.syscalls;
    const ssize_t n = ::read(fd, buf, sizeof buf);  // sleeps until the peer sends
    ++c.wakeups;
    if (n == 0) break;  // the peer closed (or stop() shut us down)
    if (n < 0) {
      if (errno == EINTR) continue;
      break;  // reset
    }
    ++c.events;
    c.bytesIn += static_cast<uint64_t>(n);
    if (!writeAll(fd, buf, static_cast<size_t>(n), c))
      break;  // sleeps while the peer's window is full
  }
  ++c.syscalls;
  registry.finish(fd, c);
  ::close(fd);
  return nullptr;
}

// Empty if a thread now serves fd, else why not.
std::string startConnectionThread(int fd, size_t maxThreads, const pthread_attr_t& attr) {
  if (!registry.add(fd, maxThreads))
    return "no thread for a new connection: --max-threads " + std::to_string(maxThreads) +
           " reached";
  pthread_t thread;
  const int err = pthread_create(&thread, &attr, serveConnection,
                                 reinterpret_cast<void*>(static_cast<intptr_t>(fd)));
  if (err == 0) return {};
  registry.finish(fd, Counters{});
  // EAGAIN: a limit on threads (RLIMIT_NPROC, threads-max, pid_max) or no
  // memory for the stack; the connection is closed, the server goes on.
  return std::string("no thread for a new connection: pthread_create: ") + std::strerror(err);
}

}  // namespace

int main(int argc, char** argv) {
  int port = 0, cpu = -1;
  size_t maxThreads = SIZE_MAX;
  bool stats = false;
  CLI::App app{"duet-thread-echo: one blocking thread per connection echo server"};
  app.add_option("--port", port, "TCP port on 127.0.0.1 (0 = ephemeral)")
      ->check(CLI::Range(0, 65535));
  app.add_option("--cpu", cpu, "pin to this CPU (every connection's thread inherits it)");
  app.add_flag("--stats", stats, "print the counters at exit");
  app.add_option("--max-threads", maxThreads,
                 "connections served at once; beyond it a connection is refused as if no thread "
                 "could be created")
      ->check(CLI::Range(size_t{0}, SIZE_MAX));
  CLI11_PARSE(app, argc, argv);

  if (cpu >= 0) {
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    if (sched_setaffinity(0, sizeof set, &set) != 0) {
      std::perror("sched_setaffinity");
      return 1;
    }
  }
  rlimit rl{};  // one descriptor per connection: take all the kernel allows
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
  }
  int spareFd = open("/dev/null", O_RDONLY | O_CLOEXEC);  // given up to accept-and-close at EMFILE

  // Before any thread exists: every thread inherits this mask, so SIGINT and
  // SIGTERM reach only the sigwait() below. A peer gone with an echo in
  // flight must cost an EPIPE, not the process.
  signal(SIGPIPE, SIG_IGN);
  sigset_t stopSignals;
  sigemptyset(&stopSignals);
  sigaddset(&stopSignals, SIGINT);
  sigaddset(&stopSignals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stopSignals, nullptr);

  const int lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  int one = 1;
  setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (bind(lfd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      listen(lfd, SOMAXCONN) != 0) {
    std::perror("bind/listen");
    return 1;
  }
  socklen_t len = sizeof addr;
  getsockname(lfd, reinterpret_cast<sockaddr*>(&addr), &len);

  std::atomic<bool> stopping{false};
  std::thread signalWatcher([&] {
    int signo = 0;
    sigwait(&stopSignals, &signo);
    stopping = true;
    ::shutdown(lfd, SHUT_RDWR);  // wakes the accept() below with EINVAL
  });

  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setstacksize(&attr, kStackBytes);
  pthread_attr_setdetachstate(
      &attr, PTHREAD_CREATE_DETACHED);  // nobody joins: finish() says when it is done

  std::printf("listening on %d\n", ntohs(addr.sin_port));
  std::fflush(stdout);

  uint64_t syscalls = 0, accepted = 0, noThread = 0, noDescriptor = 0;
  RefusalLog refusals;
  bool peerWaits = false;  // out of descriptors, and poll() said a peer waits
  while (!stopping) {
    ++syscalls;
    const int fd = accept4(lfd, nullptr, nullptr, SOCK_CLOEXEC);  // sleeps until a peer connects
    if (fd < 0) {
      if (stopping) break;
      if (errno == EMFILE || errno == ENFILE) {
        // Out of descriptors. accept() takes the descriptor before it looks
        // for a peer, so it fails at once whether a peer waits or not. First
        // sleep until one waits, and try again: a connection's thread may
        // have closed its descriptor meanwhile.
        const int err = errno;
        if (!peerWaits) {
          pollfd listener{lfd, POLLIN, 0};
          ++syscalls;
          poll(&listener, 1, -1);  // stop() shutting the listener down wakes it too
          peerWaits = true;
          continue;
        }
        // Still none, and the peer would wait in the backlog forever. Give
        // up the spare descriptor to accept it, close it (it sees its
        // connection end, not a hang), take the spare back.
        peerWaits = false;
        ::close(spareFd);
        const int victim = accept(lfd, nullptr, nullptr);
        syscalls += 3;
        if (victim >= 0) {
          ::close(victim);
          refusals.refused(std::string("accept: ") + std::strerror(err));
          ++noDescriptor;
          ++syscalls;
        }
        spareFd = open("/dev/null", O_RDONLY | O_CLOEXEC);
      } else if (errno == ENOBUFS || errno == ENOMEM) {
        refusals.refused(std::string("accept: ") +
                         std::strerror(errno));  // the kernel is short of memory: give it a moment
        usleep(10'000);
      }
      continue;  // EINTR, ECONNABORTED (the peer left the backlog): nothing to do
    }
    peerWaits = false;
    ++accepted;
    ++syscalls;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);  // small echoes go out at once
    ++syscalls;
    const std::string whyNot = startConnectionThread(fd, maxThreads, attr);
    if (!whyNot.empty()) {
      refusals.refused(whyNot);
      ++noThread;
      ++syscalls;
      ::close(fd);  // the peer sees its connection end at once, not a hang
      continue;
    }
    refusals.served();
  }

  registry.stop();
  registry.waitUntilEmpty();
  signalWatcher.join();
  ::close(lfd);
  pthread_attr_destroy(&attr);
  if (stats) {
    const Counters t = registry.totals();
    std::printf(
        "stats loop=raw mode=%s syscalls=%llu wakeups=%llu events=%llu bytes_in=%llu "
        "bytes_out=%llu "
        "accepted=%llu closed=%llu refused_no_thread=%llu refused_no_fd=%llu peak_threads=%zu\n",
        kName, static_cast<unsigned long long>(syscalls + t.syscalls),
        static_cast<unsigned long long>(t.wakeups), static_cast<unsigned long long>(t.events),
        static_cast<unsigned long long>(t.bytesIn), static_cast<unsigned long long>(t.bytesOut),
        static_cast<unsigned long long>(accepted + noDescriptor),
        static_cast<unsigned long long>(accepted + noDescriptor),
        static_cast<unsigned long long>(noThread), static_cast<unsigned long long>(noDescriptor),
        registry.peak());
    std::fflush(stdout);
  }
  return 0;
}
