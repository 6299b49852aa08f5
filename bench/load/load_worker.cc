#include "load_worker.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>

#include "echo_pattern.h"

namespace duetload {

int64_t nowNs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

void Counters::add(const Counters& o) {
  connected += o.connected;
  connectRefused += o.connectRefused;
  connectTimeout += o.connectTimeout;
  connectOther += o.connectOther;
  messages += o.messages;
  responseBytes += o.responseBytes;
  warmupMessages += o.warmupMessages;
  mismatches += o.mismatches;
  badStatus += o.badStatus;
  protocolErrors += o.protocolErrors;
  drainTimeouts += o.drainTimeouts;
  reset += o.reset;
  eof += o.eof;
  shortEof += o.shortEof;
  otherErrors += o.otherErrors;
  roundTrips += o.roundTrips;
  serverClosedFirst += o.serverClosedFirst;
}

void GroupStats::add(const GroupStats& o) {
  hist.merge(o.hist);
  messages += o.messages;
  responseBytes += o.responseBytes;
  badStatus += o.badStatus;
  failures += o.failures;
}

namespace {

bool retryableConnectError(int err) {
  // ECONNREFUSED: the server is not listening yet or its backlog overflowed;
  // EAGAIN: loopback ran out of ephemeral ports for a moment.
  return err == ECONNREFUSED || err == EAGAIN || err == ETIMEDOUT || err == ECONNRESET;
}

in_addr hostAddress(const std::string& host) {
  in_addr a{};
  if (inet_pton(AF_INET, host.c_str(), &a) != 1) a.s_addr = 0;
  return a;
}

// Churn: how long a slot waits before reconnecting after a failed cycle, so a
// server that refuses or resets everything is not hammered in a tight loop.
constexpr int64_t kRetryDelayNs = 10'000'000;
// iovecs per write(): well under IOV_MAX (1024). A message takes at most two, so one write()
// carries up to 128 messages; with more in flight (-k) the rest go in the next one.
constexpr size_t kMaxIovecs = 256;

}  // namespace

LoadWorker::LoadWorker(const Config& cfg, Shared& shared, const std::vector<int>& share,
                       const std::vector<uint32_t>& firstIds, double threadRate)
    : cfg_(cfg),
      shared_(shared),
      byTarget_(cfg.targets.size()),
      hist_(cfg.targets.size()),
      counters_(cfg.targets.size()),
      groups_(cfg.targets.size(), std::vector<GroupStats>(cfg.pathGroups().size())),
      sources_(hostAddress(cfg.host)),
      inEvents_(EPOLLIN | (cfg.churn ? EPOLLRDHUP : 0u)),
      threadRate_(threadRate) {
  const std::vector<PathGroup> paths = cfg.pathGroups();
  // A connection's group follows from its index within its target (ids are
  // t * connections + index), the same in every thread: see spreadGroups.
  const std::vector<int> groupOfIndex = spreadGroups(paths);
  for (size_t t = 0; t < share.size(); ++t) {
    for (int i = 0; i < share[t]; ++i) {
      Conn c;
      c.id = firstIds[t] + static_cast<uint32_t>(i);
      c.target = static_cast<int>(t);
      const size_t index = c.id - t * static_cast<size_t>(cfg.connections);
      c.group = index < groupOfIndex.size() ? groupOfIndex[index] : 0;
      byTarget_[t].push_back(conns_.size());
      conns_.push_back(std::move(c));
    }
  }
  if (cfg.http()) {
    for (const PathGroup& g : paths) {
      std::string request = "GET " + g.path + " HTTP/1.1\r\nHost: " + cfg.host + "\r\n";
      if (cfg.churn)
        request += "Connection: close\r\n";  // one request per connection, and the server knows it
      requests_.push_back(request + "\r\n");
    }
  }
  in_addr host{};
  if (inet_pton(AF_INET, cfg.host.c_str(), &host) == 1) {
    for (const Target& t : cfg.targets) {
      sockaddr_in a{};
      a.sin_family = AF_INET;
      a.sin_port = htons(t.port);
      a.sin_addr = host;
      addrs_.push_back(a);
    }
  }
  size_t largest = cfg.http() ? 0 : cfg.size;
  for (const auto& r : requests_) largest = std::max(largest, r.size());
  // Big enough to write every in-flight message of a connection in one call.
  const size_t io = std::max<size_t>(256 * 1024, largest);
  sendCap_ = io;
  recvBuf_.resize(io);
  if (!cfg.http()) pattern_ = EchoPattern(io);
  iov_.reserve(kMaxIovecs);
  keys_.resize(kMaxIovecs / 2);  // a message takes at most two iovecs: its key and its body
}

LoadWorker::~LoadWorker() { closeAll(); }

void LoadWorker::run() {
  ep_ = epoll_create1(EPOLL_CLOEXEC);
  if (ep_ < 0) std::perror("epoll_create1");
  if (addrs_.empty()) std::fprintf(stderr, "duet-load: bad IPv4 address '%s'\n", cfg_.host.c_str());
  ready_ = ep_ >= 0 && !addrs_.empty();
  if (!ready_) {
    for (auto& c : conns_) ++counters_[static_cast<size_t>(c.target)].connectOther;
  } else if (!cfg_.churn && !cfg_.connectPerSlice) {
    // Connections live through the whole run. (Churn opens its own per
    // cycle; --connect-per-slice opens a target's at each of its slices.)
    std::vector<size_t> all(conns_.size());
    for (size_t i = 0; i < all.size(); ++i) all[i] = i;
    connectSet(all);
  }
  shared_.connectedWorkers.fetch_add(1);
  shared_.connectedWorkers.notify_all();

  // Wait for the conductor to start (or to give up).
  int phase;
  while ((phase = shared_.phase.load()) == Shared::kConnecting) shared_.phase.wait(phase);

  if (phase == Shared::kRun && cfg_.hold && ready_) {
    runHold();
  } else if (phase == Shared::kRun && !cfg_.hold) {
    runSlices();  // even when not ready: the conductor counts on every worker at every slice
  } else {
    shared_.readyWorkers.fetch_add(1);
  }
  closeAll();
}

// ---- Connecting -------------------------------------------------------------
// Non-blocking connects, at most kParallel outstanding per worker: firing
// 10,000 SYNs at once overflows the server's accept backlog and the dropped
// ones only come back after the kernel's 1 s SYN retransmit.
uint64_t LoadWorker::connectSet(const std::vector<size_t>& which) {
  constexpr size_t kParallel = 256;
  const int64_t deadline = nowNs() + static_cast<int64_t>(cfg_.connectTimeout * 1e9);
  struct Retry {
    size_t idx;
    int64_t at;
    int lastErr;
  };
  std::deque<Retry> todo;
  for (size_t i : which) todo.push_back({i, 0, 0});
  size_t pending = 0;
  uint64_t up = 0;
  std::vector<epoll_event> events(kParallel);

  auto start = [&](size_t idx) -> int {  // returns 0, EINPROGRESS or an errno
    Conn& c = conns_[idx];
    freshStream(c);
    c.fd = openSocket();
    if (c.fd < 0) return errno;
    const sockaddr_in& addr = addrs_[static_cast<size_t>(c.target)];
    if (connect(c.fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) == 0) return 0;
    return errno;
  };
  auto established = [&](size_t idx) {
    Conn& c = conns_[idx];
    epoll_event ev{};
    ev.events = inEvents_;
    ev.data.u64 = idx;
    epoll_ctl(ep_, EPOLL_CTL_MOD, c.fd, &ev);
    c.up = true;
    c.out = false;
    ++counters_[static_cast<size_t>(c.target)].connected;
    ++alive_;
    ++up;
  };
  auto failed = [&](size_t idx, int err, int64_t now) {
    Conn& c = conns_[idx];
    if (c.fd >= 0) {
      close(c.fd);
      c.fd = -1;
    }  // closing also drops it from epoll
    Counters& k = counters_[static_cast<size_t>(c.target)];
    if (retryableConnectError(err) && now < deadline) {
      todo.push_back({idx, now + 20'000'000, err});  // retry in 20 ms
    } else if (err == ECONNREFUSED) {
      ++k.connectRefused;
    } else {
      ++k.connectOther;
      std::fprintf(stderr, "duet-load: connect: %s\n", std::strerror(err));
    }
  };

  while (!todo.empty() || pending > 0) {
    int64_t now = nowNs();
    if (now >= deadline) break;
    while (pending < kParallel && !todo.empty() && todo.front().at <= now) {
      const size_t idx = todo.front().idx;
      todo.pop_front();
      const int r = start(idx);
      if (r == 0 || r == EINPROGRESS) {
        epoll_event ev{};
        ev.events = EPOLLOUT;
        ev.data.u64 = idx;
        epoll_ctl(ep_, EPOLL_CTL_ADD, conns_[idx].fd, &ev);
        if (r == 0) established(idx);
        else ++pending;
      } else {
        failed(idx, r, now);
      }
    }
    const int n = epoll_wait(ep_, events.data(), static_cast<int>(events.size()), 10);
    now = nowNs();
    for (int i = 0; i < n; ++i) {
      const size_t idx = events[static_cast<size_t>(i)].data.u64;
      // The epoll set also holds connections that are already up (this
      // target's earlier ones, other targets'). A server that closes them
      // now (one that died: out of threads) makes them readable, again and
      // again: that is no connect completing. They are seen when loading.
      if (conns_[idx].fd < 0 || conns_[idx].up) continue;
      int err = 0;
      socklen_t len = sizeof err;
      getsockopt(conns_[idx].fd, SOL_SOCKET, SO_ERROR, &err, &len);
      --pending;
      if (err == 0) established(idx);
      else failed(idx, err, now);
    }
  }
  // Whatever is left at the deadline never made it.
  for (auto& r : todo) {
    Counters& k = counters_[static_cast<size_t>(conns_[r.idx].target)];
    if (r.lastErr == ECONNREFUSED) ++k.connectRefused;
    else ++k.connectTimeout;
  }
  for (auto& c : conns_) {  // connects still in progress at the deadline
    if (c.fd >= 0 && !c.up) {
      close(c.fd);
      c.fd = -1;
      ++counters_[static_cast<size_t>(c.target)].connectTimeout;
    }
  }
  return up;
}

int LoadWorker::openSocket() {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  int one = 1;  // ping-pong of small messages: never wait for Nagle
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  sources_.bindNext(fd);
  return fd;
}

void LoadWorker::freshStream(Conn& c) {
  c.sendOff = 0;
  c.recvOff = 0;
  c.bad = false;
  c.peerClosed = false;
  c.http = HttpResponseReader();
  if (cfg_.churn) c.http.allowBodyUntilClose();  // nothing follows the one response
}

// A connect completes when the kernel has the handshake, not when the server
// has accepted the connection: 10,000 fresh connections may wait in the
// accept queue for a while. One unmeasured round trip on each proves the
// server holds every one of them before the slice's warmup starts.
uint64_t LoadWorker::connectAndGreet(int target) {
  const auto& mine = byTarget_[static_cast<size_t>(target)];
  connectSet(mine);
  active_ = target;
  measureStart_ = measureEnd_ = 0;  // nothing is measured or replaced
  const int64_t now = nowNs();
  for (size_t idx : mine) {
    Conn& c = conns_[idx];
    if (c.fd < 0) continue;
    makeDue(c, now);
    trySend(c);
  }
  pump(now + static_cast<int64_t>(cfg_.connectTimeout * 1e9), [this] { return inFlight_ == 0; });
  uint64_t up = 0;
  for (size_t idx : mine) {
    Conn& c = conns_[idx];
    if (c.fd >= 0 && c.recvSeq < c.dueSeq) {  // never answered: as good as never connected
      ++counters_[static_cast<size_t>(target)].connectTimeout;
      fail(c, ETIMEDOUT, false);
    }
    if (c.fd >= 0) ++up;
  }
  active_ = -1;
  return up;
}

void LoadWorker::closeTarget(int target) {
  for (size_t idx : byTarget_[static_cast<size_t>(target)]) {
    Conn& c = conns_[idx];
    if (c.fd < 0) continue;
    close(c.fd);
    c.fd = -1;
    c.up = false;
    c.out = false;
    --alive_;
  }
}

// ---- Churn: connect, one request, the whole reply, close --------------------
// The cycle is one message in flight from the moment its connect starts, so
// its latency covers the handshake and the drain waits for connects too.
void LoadWorker::startCycle(Conn& c, int64_t now) {
  freshStream(c);
  makeDue(c, now);
  c.fd = openSocket();
  if (c.fd < 0) {
    connectFailed(c, errno, now);
    return;
  }
  const sockaddr_in& addr = addrs_[static_cast<size_t>(c.target)];
  const int r =
      connect(c.fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) == 0 ? 0 : errno;
  if (r != 0 && r != EINPROGRESS) {
    connectFailed(c, r, now);
    return;
  }
  epoll_event ev{};
  ev.events = EPOLLOUT;  // writable = connected (or failed: EPOLLERR comes regardless)
  ev.data.u64 = static_cast<uint64_t>(&c - conns_.data());
  epoll_ctl(ep_, EPOLL_CTL_ADD, c.fd, &ev);
  c.out = true;
  c.connecting = true;
  if (r == 0) onConnectDone(c, now);
}

void LoadWorker::onConnectDone(Conn& c, int64_t now) {
  int err = 0;
  socklen_t len = sizeof err;
  getsockopt(c.fd, SOL_SOCKET, SO_ERROR, &err, &len);
  if (err != 0) {
    connectFailed(c, err, now);
    return;
  }
  c.connecting = false;
  c.up = true;
  ++counters_[static_cast<size_t>(c.target)].connected;
  trySend(c);  // the request; setOut() then switches the interest to reading
}

void LoadWorker::connectFailed(Conn& c, int err, int64_t now) {
  Counters& k = counters_[static_cast<size_t>(c.target)];
  if (err == ECONNREFUSED) {
    ++k.connectRefused;
  } else if (err == ETIMEDOUT) {
    ++k.connectTimeout;
  } else if (k.connectOther++ == 0) {
    std::fprintf(stderr, "duet-load: port %u: connect: %s\n",
                 cfg_.targets[static_cast<size_t>(c.target)].port, std::strerror(err));
  }
  ++groups_[static_cast<size_t>(c.target)][static_cast<size_t>(c.group)].failures;
  progressErrors.fetch_add(1, std::memory_order_relaxed);
  if (c.fd >= 0) close(c.fd);
  c.fd = -1;
  c.connecting = false;
  c.up = false;
  c.out = false;
  // The request was never sent: the cycle leaves flight without a reply.
  inFlight_ -= c.dueSeq - c.recvSeq;
  c.recvSeq = c.sendSeq = c.dueSeq;
  c.stamps.clear();
  retryLater(c, now);
}

// The reply is complete (and checked): close our end and start over. The
// close is an ordinary FIN (see source_address.h for why that cannot run
// the ports out).
void LoadWorker::endCycle(Conn& c, int64_t now) {
  if (c.peerClosed && c.target == active_ && now >= measureStart_ && now < measureEnd_)
    ++counters_[static_cast<size_t>(c.target)].serverClosedFirst;
  close(c.fd);
  c.fd = -1;
  c.up = false;
  c.out = false;
  if (windowOpenFor(c, now)) startCycle(c, now);
}

void LoadWorker::retryLater(Conn& c, int64_t now) {
  if (windowOpenFor(c, now))
    retries_.emplace_back(now + kRetryDelayNs, static_cast<size_t>(&c - conns_.data()));
}

// ---- Slices -----------------------------------------------------------------
void LoadWorker::runSlices() {
  uint64_t seen = 0;
  auto nextPublication = [&] {  // false: the run is over
    uint64_t gen;
    while ((gen = shared_.sliceGen.load(std::memory_order_acquire)) == seen)
      shared_.sliceGen.wait(gen);
    seen = gen;
    return shared_.phase.load() != Shared::kStop;
  };
  for (;;) {
    if (!nextPublication()) return;
    const int target = shared_.sliceTarget;
    if (cfg_.connectPerSlice) {
      // Open this target's connections before its window is even set: the
      // conductor starts the warmup clock once every worker is connected.
      const uint64_t up = ready_ ? connectAndGreet(target) : 0;
      shared_.sliceConnections.fetch_add(up);
      shared_.sliceConnectedWorkers.fetch_add(1);
      shared_.sliceConnectedWorkers.notify_all();
      if (!nextPublication()) return;
    }
    if (ready_) runSlice(target, shared_.measureStart, shared_.measureEnd);
    if (cfg_.connectPerSlice) closeTarget(target);
    shared_.drainedWorkers.fetch_add(1);
    shared_.drainedWorkers.notify_all();
  }
}

// Load one target: start its connections, keep them busy until the window
// closes, then stop adding messages and wait for the ones in flight, so the
// next target starts from a quiet system and every answer is checked.
void LoadWorker::runSlice(int target, int64_t measureStart, int64_t measureEnd) {
  active_ = target;
  measureStart_ = measureStart;
  measureEnd_ = measureEnd;
  const auto& mine = byTarget_[static_cast<size_t>(target)];
  const int64_t start = nowNs();
  if (cfg_.churn) {
    for (size_t idx : mine) startCycle(conns_[idx], start);
  } else if (threadRate_ > 0) {
    scheduling_ = true;
    nextDue_ = start;
  } else {
    for (size_t idx : mine) {  // closed loop: K messages due from the start
      Conn& c = conns_[idx];
      if (c.fd < 0) continue;
      for (int k = 0; k < cfg_.inflight; ++k) makeDue(c, start);
      trySend(c);
    }
  }
  pump(measureEnd, [] { return false; });
  scheduling_ = false;

  // Drain. complete() no longer replaces messages (the window is closed).
  const int64_t drainDeadline = nowNs() + static_cast<int64_t>(cfg_.drainTimeout * 1e9);
  pump(drainDeadline, [this] { return inFlight_ == 0; });
  if (inFlight_ > 0) {
    for (size_t idx : mine) {
      Conn& c = conns_[idx];
      if (c.fd >= 0 && c.recvSeq < c.dueSeq) {
        ++counters_[static_cast<size_t>(target)].drainTimeouts;
        fail(c, ETIMEDOUT, false);
      }
    }
  }
  retries_.clear();  // churn: slots waiting to reconnect wait for the target's next slice
  active_ = -1;
}

// Hold mode: one round trip per connection, then idle until told to stop; the
// idle loop still watches the sockets so resets during the hold are counted.
void LoadWorker::runHold() {
  active_ = 0;
  measureStart_ = measureEnd_ = 0;  // nothing is measured
  for (auto& c : conns_)
    if (c.fd >= 0) {
      makeDue(c, nowNs());
      trySend(c);
    }
  pump(nowNs() + static_cast<int64_t>(cfg_.connectTimeout * 1e9),
       [this] { return inFlight_ == 0; });
  shared_.readyWorkers.fetch_add(1);
  pump(INT64_MAX,
       [this] { return shared_.phase.load(std::memory_order_relaxed) == Shared::kStop; });
}

// ---- Event loop -------------------------------------------------------------
template <class Done>
void LoadWorker::pump(int64_t until, Done done) {
  std::vector<epoll_event> events(1024);
  const int64_t interval = threadRate_ > 0 ? static_cast<int64_t>(1e9 / threadRate_) : 0;
  const auto& mine = active_ >= 0 ? byTarget_[static_cast<size_t>(active_)] : byTarget_[0];
  for (;;) {
    const int64_t now = nowNs();
    if (now >= until || done()) break;
    if (!cfg_.churn && alive_ == 0 && until != INT64_MAX)
      break;  // churn reconnects: never "all dead"

    // Churn: slots whose cycle failed reconnect once their delay is over.
    while (!retries_.empty() && retries_.front().first <= now) {
      Conn& c = conns_[retries_.front().second];
      retries_.pop_front();
      if (c.fd < 0 && windowOpenFor(c, now)) startCycle(c, now);
    }

    // Open loop: make every message whose scheduled time has come due, on the
    // connections in turn. Its latency is counted from the schedule, not from
    // when we managed to write it, so a server that falls behind shows as
    // latency instead of silently lowering the offered load.
    if (scheduling_) {
      while (nextDue_ <= now && nextDue_ < measureEnd_) {
        Conn* c = nullptr;
        for (size_t tries = 0; tries < mine.size() && !c; ++tries) {
          Conn& cand = conns_[mine[rr_++ % mine.size()]];
          if (cand.fd >= 0) c = &cand;
        }
        if (!c) break;
        makeDue(*c, nextDue_);
        trySend(*c);
        nextDue_ += interval;
      }
    }

    int64_t waitNs = std::min<int64_t>(until - now, 100'000'000);
    if (scheduling_) waitNs = std::min<int64_t>(waitNs, std::max<int64_t>(0, nextDue_ - now));
    if (!retries_.empty())
      waitNs = std::min<int64_t>(waitNs, std::max<int64_t>(0, retries_.front().first - now));
    timespec ts{static_cast<time_t>(waitNs / 1'000'000'000),
                static_cast<long>(waitNs % 1'000'000'000)};
    const int n = epoll_pwait2(ep_, events.data(), static_cast<int>(events.size()), &ts, nullptr);
    if (n < 0) {
      if (errno == EINTR) continue;
      std::perror("epoll_pwait2");
      break;
    }
    for (int i = 0; i < n; ++i) {
      const epoll_event& ev = events[static_cast<size_t>(i)];
      Conn& c = conns_[ev.data.u64];
      if (c.fd < 0) continue;  // closed earlier in this batch
      if (c.connecting) {
        onConnectDone(c, nowNs());
        continue;
      }
      if (ev.events & EPOLLRDHUP) c.peerClosed = true;
      if (ev.events & (EPOLLIN | EPOLLERR | EPOLLHUP)) onReadable(c);
      if (c.fd >= 0 && (ev.events & EPOLLOUT)) trySend(c);
    }
  }
}

void LoadWorker::makeDue(Conn& c, int64_t stamp) {
  c.stamps.push_back(stamp);
  ++c.dueSeq;
  ++inFlight_;
}

void LoadWorker::setOut(Conn& c, bool on) {
  if (c.out == on) return;
  epoll_event ev{};
  ev.events = inEvents_ | (on ? EPOLLOUT : 0u);
  ev.data.u64 = static_cast<uint64_t>(&c - conns_.data());
  epoll_ctl(ep_, EPOLL_CTL_MOD, c.fd, &ev);
  c.out = on;
}

size_t LoadWorker::gatherRequests(const Conn& c, uint64_t limit) {
  const size_t size = requestSize(c);
  iov_.clear();
  size_t n = 0;
  size_t messages = 0;
  uint64_t seq = c.sendSeq;
  size_t off = c.sendOff;
  while (seq < limit && n < sendCap_ && iov_.size() + 2 <= kMaxIovecs) {
    const size_t len = std::min(size - off, sendCap_ - n);
    if (cfg_.http()) {
      const std::string& request = requests_[static_cast<size_t>(c.group)];
      iov_.push_back({const_cast<char*>(request.data()) + off, len});  // writev only reads it
    } else {
      pattern_.appendIovecs(iov_, &keys_[messages++], c.id, seq, off, len);
    }
    n += len;
    off += len;
    if (off == size) {
      ++seq;
      off = 0;
    }
  }
  return n;
}

// Writes as many due messages as the in-flight cap allows, several per
// write() when they fit: the client should cost as few system calls as the
// protocol allows, so that it is not the bottleneck. The bytes go out from
// where they already are (the echo pattern's layout, the HTTP request), so a
// short write costs nothing to resume.
void LoadWorker::trySend(Conn& c) {
  const size_t size = requestSize(c);
  for (;;) {
    const uint64_t limit = std::min(c.dueSeq, c.recvSeq + static_cast<uint64_t>(cfg_.inflight));
    if (c.sendSeq >= limit) break;
    const size_t n = gatherRequests(c, limit);
    const ssize_t w = writev(c.fd, iov_.data(), static_cast<int>(iov_.size()));
    if (w < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK) break;
      if (errno == EINTR) continue;
      fail(c, errno, false);
      return;
    }
    size_t done = static_cast<size_t>(w);
    // Advance (sendSeq, sendOff) by the bytes the kernel took.
    c.sendSeq += (c.sendOff + done) / size;
    c.sendOff = (c.sendOff + done) % size;
    if (done < n) break;  // socket buffer full: wait for EPOLLOUT
  }
  const uint64_t limit = std::min(c.dueSeq, c.recvSeq + static_cast<uint64_t>(cfg_.inflight));
  setOut(c, c.sendSeq < limit);
}

void LoadWorker::onReadable(Conn& c) {
  const ssize_t r = read(c.fd, recvBuf_.data(), recvBuf_.size());
  if (r == 0) {
    // Churn over HTTP: a body without Content-Length ends at the server's close.
    if (cfg_.churn && c.http.finishAtClose()) {
      const int64_t now = nowNs();
      c.peerClosed = true;
      complete(c, now, c.http.status() == 200, c.http.bytes());
      endCycle(c, now);
      return;
    }
    fail(c, 0, true);
    return;
  }
  if (r < 0) {
    if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) return;
    fail(c, errno, false);
    return;
  }
  const int64_t now = nowNs();  // after the read: the message is back when we have its bytes
  if (cfg_.http()) readHttp(c, recvBuf_.data(), static_cast<size_t>(r), now);
  else readEcho(c, recvBuf_.data(), static_cast<size_t>(r), now);
  if (c.fd < 0) return;
  if (cfg_.churn && c.recvSeq == c.dueSeq) {  // the one reply is in: this cycle is done
    endCycle(c, now);
    return;
  }
  trySend(c);
}

void LoadWorker::readEcho(Conn& c, const char* p, size_t left, int64_t now) {
  const size_t size = cfg_.size;
  while (left > 0) {
    // More bytes than we have written means the server invented some.
    const bool sent = c.recvSeq < c.sendSeq || (c.recvSeq == c.sendSeq && c.recvOff < c.sendOff);
    if (!sent) {
      ++counters_[static_cast<size_t>(c.target)].mismatches;
      fail(c, EPROTO, false);
      return;
    }
    const size_t limit = c.recvSeq < c.sendSeq ? size : c.sendOff;
    const size_t len = std::min(left, limit - c.recvOff);
    if (!pattern_.matches(p, c.id, c.recvSeq, c.recvOff, len)) c.bad = true;
    p += len;
    left -= len;
    c.recvOff += len;
    if (c.recvOff < size) continue;
    const bool ok = !c.bad;
    c.bad = false;
    c.recvOff = 0;
    complete(c, now, ok, size);
  }
}

void LoadWorker::readHttp(Conn& c, const char* p, size_t len, int64_t now) {
  size_t off = 0;
  while (off < len) {
    // A response can only follow a request we wrote whole.
    if (c.recvSeq >= c.sendSeq && c.http.idle()) {
      ++counters_[static_cast<size_t>(c.target)].mismatches;
      fail(c, EPROTO, false);
      return;
    }
    const auto result = c.http.feed(p + off, len - off, off);
    if (result == HttpResponseReader::Result::kError) {
      Counters& k = counters_[static_cast<size_t>(c.target)];
      if (k.protocolErrors++ == 0)
        std::fprintf(stderr, "duet-load: port %u: %s\n",
                     cfg_.targets[static_cast<size_t>(c.target)].port, c.http.error().c_str());
      fail(c, EPROTO, false);
      return;
    }
    if (result == HttpResponseReader::Result::kComplete)
      complete(c, now, c.http.status() == 200, c.http.bytes());
  }
}

// One message (echo) or response (HTTP) is back whole.
void LoadWorker::complete(Conn& c, int64_t now, bool ok, size_t bytes) {
  const int64_t sentAt = c.stamps.front();
  c.stamps.pop_front();
  ++c.recvSeq;
  --inFlight_;
  const auto t = static_cast<size_t>(c.target);
  Counters& k = counters_[t];
  GroupStats& g = groups_[t][static_cast<size_t>(c.group)];
  if (!ok) {
    if (cfg_.http()) {
      ++k.badStatus;
      ++g.badStatus;
    } else {
      ++k.mismatches;
    }
    progressErrors.fetch_add(1, std::memory_order_relaxed);
  } else if (c.target == active_ && now >= measureStart_ && now < measureEnd_) {
    hist_[t].record(static_cast<uint64_t>(now - sentAt));
    g.hist.record(static_cast<uint64_t>(now - sentAt));
    ++k.messages;
    k.responseBytes += bytes;
    ++g.messages;
    g.responseBytes += bytes;
  } else if (now < measureStart_) {
    ++k.warmupMessages;
  }
  if (cfg_.hold) ++k.roundTrips;
  progressMessages.fetch_add(1, std::memory_order_relaxed);
  // Closed loop: replace it while the window is open.
  // (Churn replaces the whole connection instead: endCycle.)
  if (!cfg_.hold && !cfg_.churn && threadRate_ <= 0 && windowOpenFor(c, now)) makeDue(c, now);
}

void LoadWorker::fail(Conn& c, int err, bool eof) {
  Counters& k = counters_[static_cast<size_t>(c.target)];
  if (eof) {
    if (c.recvOff > 0 || !c.http.idle()) ++k.shortEof;
    else ++k.eof;
  } else if (err == ECONNRESET || err == EPIPE) {
    ++k.reset;
  } else if (err != EPROTO && err != ETIMEDOUT) {  // EPROTO, ETIMEDOUT: already counted by kind
    ++k.otherErrors;
  }
  ++groups_[static_cast<size_t>(c.target)][static_cast<size_t>(c.group)].failures;
  progressErrors.fetch_add(1, std::memory_order_relaxed);
  close(c.fd);
  c.fd = -1;
  c.up = false;
  c.out = false;
  inFlight_ -= c.dueSeq - c.recvSeq;
  c.recvSeq = c.sendSeq = c.dueSeq;
  c.stamps.clear();
  if (cfg_.churn) {
    retryLater(c, nowNs());  // a slot never dies: it reconnects after a pause
  } else {
    --alive_;
  }
}

void LoadWorker::closeAll() {
  for (auto& c : conns_) {
    if (c.fd >= 0) {
      close(c.fd);
      c.fd = -1;
    }
  }
  retries_.clear();
  if (ep_ >= 0) {
    close(ep_);
    ep_ = -1;
  }
}

}  // namespace duetload
