// duet-thread-http: the classic thread-per-connection HTTP/1.1 server, with
// blocking sockets and no framework: GET /hello with keep-alive, answered
// byte for byte like duet-http's /hello. The "before" picture for HTTP.
//
// The model is thread_echo.cc's, and so is all the scaffolding below, line
// for line (accept loop, thread start, refusals, stop); only what one
// connection's thread does differs:
//
//   main thread:    accept() -> TCP_NODELAY -> pthread_create(serveConnection)
//   per connection: read() -> answer every complete request in what has
//                   arrived -> write() the answers -> read() again, until the
//                   client closes or a request ends the connection
//
// The request reader is written out in the open (see "HTTP" below), because
// in this model parsing is ordinary sequential code: it never has to stop in
// the middle of a head and resume when more bytes arrive, it just reads
// more. The one subtlety it keeps from the event loops is the input buffer:
// a read may bring half a request or several, so the bytes are kept until a
// whole head is there, and what follows a head stays for the next request.
//
// Stack size: 64 KiB, set explicitly (std::thread cannot choose it; the
// default is RLIMIT_STACK, 8 MiB here). A connection's thread needs its 20 KiB
// input buffer, a 4 KiB drain buffer and a few small frames of libc; 64 KiB
// leaves ample room, and the guard page below it turns an overflow into a
// crash, not corruption. Only touched pages cost RAM either way, but 8 MiB
// per thread would reserve 80 GB of address space for 10,000 connections.
// The response is built in a std::string (heap), reused across requests.
//
// Threads are a resource that runs out (RLIMIT_NPROC, kernel.threads-max,
// pid_max, memory for stacks). When one cannot be created, that connection is
// closed at once, counted, and one line per burst of such refusals goes to
// stderr; everyone already connected is still served. The same happens when
// accept() runs out of descriptors.
//
// Stopping: SIGINT/SIGTERM are taken by one signal thread with sigwait(); it
// shuts the listening socket down (waking accept()), the main thread shuts
// every live connection down (waking its read() or write()), waits for the
// threads, prints --stats and exits 0.
//
// What it costs here: the committed full run docs/results/2026-11-30-full-2
// (report.md; the command in command.txt), "Models side by side", the cases
// `http/hello c100`, `http/hello c1000` and `http/hello c10000` (row "thread
// per connection"); thread_echo.cc says what to read there.
//
// Usage: duet-thread-http [--port P] [--cpu C] [--stats] [--max-threads N]
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
#include <sys/time.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <atomic>
#include <cctype>
#include <cerrno>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_set>

namespace {

constexpr const char* kName = "thread-http";
constexpr size_t kStackBytes = 64 * 1024;

// What one connection's thread counted; added to the totals when it ends, so
// the threads never share a counter (and its cache line) while they run.
struct Counters {
  uint64_t syscalls = 0;  // every system call, counted by hand
  uint64_t wakeups = 0;   // blocking reads that returned: each is a thread waking up
  uint64_t events = 0;    // those that brought bytes
  uint64_t bytesIn = 0;
  uint64_t bytesOut = 0;
  uint64_t requests = 0;  // answered, errors included
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

// ---- HTTP: just enough of RFC 9110/9112 for GET /hello, read carefully ----
//
// The request reader below answers exactly what duet-http answers for
// /hello (apps/http/router.cc, http_response.cc): the same status lines,
// headers and bodies, byte for byte but the Date. It is deliberately small:
//   - A request head ends at the first CRLFCRLF; it may not exceed kMaxHead
//     bytes (431 and close). Empty lines before a request are skipped
//     (RFC 9112 2.2).
//   - Anything that is not a well-formed request line and header fields is
//     answered 400 and the connection closed: after garbage, where the next
//     request starts is unknown.
//   - A body announced by Content-Length is read and dropped (up to
//     kMaxBody, else 413 and close); Transfer-Encoding is refused with 501
//     and close (no chunked decoder here; duet-http has one).
//   - Keep-alive by default on HTTP/1.1, "Connection: close" honoured;
//     HTTP/1.0 closes unless it asks for keep-alive.
//   - Pipelined requests are answered in order, and every response to the
//     requests one read() brought leaves in one write().
// No timeouts: an idle or slow client simply holds its thread, which is the
// model's weakness on display (duet-http closes idle connections, 408s slow
// heads and bounds its lingering close; only the last is done here).

constexpr size_t kMaxHead = 16 * 1024;  // duet-http: 16 KiB of header fields (HttpLimits)
constexpr size_t kInputBytes =
    20 * 1024;  // on the stack: more than a head, so a read always has room
constexpr uint64_t kMaxBody = 1024 * 1024;
constexpr std::string_view kHelloBody = "Hello, world!\n";  // duet-http's Router::kHelloBody

// RFC 9110 5.6.2: the characters of a token (methods, header names).
bool isTokenChar(unsigned char ch) {
  return std::isalnum(ch) || std::strchr("!#$%&'*+-.^_`|~", ch) != nullptr;
}
bool isToken(std::string_view s) {
  if (s.empty()) return false;
  for (const char ch : s)
    if (ch == '\0' || !isTokenChar(static_cast<unsigned char>(ch))) return false;
  return true;
}
bool equalsNoCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i)
    if (std::tolower(static_cast<unsigned char>(a[i])) !=
        std::tolower(static_cast<unsigned char>(b[i])))
      return false;
  return true;
}
std::string_view trimWhitespace(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}
// Does the comma-separated list (a Connection header's value) hold `token`?
bool listHas(std::string_view list, std::string_view token) {
  while (!list.empty()) {
    const size_t comma = list.find(',');
    if (equalsNoCase(trimWhitespace(list.substr(0, comma)), token)) return true;
    if (comma == std::string_view::npos) break;
    list.remove_prefix(comma + 1);
  }
  return false;
}

