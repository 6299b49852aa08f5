#include "apps/http/http_server.h"

#include <unistd.h>

#include <sys/stat.h>
#include <algorithm>

#include "apps/http/date_cache.h"
#include "apps/http/http_coroutine.h"
#include "core/coro/serve.h"
#include "core/log.h"

namespace duet::http {

// A connection's HTTP state, stored in Connection::context(). It is the
// Transport of its HttpConnection: the protocol layer never sees a socket.
class HttpServer::Session final : public Transport, public std::enable_shared_from_this<Session> {
 public:
  Session(Connection& conn, const HttpContext& context, FileIo fileIo)
      : conn_(conn), fileIo_(fileIo), http_(*this, context) {}

  HttpConnection& http() { return http_; }
  Connection& connection() { return conn_; }

  // ---- Transport ----
  Buffer& input() override { return conn_.inputBuffer(); }
  void send(std::string&& bytes) override { conn_.send(std::move(bytes)); }
  std::size_t pendingOutputBytes() const override { return conn_.pendingOutputBytes(); }
  void shutdown() override { conn_.shutdown(); }
  void forceClose() override { conn_.forceClose(); }
  void stopReading() override { conn_.stopReading(); }
  void startReading() override { conn_.startReading(); }
  void defer(std::function<void()> task) override {
    // Only while the connection is open: once it is down, the Session is gone.
    conn_.loop().queueInLoop([weak = conn_.weak_from_this(), task = std::move(task)] {
      if (auto c = weak.lock(); c && !c->disconnected()) task();
    });
  }
  TimePoint now() const override { return conn_.loop().now(); }
  std::string_view date() override { return DateCache::forThisThread().now(); }
  std::string peerName() const override { return conn_.peer().toIpPort(); }
  bool sendsFiles() const override { return fileIo_ == FileIo::Sendfile; }
  void sendFile(const SharedFd& file, std::uint64_t offset, std::uint64_t length) override {
    conn_.sendFile(file, offset, length);
  }
  void readFile(const SharedFd& file, std::uint64_t offset, std::size_t length,
                FileReadCallback done) override {
    if (fileIo_ == FileIo::Loop) {
      Transport::readFile(file, offset, length, std::move(done));  // right here, on the loop thread
      return;
    }
    // The read may outlive this session (the connection closed meanwhile):
    // it holds the file itself, and its result is dropped unless we are
    // still here and open.
    conn_.loop().readFile(file, offset, length,
                          [weak = weak_from_this(), done = std::move(done)](FileReadResult result) {
                            // A closed connection's HttpConnection ignores it (onClosed ran).
                            if (auto self = weak.lock()) done(std::move(result));
                          });
  }

  // Intrusive list of the loop's sessions: two pointers per connection, no allocation.
  Session* prev = nullptr;
  Session* next = nullptr;

 private:
  Connection& conn_;  // owns us (through its context), so it outlives us
  const FileIo fileIo_;
  HttpConnection http_;
};

struct HttpServer::LoopSessions {
  EventLoop* loop = nullptr;
  TimerId sweepTimer;
  Session* head = nullptr;  // touched only on `loop`'s thread

