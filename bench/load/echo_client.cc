#include "echo_client.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <thread>

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
  warmupMessages += o.warmupMessages;
  mismatches += o.mismatches;
  reset += o.reset;
  eof += o.eof;
  shortEof += o.shortEof;
  otherErrors += o.otherErrors;
  roundTrips += o.roundTrips;
}

namespace {

// ---- Message contents -------------------------------------------------------
// Byte i of message `seq` on connection `conn` is a pure function of the three,
// so the receiver can check an echo without keeping a copy of what it sent.
// The first 8 bytes carry a key unique to (conn, seq): a reordered, lost or
// duplicated message fails the check. The rest walks a 251-byte table (prime
// period, so a slip by a power-of-two block does not line up again) from a
// key-dependent start.
constexpr size_t kPeriod = 251;

struct PatternTable {
  unsigned char bytes[2 * kPeriod];
  PatternTable() {
    uint64_t x = 0x9E3779B97F4A7C15ull;
    for (size_t i = 0; i < kPeriod; ++i) {
      x ^= x << 13; x ^= x >> 7; x ^= x << 17;   // xorshift: any fixed noise will do
      bytes[i] = bytes[i + kPeriod] = static_cast<unsigned char>(x >> 24);
    }
  }
};
const PatternTable kTable;

uint64_t messageKey(uint32_t conn, uint64_t seq) {
  return (static_cast<uint64_t>(conn) << 40) ^ (seq * 0x9E3779B97F4A7C15ull);
}

// Writes bytes [off, off+len) of the message into dst.
void fillMessage(char* dst, uint32_t conn, uint64_t seq, size_t off, size_t len) {
  const uint64_t key = messageKey(conn, seq);
  size_t i = off;
  const size_t end = off + len;
  for (; i < end && i < 8; ++i) *dst++ = static_cast<char>(key >> (8 * i));
  const size_t start = static_cast<size_t>(key % kPeriod);
  while (i < end) {
    // The table is stored twice over, so kPeriod bytes from any pos are contiguous.
    const size_t pos = (start + i) % kPeriod;
    const size_t n = std::min(end - i, kPeriod);
    std::memcpy(dst, kTable.bytes + pos, n);
    dst += n;
    i += n;
  }
}

bool retryableConnectError(int err) {
  // ECONNREFUSED: the server is not listening yet or its backlog overflowed;
  // EAGAIN: loopback ran out of ephemeral ports for a moment.
  return err == ECONNREFUSED || err == EAGAIN || err == ETIMEDOUT || err == ECONNRESET;
}

}  // namespace

EchoWorker::EchoWorker(const Config& cfg, Shared& shared, uint32_t firstConnId, int nConns,
                       double threadRate)
    : cfg_(cfg), shared_(shared), conns_(static_cast<size_t>(nConns)), threadRate_(threadRate) {
  for (int i = 0; i < nConns; ++i) conns_[static_cast<size_t>(i)].id = firstConnId + static_cast<uint32_t>(i);
  // Big enough to write every in-flight message of a connection in one call.
  const size_t io = std::max<size_t>(256 * 1024, cfg.size);
  sendBuf_.resize(io);
  recvBuf_.resize(io);
  expectBuf_.resize(io);
}

EchoWorker::~EchoWorker() { closeAll(); }

void EchoWorker::run() {
  ep_ = epoll_create1(EPOLL_CLOEXEC);
  if (ep_ < 0) {
    std::perror("epoll_create1");
    counters_.connectOther += conns_.size();
  } else {
    connectAll();
  }
  shared_.connectedWorkers.fetch_add(1);

  // Wait for the main thread to start the clock (or to give up).
  int phase;
  while ((phase = shared_.phase.load()) == Shared::kConnecting) shared_.phase.wait(phase);

  if (phase == Shared::kGo && ep_ >= 0) {
    if (cfg_.hold) {
      // One round trip per connection, then idle until told to stop: the idle
      // loop still watches the sockets so resets during the hold are counted.
      for (auto& c : conns_)
        if (c.fd >= 0) { makeDue(c, nowNs()); trySend(c); }
      loadLoop(nowNs() + static_cast<int64_t>(cfg_.connectTimeout * 1e9), false);
      shared_.readyWorkers.fetch_add(1);
      loadLoop(0, true);
    } else {
      if (threadRate_ <= 0) {   // closed loop: K messages due from the start
        const int64_t t = nowNs();
        for (auto& c : conns_) {
          if (c.fd < 0) continue;
          for (int k = 0; k < cfg_.inflight; ++k) makeDue(c, t);
          trySend(c);
        }
      }
      loadLoop(shared_.measureEnd, false);
    }
  } else {
    shared_.readyWorkers.fetch_add(1);
  }
  closeAll();
}