// What one request head asks for.
struct Request {
  int errorStatus = 0;  // non-zero: answer this and close
  std::string_view method;
  std::string_view path;  // the target without its query
  bool http10 = false;
  bool keepAlive = true;
  uint64_t bodyBytes = 0;  // Content-Length: read and dropped
};

// `head` runs from the request line to the CRLF ending the last header field
// (the blank line is not included).
Request parseHead(std::string_view head) {
  Request r;
  auto nextLine = [&head]() {
    const size_t end = head.find("\r\n");
    const std::string_view line = head.substr(0, end);
    head.remove_prefix(end == std::string_view::npos ? head.size() : end + 2);
    return line;
  };
  auto bad = [&r](int status) {
    r.errorStatus = status;
    r.keepAlive = false;
    return r;
  };
  // request-line = method SP request-target SP HTTP-version (RFC 9112 3)
  const std::string_view line = nextLine();
  const size_t sp1 = line.find(' ');
  const size_t sp2 = sp1 == std::string_view::npos ? sp1 : line.find(' ', sp1 + 1);
  if (sp2 == std::string_view::npos) return bad(400);
  r.method = line.substr(0, sp1);
  const std::string_view target = line.substr(sp1 + 1, sp2 - sp1 - 1);
  const std::string_view version = line.substr(sp2 + 1);
  if (!isToken(r.method) || target.empty()) return bad(400);
  // CONNECT names host:port, never a path (RFC 9110 9.3.6); with a path it is
  // malformed. Otherwise it asks for a tunnel, which we do not make: 501, as
  // for any method RFC 9110 does not define.
  if (r.method == "CONNECT") return bad(target.front() == '/' ? 400 : 501);
  static constexpr std::string_view kKnownMethods[] = {"GET",    "HEAD",    "POST", "PUT",
                                                       "DELETE", "OPTIONS", "TRACE"};
  if (std::find(std::begin(kKnownMethods), std::end(kKnownMethods), r.method) ==
      std::end(kKnownMethods))
    return bad(501);
  for (const char ch : target)  // visible ASCII only: no spaces, controls or bytes >= 0x80
    if (ch <= ' ' || ch >= 0x7f) return bad(400);
  if (version.size() != 8 || version.substr(0, 5) != "HTTP/" ||
      !std::isdigit(static_cast<unsigned char>(version[5])) || version[6] != '.' ||
      !std::isdigit(static_cast<unsigned char>(version[7])))
    return bad(400);
  if (version[5] != '1') return bad(505);
  r.http10 = version[7] == '0';
  r.keepAlive = !r.http10;
  r.path = target.substr(0, target.find('?'));

  // field-line = field-name ":" OWS field-value OWS (RFC 9112 5)
  int hosts = 0, lengths = 0;
  while (!head.empty()) {
    const std::string_view field = nextLine();
    const size_t colon = field.find(':');
    // No colon, or whitespace before it (RFC 9112 5.1), or a folded line
    // (which starts with whitespace): all 400.
    if (colon == std::string_view::npos || !isToken(field.substr(0, colon))) return bad(400);
    const std::string_view name = field.substr(0, colon);
    const std::string_view value = trimWhitespace(field.substr(colon + 1));
    for (const char ch : value)  // CR, LF, NUL and other controls have no place in a value
      if ((static_cast<unsigned char>(ch) < ' ' && ch != '\t') || ch == 0x7f) return bad(400);
    if (equalsNoCase(name, "host")) {
      ++hosts;
    } else if (equalsNoCase(name, "connection")) {
      if (listHas(value, "close")) r.keepAlive = false;
      else if (r.http10 && listHas(value, "keep-alive")) r.keepAlive = true;
    } else if (equalsNoCase(name, "content-length")) {
      // Digits only, once: two lengths could frame the body two ways.
      if (++lengths > 1 || value.empty() || value.size() > 18) return bad(400);
      for (const char ch : value)
        if (!std::isdigit(static_cast<unsigned char>(ch))) return bad(400);
      r.bodyBytes = std::strtoull(std::string(value).c_str(), nullptr, 10);
      if (r.bodyBytes > kMaxBody) return bad(413);
    } else if (equalsNoCase(name, "transfer-encoding")) {
      return bad(501);
    }
  }
  // HTTP/1.1 requires exactly one Host (RFC 9112 3.2).
  if (!r.http10 && hosts != 1) return bad(400);
  if (r.http10 && hosts > 1) return bad(400);
  return r;
}