  void link(Session* s) {
    s->next = head;
    if (head) head->prev = s;
    head = s;
  }
  void unlink(Session* s) {
    if (s->prev) s->prev->next = s->next;
    else head = s->next;
    if (s->next) s->next->prev = s->prev;
    s->prev = s->next = nullptr;
  }
};

const char* fileIoName(FileIo mode) {
  switch (mode) {
    case FileIo::Async:
      return "async";
    case FileIo::Loop:
      return "loop";
    case FileIo::Sendfile:
      return "sendfile";
  }
  return "?";
}

bool readsFilesAsynchronously(const HttpServerOptions& options) {
  return options.fileIo == FileIo::Async || options.fileIo == FileIo::Sendfile;
}

namespace {

// The sweep runs often enough that every timeout fires within a quarter of
// its length, and at least once a second.
Duration sweepPeriod(const HttpLimits& l) {
  const Duration shortest =
      std::min({l.headerTimeout, l.keepAliveTimeout, l.sendTimeout, l.lingerTimeout});
  return std::clamp<Duration>(shortest / 4, std::chrono::milliseconds(5), std::chrono::seconds(1));
}

void writeAccessLog(const std::string& peer, const HttpRequest& request, int status,
                    std::uint64_t bytes) {
  std::string line;
  line.reserve(96 + request.target.size());
  line += peer;
  line += " \"";
  if (request.errorStatus != 0) {
    line += "-";
  } else {
    line += request.methodName;
    line += ' ';
    line += request.target;
    line += request.isHttp10() ? " HTTP/1.0" : " HTTP/1.1";
  }
  line += "\" ";
  line += std::to_string(status);
  line += ' ';
  line += std::to_string(bytes);
  line += '\n';
  // One write(2) per line: lines from several loops never interleave.
  [[maybe_unused]] const ssize_t n = ::write(STDOUT_FILENO, line.data(), line.size());
}

}  // namespace

HttpServer::HttpServer(EventLoop& baseLoop, HttpServerOptions options)
    : baseLoop_(baseLoop),
      options_(std::move(options)),
      router_(RouterOptions{.root = options_.root,
                            .statsJson = [this] { return statsJson(); },
                            // Asynchronous reads leave no file to read inline on the
                            // loop (either API: both read bodies with the loop's readFile).
                            .inlineFileLimit = readsFilesAsynchronously(options_)
                                                   ? std::size_t{0}
                                                   : std::size_t{64 * 1024},
                            .readFromForTesting = options_.readFromForTesting}) {
  context_.router = &router_;
  context_.limits = options_.limits;
  if (options_.accessLog) context_.accessLog = writeAccessLog;

  // The high-water mark is the point where we stop producing output.
  options_.tcp.highWaterMark = options_.limits.outputHighWater;
  if (options_.api == app::ApiStyle::Coroutines) {
    // The coroutine waits for the next request in a plain read(): the
    // engine's idle eviction enforces keepAliveTimeout (http_coroutine.cc
    // says why), unless a shorter --idle-timeout already does. It also
    // closes a peer that stopped reading once nothing moved for that long.
    Duration& idle = options_.tcp.idleTimeout;
    if (idle == Duration::zero() || options_.limits.keepAliveTimeout < idle)
      idle = options_.limits.keepAliveTimeout;
    tcp_ = std::make_unique<TcpServer>(
        baseLoop_, options_.tcp, coro::serve([this](coro::Stream conn) {
          return serveHttpConnection(std::move(conn), context_, readsFilesAsynchronously(options_));
        }));
    return;
  }

  ConnectionCallbacks callbacks;
  callbacks.onConnection = [this](const ConnectionPtr& conn) { onConnection(conn); };
  callbacks.onMessage = [](const ConnectionPtr& conn, Buffer&) {
    if (auto* s = std::any_cast<std::shared_ptr<Session>>(&conn->context())) (*s)->http().onInput();
  };
  callbacks.onWriteComplete = [](const ConnectionPtr& conn) {
    if (auto* s = std::any_cast<std::shared_ptr<Session>>(&conn->context()))
      (*s)->http().onWriteComplete();
  };
  callbacks.onHighWaterMark = [](const ConnectionPtr& conn, std::size_t bytes) {
    // Nothing to do: HttpConnection checks pendingOutputBytes() before every
    // response and every file chunk, and resumes on onWriteComplete. The mark
    // (limits.outputHighWater) is where it stops; this only makes it visible.
    DUET_LOG(Debug) << "http: connection #" << conn->id() << ": " << bytes
                    << " bytes of output pending";
  };
  tcp_ = std::make_unique<TcpServer>(baseLoop_, options_.tcp, std::move(callbacks));
}

HttpServer::~HttpServer() {
  // Stop our sweep on the base loop before the TcpServer closes what is left.
  // (The I/O loops' timers went away with their loops in stop().)
  for (auto& ls : loops_) {
    if (ls->loop == &baseLoop_ && ls->sweepTimer) baseLoop_.cancel(ls->sweepTimer);
  }
  tcp_.reset();
}

bool HttpServer::start(std::string* error) {
  if (!options_.root.empty()) {
    struct stat st {};
    if (!router_.hasStaticFiles() || !router_.staticFiles()->valid() ||
        ::stat(options_.root.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
      if (error) *error = "--root " + options_.root + ": not a directory we can read";
      return false;
    }
  }
  return tcp_->start(error);
}

void HttpServer::stop(std::function<void()> onStopped) {
  tcp_->stop([this, onStopped = std::move(onStopped)] {
    std::lock_guard lock(sessionsMutex_);
    for (auto& ls : loops_) {
      if (ls->loop == &baseLoop_ && ls->sweepTimer) {
        baseLoop_.cancel(ls->sweepTimer);
        ls->sweepTimer = TimerId{};
      }
    }
    if (onStopped) onStopped();
  });
}

HttpServer::LoopSessions& HttpServer::sessionsOf(EventLoop& loop) {
  // Once per connection, and uncontended but for the first connection of
  // each loop: cheap next to the accept it follows.
  std::lock_guard lock(sessionsMutex_);
  for (auto& ls : loops_) {
    if (ls->loop == &loop) return *ls;
  }
  auto ls = std::make_unique<LoopSessions>();
  ls->loop = &loop;
  LoopSessions* raw = ls.get();
  // We are on `loop`'s thread (onConnection runs there), so the timer is armed now.
  raw->sweepTimer = loop.runEvery(sweepPeriod(options_.limits), [this, raw] { sweep(*raw); });
  loops_.push_back(std::move(ls));
  return *raw;
}

void HttpServer::onConnection(const ConnectionPtr& conn) {
  if (conn->connected()) {
    auto session = std::make_shared<Session>(*conn, context_, options_.fileIo);
    sessionsOf(conn->loop()).link(session.get());
    conn->context() = std::move(session);
    return;
  }
  auto* held = std::any_cast<std::shared_ptr<Session>>(&conn->context());
  if (!held) return;
  std::shared_ptr<Session> session = std::move(*held);
  conn->context().reset();
  sessionsOf(conn->loop()).unlink(session.get());
  session->http().onClosed();
  // The close may have been reported from inside one of this session's own
  // calls (e.g. shutdown() closing at once because the peer already left):
  // free it after the current callback has returned, not under its feet.
  conn->loop().queueInLoop([session = std::move(session)] {});
}

void HttpServer::sweep(LoopSessions& sessions) {
  // Copy first: a timeout may close a connection, which unlinks its session.
  std::vector<std::shared_ptr<Session>> all;
  for (Session* s = sessions.head; s != nullptr; s = s->next) all.push_back(s->shared_from_this());
  for (const auto& s : all) {
    if (!s->connection().disconnected()) s->http().onTimer();
  }
}

std::string HttpServer::statsJson() const {
  std::string out = "{\"loops\":[";
  bool first = true;
  for (EventLoop* loop : tcp_->loops()) {
    if (!first) out += ',';
    first = false;
    out += "{\"name\":\"";
    out += loop->name();
    out += "\",\"stats\":";
    // Counters of other loops are relaxed atomics: safe to read from here.
    out += loop->stats().toJson(loop->mode());
    out += '}';
  }
  out += "]}";
  return out;
}

}  // namespace duet::http
