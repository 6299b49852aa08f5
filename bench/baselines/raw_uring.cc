// duet-raw-uring: the smallest honest io_uring echo server, no framework, on
// the best path the kernel offers.
//
// One thread, one ring. The floor a proactor backend is measured against:
//
//   accept:  one multishot accept; every connection arrives as a completion.
//            --direct-fds: straight into the ring's file table (no process
//            fd), closed through the ring
//   recv:    one multishot recv per connection, picking buffers from ONE
//            provided buffer ring shared by all connections, so an idle
//            connection pins no memory.
//            --recv-bundle: one completion may fill several buffers
//            --buffer-ring-inc: few large buffers, each consumed in parts
//   echo:    the received buffer itself is sent back: nothing is copied in
//            user space. It returns to the ring when the send that carries
//            its last byte completes.
//   send:    at most one send in flight per connection (two would race for
//            the order of bytes on the wire); what arrives meanwhile queues
//            behind it, in order, as (buffer, offset, length) slices.
//            --vectored-send: one SENDMSG carries every queued slice
//   loop:    one io_uring_enter per iteration submits and waits.
//            --register-ring-fd: the enter names a registered ring index
//            --no-iowait: the wait is idle time, not iowait
//
// The task-run mode matters more than anything else here (docs/measuring.md):
// without COOP_TASKRUN or DEFER_TASKRUN, every completion interrupts the
// thread to run task work. DEFER_TASKRUN runs it only inside our own
// io_uring_enter, batched. We ask for it and fall back if the kernel refuses.
//
// Every switch takes on|off; without it the default below applies, when the
// kernel has the feature. An explicit "on" the kernel lacks exits 2 with one
// line naming the kernel version needed.
//
// The default path, from alternating runs, one server per column (kernel
// 6.18, a shared 2-core machine, so only ratios inside one run mean
// anything). Server CPU per message against this file before the switches
// (old, at 0645f49: copied what arrived during a send into a string and sent
// that; 16 KiB buffers), min-max over three rounds.
//
// Run 1 (16 KiB buffers unless said):
//   case                       vec+bundle  vec+inc64k  vec only    vec+direct
//   bundle+vec+direct+ringfd+noiowait 1,000 conns x 128 B        0.96-1.04   0.99-1.04   0.97-1.10
//   0.91-1.05   1.03-1.11 100 x 16 KiB, 16 in flight 0.69-0.75   0.67-0.76   0.75-0.88   0.78-0.84
//   0.68-0.82 10 x 256 KiB               0.64-0.80   0.81-0.83   0.76-0.84   0.73-0.90   0.66-0.86
//   churn, 50 slots x 128 B    0.98-1.05   -           -           0.97-1.04   0.99-1.02
//   1 conn x 128 B             within +-10% for every path: the shared machine's noise
// Without --vectored-send the uncopied path is WORSE than the old copy for
// large or pipelined messages (1.34-1.47x at 16 KiB x 16 and 256 KiB): one
// send per 16 KiB buffer costs more than one memcpy and one big send.
// --direct-fds and --register-ring-fd showed no gain in any case, churn
// included (one thread: its fd table is unshared, so the fd lookups they
// skip are already cheap).
//
// Run 2, the default (vec + incremental 64 x 256 KiB buffers + no-iowait)
// against the runners-up:
//   case                       default     vec+bundle  vec+inc 256 x 64 KiB
//   1,000 conns x 128 B        1.02-1.04   1.03-1.07   0.96-1.11
//   100 x 16 KiB, 16 in flight 0.60-0.68   0.68-0.81   0.69-0.79
//   10 x 256 KiB               0.64-0.73   0.72-0.84   0.73-0.86
//   churn, 50 slots x 128 B    0.94-1.02   0.98-1.01   0.95-1.01
//   1 conn x 128 B             0.97        0.99        0.98 (one round)
// In that run raw-epoll (256 KiB reads) took 0.88-0.96x the default's CPU at
// 16 KiB x 16 and 256 KiB: the readiness loop still wins there, on its best
// path too.
//
// So the default: --buffer-ring-inc on with 64 buffers of 256 KiB (one recv
// takes what the socket holds, up to the buffer's rest; one slice, one send),
// --vectored-send on, --recv-bundle on only where incremental buffers are
// unavailable, --direct-fds and --register-ring-fd off (no gain measured),
// --no-iowait on (it changes no CPU figure, only how the wait is counted:
// as idle, not iowait).
// RSS per idle connection (duet-load --hold, 5,000 and 10,000 held): 190 B,
// its Conn and table slot plus the ring pages its one 128 B echo touched
// (incremental buffers pack the echoes side by side); nothing is held per
// idle connection. (16 KiB buffers: ~50 B plus up to 4 MiB, one page of
// each buffer, whatever the connection count.)
// The command, per case (CPU per message = server_cpu_s / messages of each port):
//   taskset -c 0 duet-raw-uring --port 0 --stats [switches]     (one server per column)
//   taskset -c 1 duet-load --port P1,P2,.. --server-pid PID1,PID2,.. --slice 0.25 --slice-warmup
//   0.05
//                -d 2 -w 0.5 -c 1000 -s 128   (| -c 100 -s 16384 -k 16 | -c 10 -s 262144 | --churn
//                -c 50 -s 128)
//
// Usage: duet-raw-uring [--port P] [--cpu C] [--stats] [--taskrun auto|defer|coop|plain]
//                       [--recv-bundle on|off] [--buffer-ring-inc on|off] [--vectored-send on|off]
//                       [--direct-fds on|off] [--register-ring-fd on|off] [--no-iowait on|off]
//                       [--buf-size B] [--buf-count N]

