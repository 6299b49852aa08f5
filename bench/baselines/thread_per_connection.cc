// How the thread-per-connection servers start, count, limit and reap their
// threads (what and for whom: thread_per_connection.h).
//
// Stack size: 64 KiB, set explicitly (std::thread cannot choose it; the
// default is RLIMIT_STACK, 8 MiB here). The largest protocol needs little of
// it: thread_echo.cc's 16 KiB read buffer, thread_http.cc's 20 KiB input
// buffer and 4 KiB drain buffer, plus a few small frames of libc; 64 KiB
// leaves ample room, and the guard page below it turns an overflow into a
// crash, not corruption. Only touched pages cost RAM either way, but 8 MiB
// per thread would reserve 80 GB of address space for 10,000 connections, and
// a small stack keeps the cost honest and visible: the RSS per connection is
// mostly the protocol's buffer.
//
// Refusing, not waiting: when no thread can be started for a connection (or
// --max-threads run already), the connection is closed at once. Waiting for
// a thread to end instead would stop the accept loop, and every newcomer
// would hang in the backlog with no answer; a closed connection is an
// answer the client can act on, and those already connected are served as
// before.
//
// Stopping: SIGINT/SIGTERM are blocked in every thread and taken by one
// signal thread with sigwait() (no handler, no race). It shuts the listening
// socket down, which wakes the blocked accept(); the main thread then shuts
// every live connection down, which wakes its blocked read() or write(), waits
// for the threads to finish, prints --stats and exits 0.

#include "thread_per_connection.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <atomic>
#include <cerrno>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_set>

#include "server_setup.h"

namespace threadbaseline {

size_t readSome(int fd, char* buf, size_t n, Counters& c) {
  for (;;) {
    ++c.syscalls;
    const ssize_t got = ::read(fd, buf, n);
    ++c.wakeups;
    if (got == 0) return 0;  // the peer closed (or stop() shut us down)
    if (got < 0) {
      if (errno == EINTR) continue;
      return 0;  // reset
    }
    ++c.events;
    c.bytesIn += static_cast<uint64_t>(got);
    return static_cast<size_t>(got);
  }
}

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

namespace {

constexpr size_t kStackBytes = 64 * 1024;  // see the top of this file

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
    totals_.requests += c.requests;
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

// The protocol every connection's thread runs. Written once by run() before
// the first pthread_create() (which orders it before everything the new
// thread does), read-only afterwards.
void (*serveProtocol)(int fd, Counters& counters) = nullptr;

// One line on stderr when refusals start, not one per refused connection:
// under a flood of connections the log must not become the next problem.
// Only the main thread uses it.
class RefusalLog {
 public:
  explicit RefusalLog(const char* serverName) : serverName_(serverName) {}
  void refused(const std::string& why) {
    if (!inBurst_ || why != lastWhy_)
      std::fprintf(
          stderr,
          "%s: %s; closing new connections until that clears (the others are still served)\n",
          serverName_, why.c_str());
    inBurst_ = true;
    lastWhy_ = why;
  }
  void served() { inBurst_ = false; }

 private:
  const char* serverName_;
  bool inBurst_ = false;
  std::string lastWhy_;
};

// One connection, start to end, on its own thread.
void* connectionThread(void* arg) {
  const int fd = static_cast<int>(reinterpret_cast<intptr_t>(arg));
  Counters c;
  serveProtocol(fd, c);
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
  const int err = pthread_create(&thread, &attr, connectionThread,
                                 reinterpret_cast<void*>(static_cast<intptr_t>(fd)));
  if (err == 0) return {};
  registry.finish(fd, Counters{});
  // EAGAIN: a limit on threads (RLIMIT_NPROC, threads-max, pid_max) or no
  // memory for the stack; the connection is closed, the server goes on.
  return std::string("no thread for a new connection: pthread_create: ") + std::strerror(err);
}

}  // namespace

int run(const Server& server, int argc, char** argv) {
  int port = 0, cpu = -1;
  size_t maxThreads = SIZE_MAX;
  bool stats = false;
  CLI::App app{server.description};
  app.add_option("--port", port, "TCP port on 127.0.0.1 (0 = ephemeral)")
      ->check(CLI::Range(0, 65535));
  app.add_option("--cpu", cpu, "pin to this CPU (every connection's thread inherits it)");
  app.add_flag("--stats", stats, "print the counters at exit");
  app.add_option("--max-threads", maxThreads,
                 "connections served at once; beyond it a connection is refused as if no thread "
                 "could be created")
      ->check(CLI::Range(size_t{0}, SIZE_MAX));
  CLI11_PARSE(app, argc, argv);

  if (!baseline::pinToCpu(cpu)) return 1;
  baseline::takeAllDescriptors();
  int spareFd = open("/dev/null", O_RDONLY | O_CLOEXEC);  // given up to accept-and-close at EMFILE

  // Before any thread exists: every thread inherits this mask, so SIGINT and
  // SIGTERM reach only the sigwait() below.
  const sigset_t stopSignals = baseline::blockStopSignals();

  const int lfd = baseline::listenOnLoopback(port, 0);
  if (lfd < 0) return 1;

  std::atomic<bool> stopping{false};
  std::thread signalWatcher([&] {
    int signo = 0;
    sigwait(&stopSignals, &signo);
    stopping = true;
    ::shutdown(lfd, SHUT_RDWR);  // wakes the accept() below with EINVAL
  });

  serveProtocol = server.serveConnection;
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setstacksize(&attr, kStackBytes);
  pthread_attr_setdetachstate(
      &attr, PTHREAD_CREATE_DETACHED);  // nobody joins: finish() says when it is done

  std::printf("listening on %d\n", baseline::listeningPort(lfd));
  std::fflush(stdout);

  // The main thread's own counters: its system calls (the threads' are in
  // their Counters) and what became of each connection.
  uint64_t syscalls = 0, accepted = 0, noThread = 0, noDescriptor = 0;
  RefusalLog refusals(server.name);
  bool peerWaits = false;  // out of descriptors, and poll() said a peer waits
  const int one = 1;       // setsockopt's "on"
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
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);  // small replies go out at once
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
        "accepted=%llu closed=%llu refused_no_thread=%llu refused_no_fd=%llu peak_threads=%zu",
        server.name, static_cast<unsigned long long>(syscalls + t.syscalls),
        static_cast<unsigned long long>(t.wakeups), static_cast<unsigned long long>(t.events),
        static_cast<unsigned long long>(t.bytesIn), static_cast<unsigned long long>(t.bytesOut),
        static_cast<unsigned long long>(accepted + noDescriptor),
        static_cast<unsigned long long>(accepted + noDescriptor),
        static_cast<unsigned long long>(noThread), static_cast<unsigned long long>(noDescriptor),
        registry.peak());
    if (server.countsRequests)
      std::printf(" requests=%llu", static_cast<unsigned long long>(t.requests));
    std::printf("\n");
    std::fflush(stdout);
  }
  return 0;
}

}  // namespace threadbaseline