const char* reasonPhrase(int status) {
  switch (status) {
    case 200:
      return "OK";
    case 204:
      return "No Content";
    case 400:
      return "Bad Request";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 413:
      return "Content Too Large";
    case 431:
      return "Request Header Fields Too Large";
    case 501:
      return "Not Implemented";
    case 505:
      return "HTTP Version Not Supported";
    default:
      return "Unknown";
  }
}

// The Date header's value, formatted once a second per thread.
std::string_view httpDate() {
  thread_local time_t second = -1;
  thread_local char text[40];
  thread_local size_t length = 0;
  const time_t now = time(nullptr);
  if (now != second) {
    second = now;
    tm t{};
    gmtime_r(&now, &t);
    length = strftime(text, sizeof text, "%a, %d %b %Y %H:%M:%S GMT", &t);
  }
  return {text, length};
}

// Appends one response to `out`, in duet-http's exact layout.
void appendResponse(std::string& out, int status, const Request& r, bool headRequest,
                    std::string_view body, std::string_view allow = {}) {
  const bool noBody = status == 204;
  char number[24];
  out += "HTTP/1.1 ";
  out += std::to_string(status);
  out += ' ';
  out += reasonPhrase(status);
  out += "\r\nServer: duet\r\nDate: ";
  out += httpDate();
  out += "\r\n";
  if (!noBody) {
    out += "Content-Type: text/plain; charset=utf-8\r\nContent-Length: ";
    out.append(number,
               static_cast<size_t>(std::snprintf(number, sizeof number, "%zu", body.size())));
    out += "\r\n";
  }
  if (!r.keepAlive) out += "Connection: close\r\n";
  else if (r.http10) out += "Connection: keep-alive\r\n";
  if (!allow.empty()) {
    out += "Allow: ";
    out += allow;
    out += "\r\n";
  }
  out += "\r\n";
  if (!headRequest && !noBody) out += body;
}

// An error's body is its status line's text, as duet-http's errorResponse().
void appendError(std::string& out, int status, const Request& r, std::string_view allow = {}) {
  const std::string body = std::to_string(status) + " " + reasonPhrase(status) + "\n";
  appendResponse(out, status, r, r.method == "HEAD", body, allow);
}

// The route: /hello, and nothing else.
void answer(const Request& r, std::string& out) {
  if (r.path != "/hello") return appendError(out, 404, r);
  constexpr std::string_view kAllow = "GET, HEAD, OPTIONS";
  if (r.method == "GET" || r.method == "HEAD")
    return appendResponse(out, 200, r, r.method == "HEAD", kHelloBody);
  if (r.method == "OPTIONS") return appendResponse(out, 204, r, false, {}, kAllow);
  appendError(out, 405, r, kAllow);
}