#include <liburing.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "server_setup.h"

// liburing 2.3's headers predate what the running kernel knows; the values
// are the kernel's include/uapi/linux/io_uring.h.
#ifndef IORING_SETUP_COOP_TASKRUN
#define IORING_SETUP_COOP_TASKRUN (1U << 8)  // 5.19
#endif
#ifndef IORING_SETUP_SINGLE_ISSUER
#define IORING_SETUP_SINGLE_ISSUER (1U << 12)  // 6.0
#endif
#ifndef IORING_SETUP_DEFER_TASKRUN
#define IORING_SETUP_DEFER_TASKRUN (1U << 13)  // 6.1
#endif
#ifndef IORING_RECVSEND_BUNDLE
#define IORING_RECVSEND_BUNDLE (1U << 4)  // 6.10: sqe->ioprio
#endif
#ifndef IORING_FEAT_RECVSEND_BUNDLE
#define IORING_FEAT_RECVSEND_BUNDLE (1U << 14)  // 6.10
#endif
#ifndef IOU_PBUF_RING_INC
#define IOU_PBUF_RING_INC 2  // 6.12: io_uring_buf_reg.flags (2.3 calls it `pad`)
#endif
#ifndef IORING_CQE_F_BUF_MORE
#define IORING_CQE_F_BUF_MORE (1U << 4)  // 6.12: the buffer stays with the kernel
#endif
#ifndef IORING_ENTER_NO_IOWAIT
#define IORING_ENTER_NO_IOWAIT (1U << 7)  // 6.15
#endif
#ifndef IORING_FEAT_NO_IOWAIT
#define IORING_FEAT_NO_IOWAIT (1U << 17)  // 6.15
#endif