// ---- Connect phase ----------------------------------------------------------
// Non-blocking connects, at most kParallel outstanding per worker: firing
// 10,000 SYNs at once overflows the server's accept backlog and the dropped
// ones only come back after the kernel's 1 s SYN retransmit.
void EchoWorker::connectAll() {
  constexpr size_t kParallel = 256;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(cfg_.port);
  if (inet_pton(AF_INET, cfg_.host.c_str(), &addr.sin_addr) != 1) {
    std::fprintf(stderr, "duet-load: bad IPv4 address '%s'\n", cfg_.host.c_str());
    counters_.connectOther += conns_.size();
    return;
  }
  const int64_t deadline = nowNs() + static_cast<int64_t>(cfg_.connectTimeout * 1e9);
  struct Retry { size_t idx; int64_t at; int lastErr; };
  std::deque<Retry> todo;
  for (size_t i = 0; i < conns_.size(); ++i) todo.push_back({i, 0, 0});
  size_t pending = 0;
  std::vector<epoll_event> events(kParallel);

  auto start = [&](size_t idx) -> int {   // returns 0, EINPROGRESS or an errno
    Conn& c = conns_[idx];
    c.fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (c.fd < 0) return errno;
    int one = 1;   // ping-pong of small messages: never wait for Nagle
    setsockopt(c.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (connect(c.fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0) return 0;
    return errno;
  };
  auto established = [&](size_t idx) {
    Conn& c = conns_[idx];
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u64 = idx;
    epoll_ctl(ep_, EPOLL_CTL_MOD, c.fd, &ev);
    c.up = true;
    ++counters_.connected;
    ++alive_;
  };
  auto failed = [&](size_t idx, int err, int64_t now) {
    Conn& c = conns_[idx];
    if (c.fd >= 0) { close(c.fd); c.fd = -1; }   // closing also drops it from epoll
    if (retryableConnectError(err) && now < deadline) {
      todo.push_back({idx, now + 20'000'000, err});   // retry in 20 ms
    } else if (err == ECONNREFUSED) {
      ++counters_.connectRefused;
    } else {
      ++counters_.connectOther;
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
        if (r == 0) established(idx); else ++pending;
      } else {
        failed(idx, r, now);
      }
    }
    const int n = epoll_wait(ep_, events.data(), static_cast<int>(events.size()), 10);
    now = nowNs();
    for (int i = 0; i < n; ++i) {
      const size_t idx = events[static_cast<size_t>(i)].data.u64;
      int err = 0;
      socklen_t len = sizeof err;
      getsockopt(conns_[idx].fd, SOL_SOCKET, SO_ERROR, &err, &len);
      --pending;
      if (err == 0) established(idx); else failed(idx, err, now);
    }
  }
  // Whatever is left at the deadline never made it.
  for (auto& r : todo) {
    if (r.lastErr == ECONNREFUSED) ++counters_.connectRefused; else ++counters_.connectTimeout;
  }
  for (auto& c : conns_) {   // connects still in progress at the deadline
    if (c.fd >= 0 && !c.up) {
      close(c.fd);
      c.fd = -1;
      ++counters_.connectTimeout;
    }
  }
}

// ---- Load phase -------------------------------------------------------------
void EchoWorker::makeDue(Conn& c, int64_t stamp) {
  c.stamps.push_back(stamp);
  ++c.dueSeq;
}

void EchoWorker::setOut(Conn& c, bool on) {
  if (c.out == on) return;
  epoll_event ev{};
  ev.events = EPOLLIN | (on ? EPOLLOUT : 0u);
  ev.data.u64 = static_cast<uint64_t>(&c - conns_.data());
  epoll_ctl(ep_, EPOLL_CTL_MOD, c.fd, &ev);
  c.out = on;
}

// Writes as many due messages as the in-flight cap allows, several per
// write() when they fit: the client should cost as few system calls as the
// protocol allows, so that it is not the bottleneck.
void EchoWorker::trySend(Conn& c) {
  const size_t size = cfg_.size;
  for (;;) {
    const uint64_t limit = std::min(c.dueSeq, c.recvSeq + static_cast<uint64_t>(cfg_.inflight));
    if (c.sendSeq >= limit) break;
    size_t n = 0;
    uint64_t seq = c.sendSeq;
    size_t off = c.sendOff;
    while (seq < limit && n < sendBuf_.size()) {
      const size_t len = std::min(size - off, sendBuf_.size() - n);
      fillMessage(sendBuf_.data() + n, c.id, seq, off, len);
      n += len;
      off += len;
      if (off == size) { ++seq; off = 0; }
    }
    const ssize_t w = write(c.fd, sendBuf_.data(), n);
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
    if (done < n) break;   // socket buffer full: wait for EPOLLOUT
  }
  const uint64_t limit = std::min(c.dueSeq, c.recvSeq + static_cast<uint64_t>(cfg_.inflight));
  setOut(c, c.sendSeq < limit);
}

void EchoWorker::onReadable(Conn& c, int64_t now) {
  const ssize_t r = read(c.fd, recvBuf_.data(), recvBuf_.size());
  if (r == 0) { fail(c, 0, true); return; }
  if (r < 0) {
    if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) return;
    fail(c, errno, false);
    return;
  }
  now = nowNs();   // after the read: the message is back when we have its bytes
  const size_t size = cfg_.size;
  const char* p = recvBuf_.data();
  size_t left = static_cast<size_t>(r);
  while (left > 0) {
    // More bytes than we have written means the server invented some.
    const bool sent = c.recvSeq < c.sendSeq || (c.recvSeq == c.sendSeq && c.recvOff < c.sendOff);
    if (!sent) {
      ++counters_.mismatches;
      fail(c, EPROTO, false);
      return;
    }
    const size_t limit = c.recvSeq < c.sendSeq ? size : c.sendOff;
    const size_t len = std::min(left, limit - c.recvOff);
    fillMessage(expectBuf_.data(), c.id, c.recvSeq, c.recvOff, len);
    if (std::memcmp(expectBuf_.data(), p, len) != 0) c.bad = true;
    p += len;
    left -= len;
    c.recvOff += len;
    if (c.recvOff < size) continue;

    // One message complete.
    const int64_t sentAt = c.stamps.front();
    c.stamps.pop_front();
    if (c.bad) {
      ++counters_.mismatches;
      progressErrors.fetch_add(1, std::memory_order_relaxed);
    } else if (now >= shared_.measureStart && now < shared_.measureEnd) {
      hist_.record(static_cast<uint64_t>(now - sentAt));
      ++counters_.messages;
    } else if (now < shared_.measureStart) {
      ++counters_.warmupMessages;
    }
    if (cfg_.hold) ++counters_.roundTrips;
    progressMessages.fetch_add(1, std::memory_order_relaxed);
    c.bad = false;
    ++c.recvSeq;
    c.recvOff = 0;
    if (!cfg_.hold && threadRate_ <= 0) makeDue(c, now);   // closed loop: replace it
  }
  trySend(c);
}