// After the last response: send FIN, then read and drop what the client still
// sends until it closes (or kLinger passes). Closing at once with unread input
// would make the kernel send a reset, which can destroy our response in the
// client's receive buffer before it reads it.
void lingeringClose(int fd, Counters& c) {
  constexpr int kLingerSeconds = 5;
  ++c.syscalls;
  ::shutdown(fd, SHUT_WR);
  timeval tick{1, 0};  // one second per read, so the deadline below is checked
  ++c.syscalls;
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tick, sizeof tick);
  const time_t deadline = time(nullptr) + kLingerSeconds;
  char sink[4096];
  while (time(nullptr) < deadline) {
    ++c.syscalls;
    const ssize_t n = ::read(fd, sink, sizeof sink);
    if (n == 0 || (n < 0 && errno != EINTR && errno != EAGAIN)) break;
  }
}

// One connection, start to end, on its own thread.
void* serveConnection(void* arg) {
  const int fd = static_cast<int>(reinterpret_cast<intptr_t>(arg));
  Counters c;
  char in[kInputBytes];
  size_t begin = 0, end = 0;  // unread input is in[begin, end)
  uint64_t bodyToDrop = 0;    // of the last request, still to come
  bool closing = false;       // the response that ends the connection is in `out`
  std::string out;
  while (!closing) {
    // 1. Answer every complete request already read.
    for (;;) {
      const uint64_t drop = std::min<uint64_t>(bodyToDrop, end - begin);
      begin += drop;
      bodyToDrop -= drop;
      if (bodyToDrop > 0) break;
      while (end - begin >= 2 && in[begin] == '\r' && in[begin + 1] == '\n')
        begin += 2;  // empty lines
      const std::string_view pending(in + begin, end - begin);
      const size_t blank = pending.find("\r\n\r\n");
      if (blank == std::string_view::npos && pending.size() < kMaxHead)
        break;  // incomplete: read more
      Request r;
      if (blank == std::string_view::npos || blank + 4 > kMaxHead) {
        r.keepAlive = false;
        appendError(out, 431, r);
      } else {
        r = parseHead(pending.substr(0, blank + 2));
        if (r.errorStatus != 0) appendError(out, r.errorStatus, r);
        else answer(r, out);
        ++c.requests;
        begin += blank + 4;
        bodyToDrop = r.bodyBytes;
      }
      if (!r.keepAlive) {
        closing = true;
        break;
      }
    }
    // 2. Send the answers, all in one write.
    if (!out.empty()) {
      if (!writeAll(fd, out.data(), out.size(), c)) break;
      out.clear();
    }
    if (closing) {
      lingeringClose(fd, c);
      break;
    }
    // 3. Wait for more. What is left is less than kMaxHead (else it was
    //    answered above): move it to the front, there is room behind it.
    std::memmove(in, in + begin, end - begin);
    end -= begin;
    begin = 0;
    ++c.syscalls;
    const ssize_t n = ::read(fd, in + end, sizeof in - end);  // sleeps until the peer sends
    ++c.wakeups;
    if (n == 0) break;  // the peer closed (or stop() shut us down)
    if (n < 0) {
      if (errno == EINTR) continue;
      break;  // reset
    }
    ++c.events;
    c.bytesIn += static_cast<uint64_t>(n);
    end += static_cast<size_t>(n);
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
  CLI::App app{"duet-thread-http: one blocking thread per connection HTTP/1.1 server (GET /hello)"};
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
  // SIGTERM reach only the sigwait() below. A peer gone with a response in
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
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);  // small responses go out at once
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
        "accepted=%llu closed=%llu refused_no_thread=%llu refused_no_fd=%llu peak_threads=%zu "
        "requests=%llu\n",
        kName, static_cast<unsigned long long>(syscalls + t.syscalls),
        static_cast<unsigned long long>(t.wakeups), static_cast<unsigned long long>(t.events),
        static_cast<unsigned long long>(t.bytesIn), static_cast<unsigned long long>(t.bytesOut),
        static_cast<unsigned long long>(accepted + noDescriptor),
        static_cast<unsigned long long>(accepted + noDescriptor),
        static_cast<unsigned long long>(noThread), static_cast<unsigned long long>(noDescriptor),
        registry.peak(), static_cast<unsigned long long>(t.requests));
    std::fflush(stdout);
  }
  return 0;
}