namespace {

// ---- Options ----------------------------------------------------------------

// A switch's value: what the user said, or nothing (then the default applies
// if the kernel has the feature).
enum class Switch { kDefault, kOn, kOff };

// The defaults: raw-uring's best path, chosen from the measurements in the
// header.
struct Defaults {
  bool recvBundle = false, incrementalBuffers = false, vectoredSend = false, directFds = false,
       registerRingFd = false, noIowait = false;
};
constexpr Defaults kDefaults{.incrementalBuffers = true, .vectoredSend = true, .noIowait = true};
// Without incremental buffers (a kernel before 6.12, or --buffer-ring-inc off),
// 16 KiB buffers and bundles are the next best.
constexpr bool kBundleWithoutInc = true;

struct Options {
  Switch recvBundle = Switch::kDefault;
  Switch incrementalBuffers = Switch::kDefault;
  Switch vectoredSend = Switch::kDefault;
  Switch directFds = Switch::kDefault;
  Switch registerRingFd = Switch::kDefault;
  Switch noIowait = Switch::kDefault;
};

// What runs, once the kernel has been asked.
struct Path {
  bool bundle = false, inc = false, vectored = false, direct = false, ringFd = false,
       noIowait = false;
} path;

// Decides one switch: the user's word, else the default when the kernel can.
// An "on" the kernel cannot do ends the program with one line (exit 2).
bool decide(Switch s, bool byDefault, bool kernelCan, const char* what) {
  if (s == Switch::kOn && !kernelCan) {
    std::fprintf(stderr, "raw-uring: %s\n", what);
    std::exit(2);
  }
  if (s == Switch::kOff || !kernelCan) return false;
  return s == Switch::kOn || byDefault;
}

struct Stats {
  uint64_t syscalls = 0, wakeups = 0, enters = 0, sqes = 0, cqes = 0, bytesIn = 0, bytesOut = 0,
           starved = 0;
  uint64_t accepted = 0, closed = 0;  // connections: churn is counted per connection
} st;

io_uring ring;

// ---- Completion tags: the low byte says which operation, the rest whose ----

enum Op : uint64_t { kAccept = 1, kRecv, kSend, kClose, kCancel, kSignal, kAcceptRetry };
uint64_t tag(Op op, int fd) { return (static_cast<uint64_t>(fd) << 8) | op; }

// ---- The provided buffer ring -------------------------------------------------
//
// One ring of bufCount buffers of bufSize bytes for every connection. A
// buffer is either with the kernel (in the ring, or being filled in parts
// under --buffer-ring-inc) or ours (holding received bytes until they are
// sent). It goes back to the ring when both are done: the kernel has
// finished filling it and no queued slice still points into it.
// Set up by hand: liburing 2.3 has no io_uring_setup_buf_ring.

constexpr int kGroup = 0;
io_uring_buf_ring* bufRing = nullptr;
char* bufBase = nullptr;
unsigned bufCount = 1024, bufSize = 16384;

struct BufferState {
  uint16_t next = 0;  // the buffer added to the ring right after it (bundles walk these links)
  bool withKernel = false;  // in the ring, or still being filled (BUF_MORE)
  uint32_t filled = 0;      // --buffer-ring-inc: bytes the kernel has written so far
  uint32_t slices = 0;      // queued slices still pointing into it
};
std::vector<BufferState> buffers;
unsigned lastGiven = 0;  // the buffer at the ring's tail end
bool givenAny = false;
unsigned inRing = 0;  // buffers the kernel can still pick

char* bufferData(unsigned bid) { return bufBase + size_t{bid} * bufSize; }

void giveToKernel(unsigned bid) {
  BufferState& b = buffers[bid];
  if (givenAny) buffers[lastGiven].next = static_cast<uint16_t>(bid);
  lastGiven = bid;
  givenAny = true;
  b.withKernel = true;
  b.filled = 0;
  io_uring_buf_ring_add(bufRing, bufferData(bid), bufSize, static_cast<unsigned short>(bid),
                        io_uring_buf_ring_mask(bufCount), 0);
  io_uring_buf_ring_advance(bufRing, 1);
  ++inRing;
}

void releaseSlice(unsigned bid) {
  BufferState& b = buffers[bid];
  if (--b.slices == 0 && !b.withKernel) giveToKernel(bid);
}

// The kernel has finished with `bid` (it is full, or a recv without
// --buffer-ring-inc used it): it comes back once its slices are sent.
void kernelDone(unsigned bid) {
  BufferState& b = buffers[bid];
  b.withKernel = false;
  --inRing;
  if (b.slices == 0) giveToKernel(bid);
}

// 0, or the registration's negative errno (-EINVAL: the kernel lacks
// --buffer-ring-inc).
int setupBufRing(bool incremental) {
  const size_t ringBytes = bufCount * sizeof(io_uring_buf);
  void* r = mmap(nullptr, ringBytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  void* b = mmap(nullptr, size_t{bufCount} * bufSize, PROT_READ | PROT_WRITE,
                 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (r == MAP_FAILED || b == MAP_FAILED) return -ENOMEM;
  bufRing = static_cast<io_uring_buf_ring*>(r);
  bufBase = static_cast<char*>(b);
  io_uring_buf_reg reg{};
  reg.ring_addr = reinterpret_cast<uint64_t>(bufRing);
  reg.ring_entries = bufCount;
  reg.bgid = kGroup;
  reg.pad = incremental ? IOU_PBUF_RING_INC : 0;  // the kernel's `flags` field
  ++st.syscalls;
  if (const int e = io_uring_register_buf_ring(&ring, &reg, 0); e < 0) {
    munmap(r, ringBytes);
    munmap(b, size_t{bufCount} * bufSize);
    return e;
  }
  io_uring_buf_ring_init(bufRing);
  buffers.assign(bufCount, BufferState{});
  for (unsigned i = 0; i < bufCount; ++i) giveToKernel(i);
  return 0;
}

// ---- Queued output: slices of received buffers, linked per connection ------
//
// A pool shared by all connections, so a connection with nothing queued
// owns no memory for it.

struct Slice {
  uint32_t bid, offset, len;
  int32_t next;  // next slice of the same connection, or -1
};
std::vector<Slice> slices;
std::vector<int32_t> freeSlices;

int32_t newSlice(unsigned bid, uint32_t offset, uint32_t len) {
  int32_t i;
  if (!freeSlices.empty()) {
    i = freeSlices.back();
    freeSlices.pop_back();
  } else {
    i = static_cast<int32_t>(slices.size());
    slices.push_back({});
  }
  slices[static_cast<size_t>(i)] = {bid, offset, len, -1};
  ++buffers[bid].slices;
  return i;
}

// --vectored-send: the msghdr and iovecs of a SENDMSG must stay put until it
// is submitted, so each send in flight borrows one of these.
constexpr size_t kMaxIov = 64;
struct SendVector {
  msghdr msg{};
  iovec iov[kMaxIov];
};
std::vector<std::unique_ptr<SendVector>> spareVectors;

// ---- Connections ----------------------------------------------------------------

struct Conn {
  int fd = -1;              // the socket, or its index in the ring's file table (--direct-fds)
  bool recvArmed = false;   // a multishot recv is live (its last CQE lacks F_MORE)
  bool cancelSent = false;  // we asked the kernel to end that recv
  bool paused = false;      // stopped reading: too much queued for a peer that does not read
  bool starved = false;     // the recv ended on an empty buffer ring: re-armed when buffers return
  bool sending = false;     // the one send in flight
  bool closing = false;
  int32_t head = -1, tail = -1;  // queued slices, oldest first; the send in flight covers a prefix
  size_t queuedBytes = 0;
  SendVector* vec = nullptr;  // the in-flight SENDMSG's vector
};

std::vector<Conn*> conns;       // indexed by fd (or file-table index)
std::vector<int> starvedConns;  // fds whose recv waits for buffers
size_t maxQueuedBytes = 0;      // per connection; above it we stop reading that peer

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

// The socket operand of an SQE: a file-table index needs IOSQE_FIXED_FILE.
void onSocket(io_uring_sqe* s) {
  if (path.direct) s->flags |= IOSQE_FIXED_FILE;
}

void armAccept(int lfd) {
  io_uring_sqe* s = sqe();
  if (path.direct) io_uring_prep_multishot_accept_direct(s, lfd, nullptr, nullptr, 0);
  else io_uring_prep_multishot_accept(s, lfd, nullptr, nullptr, 0);
  io_uring_sqe_set_data64(s, tag(kAccept, lfd));
}

void armRecv(Conn& c) {
  io_uring_sqe* s = sqe();
  io_uring_prep_recv_multishot(s, c.fd, nullptr, 0, 0);
  onSocket(s);
  s->flags |= IOSQE_BUFFER_SELECT;
  s->buf_group = kGroup;
  if (path.bundle) s->ioprio |= IORING_RECVSEND_BUNDLE;
  io_uring_sqe_set_data64(s, tag(kRecv, c.fd));
  c.recvArmed = true;
  c.cancelSent = false;
}

void cancelRecv(Conn& c) {
  if (!c.recvArmed || c.cancelSent) return;
  io_uring_sqe* s = sqe();
  io_uring_prep_cancel64(s, tag(kRecv, c.fd), 0);
  io_uring_sqe_set_data64(s, tag(kCancel, c.fd));
  c.cancelSent = true;
}

// Sends the head of the queue: the first slice, or (--vectored-send) every
// queued slice up to kMaxIov in one SENDMSG.
void sendQueued(Conn& c) {
  const Slice& first = slices[static_cast<size_t>(c.head)];
  io_uring_sqe* s = sqe();
  if (path.vectored && first.next >= 0) {
    if (spareVectors.empty()) spareVectors.push_back(std::make_unique<SendVector>());
    c.vec = spareVectors.back().release();
    spareVectors.pop_back();
    size_t n = 0;
    for (int32_t i = c.head; i >= 0 && n < kMaxIov; i = slices[static_cast<size_t>(i)].next, ++n) {
      const Slice& sl = slices[static_cast<size_t>(i)];
      c.vec->iov[n] = {bufferData(sl.bid) + sl.offset, sl.len};
    }
    c.vec->msg = {};
    c.vec->msg.msg_iov = c.vec->iov;
    c.vec->msg.msg_iovlen = n;
    io_uring_prep_sendmsg(s, c.fd, &c.vec->msg, MSG_NOSIGNAL);
  } else {
    io_uring_prep_send(s, c.fd, bufferData(first.bid) + first.offset, first.len, MSG_NOSIGNAL);
  }
  onSocket(s);
  io_uring_sqe_set_data64(s, tag(kSend, c.fd));
  c.sending = true;
}

// Queues `len` received bytes at `offset` in buffer `bid` behind what is
// already queued, and sends at once if nothing is in flight.
void queueEcho(Conn& c, unsigned bid, uint32_t offset, uint32_t len) {
  const int32_t i = newSlice(bid, offset, len);
  if (c.tail >= 0) slices[static_cast<size_t>(c.tail)].next = i;
  else c.head = i;
  c.tail = i;
  c.queuedBytes += len;
  if (!c.sending) sendQueued(c);
  if (c.queuedBytes > maxQueuedBytes && !c.paused) {  // the peer does not read its echoes
    c.paused = true;
    cancelRecv(c);
  }
}

// Forgets the first `bytes` queued bytes: they are on the wire.
void consumeSent(Conn& c, size_t bytes) {
  c.queuedBytes -= bytes;
  while (bytes > 0) {
    Slice& sl = slices[static_cast<size_t>(c.head)];
    const size_t take = std::min<size_t>(bytes, sl.len);
    bytes -= take;
    sl.offset += static_cast<uint32_t>(take);
    sl.len -= static_cast<uint32_t>(take);
    if (sl.len > 0) break;  // a short send: the rest goes next
    const int32_t done = c.head;
    c.head = sl.next;
    releaseSlice(sl.bid);
    freeSlices.push_back(done);
  }
  if (c.head < 0) c.tail = -1;
}

void dropQueue(Conn& c) {
  while (c.head >= 0) {
    const int32_t done = c.head;
    c.head = slices[static_cast<size_t>(done)].next;
    releaseSlice(slices[static_cast<size_t>(done)].bid);
    freeSlices.push_back(done);
  }
  c.tail = -1;
  c.queuedBytes = 0;
}

// Teardown waits until no operation of the connection is in flight, so no
// completion can ever name a freed Conn: cancel the recv, let the send
// finish, then close on the ring.
void maybeClose(Conn& c) {
  cancelRecv(c);
  if (c.recvArmed || c.sending) return;
  io_uring_sqe* s = sqe();
  if (path.direct) io_uring_prep_close_direct(s, static_cast<unsigned>(c.fd));
  else io_uring_prep_close(s, c.fd);
  io_uring_sqe_set_data64(s, tag(kClose, c.fd));
  ++st.closed;
  conns[static_cast<size_t>(c.fd)] = nullptr;
  delete &c;
}

void startClose(Conn& c) {
  if (c.closing) return;
  c.closing = true;
  if (!c.sending)
    dropQueue(c);  // else: the send in flight still reads the head; dropped when it ends
  maybeClose(c);
}

// Takes the bytes of one recv completion: which buffers they are in
// depends on the mode.
void takeReceived(Conn& c, const io_uring_cqe* cqe) {
  const unsigned bid = cqe->flags >> IORING_CQE_BUFFER_SHIFT;
  const uint32_t len = static_cast<uint32_t>(cqe->res);
  st.bytesIn += len;
  if (path.inc) {
    // The bytes start where the previous fill of this buffer ended; the
    // kernel keeps the buffer while BUF_MORE says it has room left.
    BufferState& b = buffers[bid];
    const uint32_t offset = b.filled;
    b.filled += len;
    if (!c.closing) queueEcho(c, bid, offset, len);
    if (!(cqe->flags & IORING_CQE_F_BUF_MORE)) kernelDone(bid);
    return;
  }
  if (!path.bundle) {
    if (!c.closing) queueEcho(c, bid, 0, len);
    kernelDone(bid);
    return;
  }
  // A bundle: the kernel filled consecutive ring entries starting at the
  // one that held `bid`, each whole but the last. They are found by the
  // links giveToKernel() keeps, not by reading the ring's entries: an entry
  // is rewritten as soon as the tail wraps past it, possibly before this
  // completion is read, while a buffer's link changes only when the buffer
  // itself is added again, which is after this completion gives it back.
  uint32_t left = len;
  unsigned b = bid;
  while (left > 0) {
    const unsigned next = buffers[b].next;  // read first: kernelDone() may add `b` again
    const uint32_t part = std::min(left, bufSize);
    if (!c.closing) queueEcho(c, b, 0, part);
    kernelDone(b);
    left -= part;
    b = next;
  }
}

void onRecv(Conn& c, const io_uring_cqe* cqe) {
  if (!(cqe->flags & IORING_CQE_F_MORE)) c.recvArmed = false;
  if (cqe->res > 0 && (cqe->flags & IORING_CQE_F_BUFFER)) {
    takeReceived(c, cqe);
  } else if (cqe->res == -ENOBUFS) {
    // Every buffer was taken when data arrived: the multishot recv stopped.
    // Buffers come back as sends complete; the loop re-arms us then.
    ++st.starved;
    if (c.closing) {
      maybeClose(c);
    } else if (!c.starved) {
      c.starved = true;
      starvedConns.push_back(c.fd);
    }
    return;
  } else if (cqe->res == -ECANCELED && !c.closing) {
    // We ended it to stop reading a peer that does not read (paused); if its
    // queue drained meanwhile, the recv is armed again below.
  } else if (cqe->res <= 0) {
    startClose(c);  // 0: peer closed; <0: reset
    return;
  }
  if (c.recvArmed) return;
  if (c.closing) maybeClose(c);
  else if (!c.paused) armRecv(c);  // ended without error (e.g. CQ overflow): re-arm
}

void onSend(Conn& c, const io_uring_cqe* cqe) {
  c.sending = false;
  if (c.vec) {
    spareVectors.emplace_back(c.vec);
    c.vec = nullptr;
  }
  if (cqe->res > 0) {
    st.bytesOut += static_cast<uint64_t>(cqe->res);
    consumeSent(c, static_cast<size_t>(cqe->res));
  }
  if (cqe->res < 0 || c.closing) {
    dropQueue(c);
    if (!c.closing) startClose(c);
    else maybeClose(c);
    return;
  }
  if (c.head >= 0) sendQueued(c);
  if (c.paused && c.queuedBytes <= maxQueuedBytes / 2) {  // the peer reads again
    c.paused = false;
    if (!c.recvArmed) armRecv(c);
  }
}

// Re-arms recvs that found the buffer ring empty, once a quarter of it is back.
void feedStarved() {
  if (starvedConns.empty() || inRing * 4 < bufCount) return;
  for (const int fd : starvedConns) {
    Conn* c = conns[static_cast<size_t>(fd)];
    if (!c || !c->starved) continue;  // closed (the slot may hold a newer connection)
    c->starved = false;
    if (!c->closing && !c->paused && !c->recvArmed) armRecv(*c);
  }
  starvedConns.clear();
}

// ---- The wait -------------------------------------------------------------------
//
// liburing 2.3's io_uring_submit_and_wait cannot pass IORING_ENTER_NO_IOWAIT,
// so the loop makes the call itself: publish the new SQEs, then enter.

bool ringFdRegistered = false;

int submitAndWait() {
  io_uring_sq& sq = ring.sq;
  const unsigned toSubmit = sq.sqe_tail - sq.sqe_head;
  if (toSubmit) {
    sq.sqe_head = sq.sqe_tail;
    io_uring_smp_store_release(sq.ktail, sq.sqe_tail);  // the kernel sees the SQEs before the tail
  }
  unsigned flags = IORING_ENTER_GETEVENTS;
  if (path.noIowait) flags |= IORING_ENTER_NO_IOWAIT;
  int fd = ring.ring_fd;
  if (ringFdRegistered) {
    flags |= IORING_ENTER_REGISTERED_RING;
    fd = ring.enter_ring_fd;
  }
  return io_uring_enter(static_cast<unsigned>(fd), toSubmit, 1, flags, nullptr);
}

// Ring flags per --taskrun choice; "auto" tries them best first.
unsigned flagsFor(const std::string& mode) {
  if (mode == "defer") return IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN;
  if (mode == "coop") return IORING_SETUP_COOP_TASKRUN;
  return 0;
}

// --help shows each switch's default ("--recv-bundle TEXT:{on,off}=off"), the
// convention duet's servers follow, so duet-compare can read it.
void addSwitch(CLI::App& app, const char* name, Switch& value, bool byDefault, const char* help) {
  app.add_option_function<std::string>(
         name, [&value](const std::string& v) { value = v == "on" ? Switch::kOn : Switch::kOff; },
         help)
      ->check(CLI::IsMember({"on", "off"}))
      ->default_str(byDefault ? "on" : "off");
}

}  // namespace

int main(int argc, char** argv) {
  int port = 0, cpu = -1;
  bool stats = false;
  std::string taskrun = "auto";
  Options opt;
  bool bufSizeGiven = false, bufCountGiven = false;
  CLI::App app{"duet-raw-uring: single-threaded io_uring echo server"};
  app.add_option("--port", port, "TCP port on 127.0.0.1 (0 = ephemeral)")
      ->check(CLI::Range(0, 65535));
  app.add_option("--cpu", cpu, "pin to this CPU");
  app.add_flag("--stats", stats, "print the loop's counters at exit");
  app.add_option("--taskrun", taskrun, "ring task-run mode")
      ->check(CLI::IsMember({"auto", "defer", "coop", "plain"}))
      ->capture_default_str();
  addSwitch(app, "--recv-bundle", opt.recvBundle, kDefaults.recvBundle,
            "one recv completion spans several buffers (kernel 6.10; on by default when "
            "incremental buffers are off)");
  addSwitch(app, "--buffer-ring-inc", opt.incrementalBuffers, kDefaults.incrementalBuffers,
            "large provided buffers consumed in parts (kernel 6.12): 64 x 256 KiB instead of 1024 "
            "x 16 KiB");
  addSwitch(app, "--vectored-send", opt.vectoredSend, kDefaults.vectoredSend,
            "one SENDMSG carries every queued slice");
  addSwitch(app, "--direct-fds", opt.directFds, kDefaults.directFds,
            "accepted sockets live in the ring's file table; closed through the ring");
  addSwitch(app, "--register-ring-fd", opt.registerRingFd, kDefaults.registerRingFd,
            "io_uring_enter names a registered ring index");
  addSwitch(app, "--no-iowait", opt.noIowait, kDefaults.noIowait,
            "waits count as idle, not iowait (kernel 6.15)");
  app.add_option("--buf-size", bufSize,
                 "bytes per provided buffer (default 16384; 262144 with --buffer-ring-inc)")
      ->check(CLI::Range(64u, 1u << 20))
      ->each([&](const std::string&) { bufSizeGiven = true; });
  app.add_option("--buf-count", bufCount,
                 "provided buffers, a power of two (default 1024; 64 with --buffer-ring-inc)")
      ->check(CLI::Range(1u, 32768u))
      ->each([&](const std::string&) { bufCountGiven = true; });
  CLI11_PARSE(app, argc, argv);

  if (!baseline::pinToCpu(cpu)) return 1;
  const rlimit rl = baseline::takeAllDescriptors();

  // Ring: big enough that 10,000 connections' completions never overflow.
  std::vector<std::string> tries = taskrun == "auto"
                                       ? std::vector<std::string>{"defer", "coop", "plain"}
                                       : std::vector<std::string>{taskrun};
  std::string mode;
  unsigned features = 0;
  for (const auto& t : tries) {
    io_uring_params p{};
    p.flags = flagsFor(t) | IORING_SETUP_CQSIZE;
    p.cq_entries = 65536;
    if (const int e = io_uring_queue_init_params(4096, &ring, &p); e == 0) {
      mode = t;
      features = p.features;
      break;
    } else if (taskrun != "auto" || t == "plain") {
      std::fprintf(stderr, "raw-uring: io_uring setup (%s) failed: %s\n", t.c_str(),
                   std::strerror(-e));
      return 1;
    }
  }

  // Which path runs: the user's word, else the default when the kernel can.
  if (opt.recvBundle == Switch::kOn && opt.incrementalBuffers == Switch::kOn) {
    std::fprintf(stderr,
                 "raw-uring: --recv-bundle and --buffer-ring-inc exclude each other here: "
                 "with large buffers consumed in parts one buffer already covers a recv\n");
    return 2;
  }
  // One asked for explicitly turns the other's default off.
  if (opt.recvBundle == Switch::kOn && opt.incrementalBuffers == Switch::kDefault)
    opt.incrementalBuffers = Switch::kOff;
  if (opt.incrementalBuffers == Switch::kOn && opt.recvBundle == Switch::kDefault)
    opt.recvBundle = Switch::kOff;
  path.inc = decide(opt.incrementalBuffers, kDefaults.incrementalBuffers, true,
                    "");  // asked at registration
  path.vectored = decide(opt.vectoredSend, kDefaults.vectoredSend, true, "");
  path.direct = decide(opt.directFds, kDefaults.directFds, true, "");
  path.ringFd = decide(opt.registerRingFd, kDefaults.registerRingFd, true, "");
  path.noIowait = decide(opt.noIowait, kDefaults.noIowait, features & IORING_FEAT_NO_IOWAIT,
                         "--no-iowait on needs kernel 6.15 (IORING_ENTER_NO_IOWAIT)");
  if (bufCount & (bufCount - 1)) {
    std::fprintf(stderr, "raw-uring: --buf-count must be a power of two\n");
    return 2;
  }

  const unsigned plainSize = bufSize, plainCount = bufCount;
  if (path.inc) {  // few large buffers, each shared by many recvs
    if (!bufSizeGiven) bufSize = 262144;
    if (!bufCountGiven) bufCount = 64;
  }
  int ringError = setupBufRing(path.inc);
  if (ringError == -EINVAL && path.inc) {  // a kernel before 6.12
    if (opt.incrementalBuffers == Switch::kOn) {
      std::fprintf(stderr,
                   "raw-uring: --buffer-ring-inc on needs kernel 6.12 (IOU_PBUF_RING_INC)\n");
      return 2;
    }
    path.inc = false;
    bufSize = plainSize;
    bufCount = plainCount;
    ringError = setupBufRing(false);
  }
  if (ringError < 0) {
    std::fprintf(stderr, "raw-uring: io_uring_register_buf_ring: %s\n", std::strerror(-ringError));
    return 1;
  }
  path.bundle =
      decide(opt.recvBundle, kBundleWithoutInc && !path.inc, features & IORING_FEAT_RECVSEND_BUNDLE,
             "--recv-bundle on needs kernel 6.10 (IORING_RECVSEND_BUNDLE)");
  // One peer that does not read its echoes may hold an eighth of the ring.
  maxQueuedBytes = std::max<size_t>(size_t{bufCount} * bufSize / 8, bufSize);
  if (path.direct) {
    ++st.syscalls;
    // One slot per descriptor the process could have had: the table is
    // bounded by RLIMIT_NOFILE like the fd table it replaces.
    const unsigned slots = static_cast<unsigned>(std::min<rlim_t>(rl.rlim_cur, 65536));
    if (const int e = io_uring_register_files_sparse(&ring, slots); e < 0) {
      std::fprintf(stderr, "raw-uring: --direct-fds: io_uring_register_files_sparse: %s\n",
                   std::strerror(-e));
      return 2;
    }
  }
  if (path.ringFd) {
    ++st.syscalls;
    if (const int e = io_uring_register_ring_fd(&ring); e < 0) {
      std::fprintf(stderr, "raw-uring: --register-ring-fd on needs kernel 5.18: %s\n",
                   std::strerror(-e));
      return 2;
    }
    ringFdRegistered = true;
  }

  const int lfd = baseline::listenOnLoopback(port, 0);
  if (lfd < 0) return 1;
  // Echo replies are small and immediate: no Nagle delay. Accepted sockets
  // inherit this from the listener, so no system call per connection (and a
  // direct descriptor could not take a plain setsockopt anyway).
  int one = 1;
  setsockopt(lfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  std::printf("listening on %d\n", baseline::listeningPort(lfd));
  std::fflush(stdout);

  // SIGINT/SIGTERM arrive as a read completion on a signalfd: the loop
  // never has to be interrupted mid-wait.
  const int sfd = baseline::stopSignalsAsDescriptor(0);
  signalfd_siginfo sig{};
  io_uring_sqe* s = sqe();
  io_uring_prep_read(s, sfd, &sig, sizeof sig, 0);
  io_uring_sqe_set_data64(s, tag(kSignal, sfd));
  armAccept(lfd);

  for (bool running = true; running;) {
    ++st.enters;
    ++st.syscalls;
    const int r = submitAndWait();
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
            const int cfd = cqe->res;  // a descriptor, or a file-table index
            ++st.accepted;
            if (static_cast<size_t>(cfd) >= conns.size())
              conns.resize(static_cast<size_t>(cfd) * 2 + 1, nullptr);
            Conn* c = new Conn;
            c->fd = cfd;
            conns[static_cast<size_t>(cfd)] = c;
            armRecv(*c);
          } else {
            static bool logged =
                false;  // e.g. EMFILE, or ENFILE for a full file table: never fatal
            if (!logged) {
              std::fprintf(stderr, "raw-uring: accept: %s\n", std::strerror(-cqe->res));
              logged = true;
            }
          }
          if (!(cqe->flags & IORING_CQE_F_MORE)) {
            if (cqe->res >= 0) {
              armAccept(fd);
            } else {  // after an error, pause 100 ms rather than spin on EMFILE
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
          if (Conn* c = conns[static_cast<size_t>(fd)]) onSend(*c, cqe);
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
    feedStarved();
    if (n > 0) ++st.wakeups;
    st.cqes += n;
  }

  if (stats) {
    std::string m = "raw-uring-" + mode;
    for (auto [on, name] : {std::pair{path.bundle, "bundle"},
                            {path.inc, "inc"},
                            {path.vectored, "vec"},
                            {path.direct, "direct"},
                            {path.ringFd, "ringfd"},
                            {path.noIowait, "noiowait"}})
      if (on) m += std::string("+") + name;
    std::printf(
        "stats loop=raw mode=%s syscalls=%llu wakeups=%llu events=%llu enters=%llu sqes=%llu "
        "cqes=%llu "
        "bytes_in=%llu bytes_out=%llu starved=%llu accepted=%llu closed=%llu\n",
        m.c_str(), static_cast<unsigned long long>(st.syscalls),
        static_cast<unsigned long long>(st.wakeups), static_cast<unsigned long long>(st.cqes),
        static_cast<unsigned long long>(st.enters), static_cast<unsigned long long>(st.sqes),
        static_cast<unsigned long long>(st.cqes), static_cast<unsigned long long>(st.bytesIn),
        static_cast<unsigned long long>(st.bytesOut), static_cast<unsigned long long>(st.starved),
        static_cast<unsigned long long>(st.accepted), static_cast<unsigned long long>(st.closed));
    std::fflush(stdout);
  }
  // Exiting tears the ring down and closes every socket.
  io_uring_queue_exit(&ring);
  return 0;
}