void EchoWorker::fail(Conn& c, int err, bool eof) {
  if (eof) {
    if (c.recvOff > 0) ++counters_.shortEof; else ++counters_.eof;
  } else if (err == ECONNRESET || err == EPIPE) {
    ++counters_.reset;
  } else if (err != EPROTO) {   // EPROTO: already counted as a mismatch
    ++counters_.otherErrors;
  }
  progressErrors.fetch_add(1, std::memory_order_relaxed);
  close(c.fd);
  c.fd = -1;
  c.stamps.clear();
  --alive_;
}

// Runs until `until` (ns) or, with untilStop, until the main thread says stop.
// In hold mode before the hold (until != 0, !untilStop) it also returns as
// soon as every live connection has finished its round trip.
void EchoWorker::loadLoop(int64_t until, bool untilStop) {
  std::vector<epoll_event> events(1024);
  const bool open = threadRate_ > 0 && !cfg_.hold;
  const int64_t interval = open ? static_cast<int64_t>(1e9 / threadRate_) : 0;
  int64_t nextDue = nowNs();
  size_t rr = 0;
  for (;;) {
    int64_t now = nowNs();
    if (untilStop ? shared_.phase.load(std::memory_order_relaxed) == Shared::kStop : now >= until) break;
    if (cfg_.hold && !untilStop) {
      bool all = true;
      for (auto& c : conns_)
        if (c.fd >= 0 && c.recvSeq < c.dueSeq) { all = false; break; }
      if (all) break;
    }
    if (alive_ == 0 && !untilStop) break;

    // Open loop: make every message whose scheduled time has come due, on the
    // connections in turn. Its latency is counted from the schedule, not from
    // when we managed to write it, so a server that falls behind shows as
    // latency instead of silently lowering the offered load.
    if (open && alive_ > 0) {
      while (nextDue <= now) {
        Conn* c = nullptr;
        for (size_t tries = 0; tries < conns_.size() && !c; ++tries) {
          Conn& cand = conns_[rr++ % conns_.size()];
          if (cand.fd >= 0) c = &cand;
        }
        if (!c) break;
        makeDue(*c, nextDue);
        trySend(*c);
        nextDue += interval;
      }
    }

    int64_t waitNs = untilStop ? 100'000'000 : std::min<int64_t>(until - now, 100'000'000);
    if (open) waitNs = std::min<int64_t>(waitNs, std::max<int64_t>(0, nextDue - now));
    timespec ts{static_cast<time_t>(waitNs / 1'000'000'000), static_cast<long>(waitNs % 1'000'000'000)};
    const int n = epoll_pwait2(ep_, events.data(), static_cast<int>(events.size()), &ts, nullptr);
    if (n < 0) {
      if (errno == EINTR) continue;
      std::perror("epoll_pwait2");
      break;
    }
    for (int i = 0; i < n; ++i) {
      const epoll_event& ev = events[static_cast<size_t>(i)];
      Conn& c = conns_[ev.data.u64];
      if (c.fd < 0) continue;   // closed earlier in this batch
      if (ev.events & (EPOLLIN | EPOLLERR | EPOLLHUP)) onReadable(c, now);
      if (c.fd >= 0 && (ev.events & EPOLLOUT)) trySend(c);
    }
  }
}

void EchoWorker::closeAll() {
  for (auto& c : conns_) {
    if (c.fd >= 0) { close(c.fd); c.fd = -1; }
  }
  if (ep_ >= 0) { close(ep_); ep_ = -1; }
}

}  // namespace duetload
