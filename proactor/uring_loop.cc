#include "proactor/uring_loop.h"

#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cassert>
#include <cerrno>
#include <cstring>
#include <utility>

#include "core/log.h"
#include "proactor/direct_socket.h"
#include "proactor/socket_handoff.h"
#include "proactor/uring_acceptor.h"
#include "proactor/uring_connection.h"
#include "proactor/uring_connector.h"
#include "proactor/uring_file_read.h"
#include "proactor/uring_waker.h"

namespace duet {

namespace {

// The loop created on this thread, so a wake-up sent from here can travel by
// MSG_RING from our ring (SINGLE_ISSUER: only this thread may submit to it).
thread_local UringLoop* currentLoop = nullptr;

constexpr std::uint16_t kBufferGroup = 0;
// An incremental ring's buffers: few and large, each shared by many small
// recvs in turn (within the same bufferCount * bufferSize in all).
constexpr unsigned kIncrementalBufferSize = 256 * 1024;
// How long teardown waits for cancelled operations to complete.
constexpr auto kDrainTimeout = std::chrono::seconds(2);

__kernel_timespec toTimespec(Duration d) {
  const auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(d).count();
  __kernel_timespec ts{};
  ts.tv_sec = ns / 1'000'000'000;
  ts.tv_nsec = ns % 1'000'000'000;
  return ts;
}

}  // namespace

UringLoop* UringLoop::current() { return currentLoop; }

// What a direct socket's SocketHandle points at. Not the loop itself: a
// Connection can outlive its loop (someone still holds a ConnectionPtr), and
// then there is nothing left to close (the ring's exit closed every slot in
// its table), which this object knows once the loop detached it.
class UringLoop::DirectSlots final : public SocketSlots {
 public:
  explicit DirectSlots(UringLoop& loop) : loop_(&loop) {}
  void closeSlot(std::uint32_t slot, bool abortive) override {
    UringLoop* loop = loop_.load(std::memory_order_acquire);
    if (!loop) return;
    if (loop->isInLoopThread()) {
      loop->closeSlot(slot, abortive);
    } else {
      // The last reference to a never-closed socket dropped on another
      // thread: the ring is the loop thread's alone. A task the loop drops
      // unrun at its end needs nothing either (the ring's exit closes it).
      // (Off the loop thread only for a socket nobody closed: the loop must
      // then still exist, as for any call into it from outside.)
      loop->queueInLoop([loop, slot, abortive] { loop->closeSlot(slot, abortive); });
    }
  }
  void detach() { loop_.store(nullptr, std::memory_order_release); }

 private:
  std::atomic<UringLoop*> loop_;
};

// Delegating constructor: the ring must exist before EventLoop's constructor,
// which wants the mode string ("uring-defer" ...) that only setup can tell.
UringLoop::UringLoop(const LoopOptions& options) : UringLoop(options, Ring::open(options)) {}

UringLoop::UringLoop(const LoopOptions& options, std::unique_ptr<Ring> ring)
    : EventLoop(options, ring->mode()), ring_(std::move(ring)) {
  ring_->attachStats(&stats());
  buffers_ = makeBufferRing(options);

  // Bundles are a property of the recv, not of the ring: the kernel says in
  // its features whether recv understands them.
  if (options.uring.recvBundle != KernelFeature::Off) {
    recvBundle_ = ring_->hasFeature(IORING_FEAT_RECVSEND_BUNDLE);
    if (!recvBundle_ && options.uring.recvBundle == KernelFeature::On) {
      throw BackendUnavailable(
          "recv bundles are unavailable: this kernel lacks IORING_FEAT_RECVSEND_BUNDLE (Linux "
          "6.10); run with "
          "--recv-bundle off");
    }
  }
  adaptiveRecv_ = options.uring.adaptiveRecv;

  const UringSyscalls::Opcodes opcodes = sys().probeOpcodes(ring_->raw());
  msgRing_ = opcodes.msgRing;
  zeroCopySend_ = opcodes.sendZeroCopy;
  if (options.uring.msgRingHandoff && !msgRing_) {
    throw BackendUnavailable(
        "--msgring-handoff on needs IORING_OP_MSG_RING (Linux 5.18), which this kernel lacks; run "
        "with "
        "--msgring-handoff off");
  }

  if (options.uring.directDescriptors != KernelFeature::Off) setUpDirectDescriptors(options);

  waitBatch_ = std::max(options.uring.waitBatch, 1u);
  if (waitBatch_ > 1 && options.uring.waitBatchTimeout.count() <= 0) {
    // Waiting for N completions with no time limit could sleep forever on a
    // quiet loop (one wake-up is one completion). Refuse the combination.
    DUET_LOG(Warn) << "waitBatch " << waitBatch_
                   << " needs a waitBatchTimeout; waiting for 1 completion instead";
    waitBatch_ = 1;
  }

  waker_ = UringWaker::create(*this, options.uring.wakeup);
  waker_->arm();
  if (!currentLoop) currentLoop = this;
}

UringLoop::~UringLoop() {
  if (currentLoop == this) currentLoop = nullptr;
  // Queued tasks and timers may hold connections and acceptors that cancel
  // their operations as they die: they go first, while the ring exists, and
  // before the drain, so what they cancel is drained too.
  dropPendingWork();
  drainInFlight();
  const std::size_t stuck = ops_.inFlight();
  ops_.clear();  // connections and acceptors that waited for their last completion die here
  if (stuck > 0) {
    // The kernel may still write into the provided buffers or the waker's
    // counter: leak them rather than free memory it could scribble on.
    DUET_LOG(Warn) << "loop '" << name() << "': " << stuck
                   << " io_uring operations did not complete at teardown; leaking their buffers";
    new std::shared_ptr<UringWaker>(std::move(waker_));
    (void)buffers_.release();
  }
  // Handles still open past here (a Connection someone still holds) have
  // nothing to close: the ring's exit below closes every slot.
  if (directSlots_) directSlots_->detach();
  buffers_.reset();  // unregisters the buffer ring while the ring still exists
  ring_.reset();     // io_uring_queue_exit
}

std::unique_ptr<BufferRing> UringLoop::makeBufferRing(const LoopOptions& options) {
  if (options.uring.incrementalBuffers != KernelFeature::Off) {
    // The same bytes in all, in 256 KiB buffers (at least 4: a tiny pool
    // configured on purpose stays tiny).
    const std::size_t total = std::size_t{options.uring.bufferCount} * options.uring.bufferSize;
    const std::size_t size = std::clamp<std::size_t>(total / 4, 1, kIncrementalBufferSize);
    const auto count = static_cast<unsigned>(total / size);
    try {
      return sys().registerBufferRing(ring_->raw(), count, static_cast<unsigned>(size),
                                      kBufferGroup, /*incremental=*/true);
    } catch (const BackendUnavailable&) {
      if (options.uring.incrementalBuffers == KernelFeature::On) throw;
      // Auto: the kernel said no; a classic ring instead.
    }
  }
  return sys().registerBufferRing(ring_->raw(), options.uring.bufferCount, options.uring.bufferSize,
                                  kBufferGroup, /*incremental=*/false);
}

// ---------------------------------------------------------------- direct descriptors

// The table is sparse (every slot empty) and the kernel allocates from all of
// it (IORING_FILE_INDEX_ALLOC): an accept takes the lowest free slot, and
// -ENFILE says the table is full. As large as the process may open
// descriptors: a server that could hold N sockets as descriptors can hold N
// as slots (the kernel refuses a table above RLIMIT_NOFILE anyway).
void UringLoop::setUpDirectDescriptors(const LoopOptions& options) {
  unsigned slots = options.uring.directDescriptorSlots;
  if (slots == 0) {
    rlimit limit{};
    ::getrlimit(RLIMIT_NOFILE, &limit);
    slots = static_cast<unsigned>(std::min<rlim_t>(limit.rlim_cur, rlim_t{1} << 20));
  }
  // Both calls exist since Linux 6.0 (FILE_ALLOC_RANGE), which is also the
  // first kernel that cancels by fixed file (IORING_ASYNC_CANCEL_FD_FIXED).
  const int ret = sys().registerDirectTable(ring_->raw(), slots);
  if (ret < 0) {
    if (options.uring.directDescriptors == KernelFeature::On) {
      throw BackendUnavailable(
          std::string("io_uring here cannot do direct descriptors: they need Linux 6.0 "
                      "(a sparse fixed-file table with an allocation range: ") +
          std::strerror(-ret) + "); run with --direct-fds off");
    }
    io_uring_unregister_files(&ring_->raw());  // Auto: plain descriptors, as if off
    return;
  }
  directTableSize_ = slots;
  socketSetsockopt_ = probeSocketSetsockopt();
  directSlots_ = std::make_shared<DirectSlots>(*this);
}

// Prepares setsockopt(SOL_SOCKET, SO_LINGER, {1, 0}) through the ring.
// liburing 2.3 has no helper (nor names for the fields): see uring_compat.h.
static void prepareLingerZero(io_uring_sqe* sqe, int fd) {
  static const linger kReset{1, 0};  // read by the kernel when the SQE is issued
  io_uring_prep_rw(IORING_OP_URING_CMD, sqe, fd, nullptr, 0, 0);
  sqe->cmd_op = SOCKET_URING_OP_SETSOCKOPT;
  sqe->addr = std::uint64_t{SOL_SOCKET} | (std::uint64_t{SO_LINGER} << 32);  // level, optname
  sqe->file_index = sizeof kReset;                                           // optlen
  sqe->addr3 = reinterpret_cast<std::uint64_t>(&kReset);                     // optval
}

// No feature bit announces socket commands: one setsockopt through the ring
// on a throwaway socket answers (EOPNOTSUPP or EINVAL before 6.7).
bool UringLoop::probeSocketSetsockopt() {
  const UniqueFd probe = sys().probeSocket();
  if (!probe) return false;
  io_uring_sqe* sqe = nextSqe();
  prepareLingerZero(sqe, probe.get());
  io_uring_sqe_set_data64(sqe, 0);
  const __kernel_timespec limit{1, 0};
  ring_->enter(1, &limit, 0, Syscall::Control);
  io_uring_cqe* cqe = nullptr;
  if (io_uring_peek_cqe(&ring_->raw(), &cqe) != 0 || !cqe) return false;
  const int res = cqe->res;
  io_uring_cqe_seen(&ring_->raw(), cqe);
  return res == 0;
}

SocketHandle UringLoop::adoptSlot(std::uint32_t slot) {
  ++directSlotsInUse_;
  return SocketHandle(directSlots_, slot);
}

void UringLoop::closeSlot(std::uint32_t slot, bool abortive) {
  assertInLoopThread();
  // Still counted until the close completes (onSlotClosed): only then is the
  // slot free in the kernel's table, for our accepts and for hand-offs from
  // other rings alike.
  if (abortive) {
    if (socketSetsockopt_) {
      io_uring_sqe* sqe = nextSqe();
      prepareLingerZero(sqe, static_cast<int>(slot));
      // HARDLINK: the close runs after it, and runs even if it failed.
      sqe->flags |= IOSQE_FIXED_FILE | IOSQE_IO_HARDLINK;
      io_uring_sqe_set_data64(sqe, user_data::kUntracked);
    } else {
      // Before 6.7 a direct socket cannot take SO_LINGER: the close below is
      // a graceful one, and unsent bytes linger as after any close(2).
      static std::atomic<bool> logged{false};
      if (!logged.exchange(true)) {
        DUET_LOG(Warn)
            << "io_uring: this kernel cannot setsockopt a direct descriptor (Linux 6.7); "
               "abortive closes become graceful ones (logged once)";
      }
    }
  }
  io_uring_sqe* sqe = nextSqe();
  io_uring_prep_close_direct(sqe, slot);
  io_uring_sqe_set_data64(sqe, user_data::kSlotClosed);
}

void UringLoop::onSlotClosed() {
  assert(directSlotsInUse_ > 0);
  --directSlotsInUse_;
}

std::uint64_t UringLoop::shutdownWrite(const SocketHandle& socket,
                                       std::shared_ptr<CompletionHandler> owner) {
  if (socket.isSlot()) {
    // No descriptor for shutdown(2): IORING_OP_SHUTDOWN, tracked as an
    // operation of `owner`, whose slot must outlive it (see the header).
    io_uring_sqe* sqe = nextSqe();
    io_uring_prep_shutdown(sqe, 0, SHUT_WR);
    aimAtSocket(sqe, socket);
    return track(sqe, OpKind::Shutdown, std::move(owner));
  }
  if (!sys().shutdownWrite(socket.fd()) && errno != ENOTCONN) {
    DUET_LOG(Debug) << "shutdown: " << std::strerror(errno);
  }
  return 0;  // done already
}

std::string UringLoop::handOffRefusal() const {
  if (!directDescriptors() || msgRing_) return {};
  return "io_uring direct descriptors (--direct-fds on) reach an I/O loop only by "
         "IORING_OP_MSG_RING, which this "
         "kernel lacks; with --threads use --accept reuseport, or run with --direct-fds off";
}

// ---------------------------------------------------------------- factories

std::unique_ptr<Acceptor> UringLoop::createAcceptor(UniqueFd listenSocket,
                                                    AcceptCallback onAccept) {
  assertInLoopThread();
  return std::make_unique<UringAcceptor>(*this, std::move(listenSocket), std::move(onAccept));
}

ConnectionPtr UringLoop::createConnection(SocketHandle socket, const InetAddress& local,
                                          const InetAddress& peer) {
  assertInLoopThread();
  return std::make_shared<UringConnection>(*this, std::move(socket), local, peer);
}

void UringLoop::connect(UniqueFd socket, const InetAddress& server, ConnectCallback done) {
  assertInLoopThread();
  UringConnector::start(*this, std::move(socket), server, std::move(done));
}

void UringLoop::readFile(SharedFd file, std::uint64_t offset, std::size_t length,
                         FileReadCallback done) {
  assertInLoopThread();
  UringFileRead::start(*this, std::move(file), offset, length, std::move(done));
}

std::unique_ptr<EventLoop> UringLoop::createSibling() const {
  return std::make_unique<UringLoop>(options());
}

// ---------------------------------------------------------------- hand-offs

void UringLoop::handOff(EventLoop& target, SocketHandle socket, const InetAddress& peer) {
  assertInLoopThread();
  if (socket.isSlot()) {
    handOffSlot(target, std::move(socket), peer);
    return;
  }
  auto* targetRing = dynamic_cast<UringLoop*>(&target);
  if (!options().uring.msgRingHandoff || !targetRing || !msgRing_) {
    EventLoop::handOff(target, std::move(socket), peer);
    return;
  }
  const int fd = socket.takeDescriptor()
                     .release();  // the target's once the message goes; ours again if it fails
  // Where it went, in case it comes back: found by its descriptor, which stays
  // open (and so is not reused) for as long as the socket is ours.
  if (static_cast<std::size_t>(fd) >= handoffs_.size())
    handoffs_.resize(static_cast<std::size_t>(fd) + 1);
  handoffs_[static_cast<std::size_t>(fd)] = HandoffRecord{targetRing, targetRing->alive_};

  io_uring_sqe* sqe = nextSqe();
  const int targetFd = failHandoffForTesting_.load() ? -1 : targetRing->ringFd();
  io_uring_prep_msg_ring(sqe, targetFd, static_cast<unsigned>(fd), socket_handoff::encode(peer), 0);
  // No completion of our own unless it failed: a success needs nothing from
  // us, and a completion per hand-off would wake this loop once more each.
  io_uring_sqe_set_flags(sqe, IOSQE_CQE_SKIP_SUCCESS);
  io_uring_sqe_set_data64(sqe, socket_handoff::senderData(fd));
  // Not submitted here: it rides on this loop's next io_uring_enter with
  // everything else this iteration prepared, so a burst of accepts costs no
  // system call of its own (the default path writes an eventfd per wake-up).
  // The completion it posts in the target's ring is the target's wake-up.
}

void UringLoop::onSocketHandoffFailed(const RawCompletion& entry) {
  const int fd = socket_handoff::fdOfSenderData(entry.userData);
  UniqueFd socket(fd);  // still ours: the message did not go
  logHandoffFailure(entry.completion.res);
  const HandoffRecord record = static_cast<std::size_t>(fd) < handoffs_.size()
                                   ? handoffs_[static_cast<std::size_t>(fd)]
                                   : HandoffRecord{};
  // The target's liveness is read here, on our thread, after its owner ended
  // it (TcpServer flushes hand-offs and joins the I/O threads first), which
  // is what makes the check meaningful.
  if (!draining_ && record.target && !record.alive.expired()) {
    // Refused (e.g. the target's CQ could not take it): the target still
    // exists, so the socket goes by its task queue instead.
    const InetAddress peer = sys().peerAddress(fd);
    EventLoop::handOff(*record.target, std::move(socket), peer);
    return;
  }
  // The target is gone: nobody can serve the socket; close it rather than leak it.
  sys().close(std::move(socket));
}

// A direct socket: the kernel copies the file in our slot into a free slot of
// the target's table (IORING_MSG_SEND_FD, Linux 6.0; liburing 2.3 has no
// helper, so the fields are set here), and a close hard-linked behind the
// message frees our slot whether the message went or not. Two SQEs, no
// system call of their own: they ride on this loop's next enter, like the
// descriptor hand-off above. The target's completion is its wake-up.
void UringLoop::handOffSlot(EventLoop& target, SocketHandle socket, const InetAddress& peer) {
  auto* targetRing = dynamic_cast<UringLoop*>(&target);
  if (!targetRing || !targetRing->directDescriptors() || !msgRing_) {
    // handOffRefusal() keeps TcpServer from getting here; anyone else loses the socket, loudly.
    DUET_LOG(Error) << "a direct descriptor can go only to another io_uring loop with direct "
                       "descriptors; closing it";
    return;
  }
  const std::uint32_t slot =
      socket.releaseSlot();  // still counted in directSlotsInUse_ until the close completes
  if (slot >= slotHandoffs_.size()) slotHandoffs_.resize(std::size_t{slot} + 1);
  InetAddress* ipv6Peer = peer.isIpv6() ? new InetAddress(peer) : nullptr;
  slotHandoffs_[slot] = SlotHandoffRecord{targetRing, targetRing->alive_, ipv6Peer};

  io_uring_sqe* message = nextSqe();
  const int targetFd = failHandoffForTesting_.load() ? -1 : targetRing->ringFd();
  io_uring_prep_rw(IORING_OP_MSG_RING, message, targetFd,
                   reinterpret_cast<void*>(std::uintptr_t{IORING_MSG_SEND_FD}), 0,
                   socket_handoff::encodeSlot(peer, ipv6Peer));  // `off`: the target's user_data
  message->addr3 = slot;                                         // the slot in our table
  message->file_index = IORING_FILE_INDEX_ALLOC;  // any free slot in the target's (res names it)
  message->msg_ring_flags = 0;
  // Only a failure completes here; HARDLINK: the close below runs either way.
  message->flags |= IOSQE_CQE_SKIP_SUCCESS | IOSQE_IO_HARDLINK;
  io_uring_sqe_set_data64(message, socket_handoff::slotSenderData(slot));

  io_uring_sqe* close = nextSqe();
  io_uring_prep_close_direct(close, slot);
  io_uring_sqe_set_data64(close, socket_handoff::kSlotHandoffClosed);
}

// The target did not take the socket: its table was full (ENFILE), or it is
// gone (EBADF/EBADFD at shutdown). Our slot closes anyway (the linked close),
// so the connection is closed; it is counted as shed, and the server is told
// to forget it (an empty socket by the task queue), if the target still exists.
void UringLoop::onSlotHandoffFailed(const RawCompletion& entry) {
  const std::uint32_t slot = user_data::indexOf(entry.userData);
  SlotHandoffRecord record =
      slot < slotHandoffs_.size() ? std::exchange(slotHandoffs_[slot], {}) : SlotHandoffRecord{};
  delete record.ipv6Peer;  // the target never saw it
  ++slotHandoffFailuresUnclosed_;
  stats().acceptShed.add();
  ++slotHandoffsFailedInBurst_;
  if (!slotHandoffBurst_) {
    slotHandoffBurst_ = true;
    const int error = -entry.completion.res;
    DUET_LOG(Warn)
        << "socket hand-off to an I/O loop failed ("
        << (error == ENFILE ? "its io_uring fixed-file table is full" : std::strerror(error))
        << "); closing such connections until hand-offs go through again (logged once per burst)";
  }
  // Read on our thread after the owner ended the target (see onSocketHandoffFailed).
  if (!draining_ && record.target && !record.alive.expired()) {
    EventLoop::handOff(*record.target, SocketHandle(), InetAddress());
  }
}

// Our slot of a hand-off is closed. After a failure its close comes right
// after it; any other close is a hand-off that went, which ends a burst.
void UringLoop::onSlotHandoffClosed() {
  assert(directSlotsInUse_ > 0);
  --directSlotsInUse_;
  if (slotHandoffFailuresUnclosed_ > 0) {
    --slotHandoffFailuresUnclosed_;
    return;
  }
  if (!slotHandoffBurst_) return;
  DUET_LOG(Warn) << "socket hand-offs recovered: " << slotHandoffsFailedInBurst_
                 << " connection(s) were closed while they failed";
  slotHandoffBurst_ = false;
  slotHandoffsFailedInBurst_ = 0;
}

void UringLoop::onSlotHandedIn(const RawCompletion& entry) {
  std::unique_ptr<InetAddress> ipv6Peer(socket_handoff::ipv6PeerOf(entry.userData));
  if (entry.completion.res < 0)
    return;  // not a slot (cannot happen: a failure completes at the sender)
  SocketHandle socket = adoptSlot(static_cast<std::uint32_t>(entry.completion.res));
  if (draining_) return;  // the loop is ending: nobody will serve it; its slot closes here
  const std::optional<InetAddress> ipv4Peer = socket_handoff::decodePeer(entry.userData);
  receiveSocket(std::move(socket), ipv6Peer ? *ipv6Peer : ipv4Peer.value_or(InetAddress()));
}

void UringLoop::flushHandOffs() {
  assertInLoopThread();
  ring_->enter(0, nullptr, 0);  // submits what is prepared; waits for nothing
}

void UringLoop::onSocketHandedIn(const RawCompletion& entry) {
  UniqueFd socket(entry.completion.res);
  if (entry.completion.res < 0) return;  // not a descriptor (cannot happen: we send only sockets)
  if (draining_) {
    sys().close(std::move(socket));  // the loop is ending: nobody will serve it
    return;
  }
  std::optional<InetAddress> peer = socket_handoff::decodePeer(entry.userData);
  if (!peer) peer = sys().peerAddress(socket.get());  // an IPv6 peer did not fit in the message
  receiveSocket(std::move(socket), *peer);
}

void UringLoop::logHandoffFailure(int error) {
  static std::atomic<bool> logged{false};
  if (!logged.exchange(true)) {
    DUET_LOG(Warn) << "IORING_OP_MSG_RING socket hand-off failed (" << std::strerror(-error)
                   << "); such a socket goes by the task queue instead, or is closed if its loop "
                      "is gone (logged once)";
  }
}

// ---------------------------------------------------------------- submissions

std::uint64_t UringLoop::track(io_uring_sqe* sqe, OpKind kind,
                               std::shared_ptr<CompletionHandler> handler) {
  const std::uint64_t userData = ops_.add(kind, std::move(handler));
  io_uring_sqe_set_data64(sqe, userData);
  return userData;
}

void UringLoop::cancelOp(std::uint64_t userData) {
  io_uring_sqe* sqe = nextSqe();
  io_uring_prep_cancel64(sqe, userData, 0);
  io_uring_sqe_set_data64(sqe, user_data::kUntracked);
}

void UringLoop::cancelAll(const SocketHandle& socket) {
  io_uring_sqe* sqe = nextSqe();
  if (socket.isSlot()) {
    io_uring_prep_cancel_fd(sqe, static_cast<int>(socket.slot()),
                            IORING_ASYNC_CANCEL_ALL | IORING_ASYNC_CANCEL_FD_FIXED);
  } else {
    io_uring_prep_cancel_fd(sqe, socket.fd(), IORING_ASYNC_CANCEL_ALL);
  }
  io_uring_sqe_set_data64(sqe, user_data::kUntracked);
}

// ---------------------------------------------------------------- wake-ups

void UringLoop::wakeup() { waker_->wake(); }

void UringLoop::wakeSelf() {
  io_uring_sqe* sqe = nextSqe();
  io_uring_prep_nop(sqe);
  io_uring_sqe_set_data64(sqe, user_data::kWake);
}

bool UringLoop::sendWake(int targetRingFd, std::uint32_t targetWaker, LoopStats& targetStats,
                         int* error) {
  if (!msgRing_) return false;
  io_uring_sqe* sqe = nextSqe();
  // The target sees a CQE with res 0 and user_data kWake. CQE_SKIP_SUCCESS:
  // we want no completion of our own unless it failed, so a sender whose loop
  // is not running does not pile completions up in its CQ.
  io_uring_prep_msg_ring(sqe, targetRingFd, 0, user_data::kWake, 0);
  io_uring_sqe_set_flags(sqe, IOSQE_CQE_SKIP_SUCCESS);
  const std::uint64_t userData =
      user_data::encode(OpKind::MsgRingSent, ++msgRingsSent_, targetWaker);
  io_uring_sqe_set_data64(sqe, userData);
  // Charged to the loop it wakes, like an eventfd write.
  const int submitted = ring_->enterToWake(targetStats);
  if (submitted < 0) {
    // Not submitted (EBUSY, EAGAIN...): it goes with our next enter, which may
    // be long from now. The caller wakes the target another way meanwhile.
    *error = submitted;
    return false;
  }
  // The kernel runs a MSG_RING during the submit, so a failure is normally in
  // our CQ already. Handle it here, not when our own loop next reaps: that loop
  // may be busy, or not running at all, and the target is asleep with its
  // "wake-up on its way" flag set. Marked handled, the failure CQE is ignored
  // when reaped. (One that comes later still reaches msgRingFailed().)
  if (const auto res = ring_->takeReady(userData, user_data::kUntracked); res && *res < 0) {
    *error = *res;
    return false;
  }
  return true;
}

// ---------------------------------------------------------------- the iteration

void UringLoop::poll(bool mayBlock, std::optional<TimePoint> timerDeadline) {
  unsigned waitFor = 0;
  unsigned minWaitUsec = 0;
  std::optional<Duration> limit;
  if (mayBlock) {
    waitFor = waitBatch_;
    if (timerDeadline) {
      const Duration left = *timerDeadline - Clock::now();
      if (left <= Duration::zero()) {
        waitFor = 0;  // a timer is due already: just submit and look
      } else {
        limit = left;
      }
    }
    if (waitFor > 1) {
      // Wait for a batch, but not for long. Kernels with MIN_TIMEOUT settle for
      // one completion after the short wait; older ones just stop waiting.
      const Duration batchWait = options().uring.waitBatchTimeout;
      if (ring_->hasFeature(IORING_FEAT_MIN_TIMEOUT)) {
        minWaitUsec = static_cast<unsigned>(std::max<std::int64_t>(
            1, std::chrono::duration_cast<std::chrono::microseconds>(batchWait).count()));
      } else {
        limit = limit ? std::min(*limit, batchWait) : batchWait;
      }
    }
  }
  __kernel_timespec ts{};
  if (limit) ts = toTimespec(*limit);
  ring_->enter(waitFor, limit ? &ts : nullptr, minWaitUsec);

  const std::size_t reaped = reapAndDispatch();
  stats().uring.cqesReaped.add(reaped);
  if (reaped > 0) stats().wakeups.add();
}

std::size_t UringLoop::reapAndDispatch() {
  auto& batch = reapBatch_;
  std::size_t total = 0;
  // Bounds, so a stream of completions cannot starve timers and tasks.
  const std::size_t limit = 4 * std::size_t{ring_->completionQueueSize()};
  int flushes = 0;
  while (total < limit) {
    // Copy a batch out and hand the CQ slots back before running any handler:
    // handlers then never see ring memory, and the kernel has room again.
    const std::size_t n = ring_->reap(batch);
    for (std::size_t i = 0; i < n; ++i) {
      if (!loseForTesting(batch[i])) dispatch(batch[i]);
    }
    total += n;
    if (n == batch.size()) continue;
    noteOverflow();
    reclaimLostBuffersWhenQuiet();
    if (!overflowing_ || ++flushes > 8) break;
    // The kernel held completions back for lack of room. Now there is room:
    // an enter with GETEVENTS (enter() adds it when the flag is up) moves
    // them into the CQ, and we go round again.
    ring_->enter(0, nullptr, 0);
  }
  return total;
}

void UringLoop::noteOverflow() {
  const bool held = ring_->completionsHeldBack();
  if (held && !overflowing_) {
    stats().uring.cqOverflows.add();
    static std::atomic<bool> logged{false};
    if (!logged.exchange(true)) {
      DUET_LOG(Warn)
          << "io_uring completion queue overflowed (" << ring_->completionQueueSize()
          << " entries); the kernel is holding completions back and the loop catches up. "
             "A larger cqFactor avoids it (logged once)";
    }
  }
  overflowing_ = held;
  const unsigned dropped = ring_->completionsDropped() + lostForTesting_;
  if (dropped != droppedSeen_) {
    stats().uring.cqesDropped.add(dropped - droppedSeen_);
    DUET_LOG(Error) << "io_uring dropped " << (dropped - droppedSeen_)
                    << " completions (the kernel could not hold them); asking the kernel which "
                       "operations they ended";
    droppedSeen_ = dropped;
    if (!draining_) {
      reconcileAfterDroppedCompletions();
      reclaimPending_ = true;
    }
  }
}

// Why: a completion the kernel drops (no room in the CQ, and no memory to
// hold it in the overflow list; io_uring_enter reports EBADR once) never
// reaches its owner. If it was an operation's last one, the owner waits for
// ever: its op-table slot, and the object that slot keeps alive (a
// Connection, with its buffers and socket), leak, and a connection whose recv
// ended unseen never reads again.
//
// The kernel does not say which completions it dropped, so we ask it about
// every operation we believe is in flight: a cancel by its user_data.
//   0 / -EALREADY  the kernel still has it. Its own final completion follows
//                  (-ECANCELED, or its result if it won the race), and its
//                  owner carries on as after any cancel: a recv or an accept
//                  is armed again, a send that sent nothing is sent again.
//   -ENOENT        the kernel no longer has it: its final completion was
//                  posted before our cancel ran. If we reaped it, the slot
//                  has moved on (new generation) and the answer is ignored;
//                  if not, it was dropped: we hand the owner a final
//                  completion ourselves (-ECANCELED, no F_MORE, no buffer,
//                  `synthesized`), so it clears its state and the slot is freed.
// The price: every healthy operation is cancelled and re-armed once per
// drop, which only happens when the kernel is out of memory. The provided
// buffers a lost recv completion named come back by another way
// (reclaimLostBuffersWhenQuiet). The bytes in them are gone, and nothing
// says where in which stream: a recv whose completion was lost while bytes
// were lost is ended with -EIO instead, so its connection fails rather than
// read on past a hole it cannot see.
void UringLoop::reconcileAfterDroppedCompletions() {
  // A lost wake-up completion would leave "a wake-up is on its way" set, and
  // every later wake() would return early. The tasks it was for run in this
  // iteration anyway.
  waker_->woken();
  for (const std::uint64_t userData : ops_.liveOperations()) {
    io_uring_sqe* sqe = nextSqe();
    io_uring_prep_cancel64(sqe, userData, 0);
    // The answer names the slot and generation it asked about.
    io_uring_sqe_set_data64(sqe,
                            user_data::encode(OpKind::LostCheck, user_data::generationOf(userData),
                                              user_data::indexOf(userData)));
  }
}

void UringLoop::onLostCheck(const RawCompletion& entry) {
  if (entry.completion.res != -ENOENT || draining_) return;
  const std::uint64_t lost = ops_.liveOperation(user_data::generationOf(entry.userData),
                                                user_data::indexOf(entry.userData));
  if (lost == 0) return;  // its final completion came after all
  if (user_data::kindOf(lost) == OpKind::Recv && reclaimPending_) {
    // Whether it carried bytes is known once the reclaim has looked.
    lostRecvsAwaitingReclaim_.push_back(lost);
    return;
  }
  endLostOperation(lost);
}

void UringLoop::endLostOperation(std::uint64_t lost) {
  const bool hole = user_data::kindOf(lost) == OpKind::Recv && recvBytesLost_;
  DUET_LOG(Warn) << "io_uring: the final completion of a " << opKindName(user_data::kindOf(lost))
                 << " was dropped; ending it as "
                 << (hole ? "failed (received bytes were lost with such completions)"
                          : "cancelled");
  RawCompletion ended;
  ended.userData = lost;
  ended.completion.res = hole ? -EIO : -ECANCELED;
  ended.completion.synthesized = true;
  dispatch(ended);
}

// A lost recv completion named provided buffers nobody will give back: with
// all of them gone every recv would end in ENOBUFS, for good. The kernel does
// not say which buffers it handed out, but at a quiet moment the ring does:
// with DEFER_TASKRUN the kernel takes a buffer and posts its completion in
// one go, inside our own io_uring_enter, so between two enters, with the CQ
// and the overflow list empty, every buffer the kernel took has a completion
// we handled (and put back) or lost. Whatever is missing from the kernel's
// ring then was lost. Without DEFER_TASKRUN the kernel may run recvs while we
// look (task work interrupts the thread), and a buffer taken but not yet
// posted would be given back twice: there the lost buffers stay out, the
// ring grows into the rest of bufferCount, and ENOBUFS re-arms keep trying.
void UringLoop::reclaimLostBuffersWhenQuiet() {
  if (!reclaimPending_ || overflowing_ || io_uring_cq_ready(&ring_->raw()) != 0) return;
  reclaimPending_ = false;
  BufferRing::Reclaimed reclaimed;
  bool looked = false;
  if (!ring_->deferTaskRun()) {
    DUET_LOG(Warn) << "io_uring: buffers of lost recv completions cannot be told apart from ones "
                      "in use without "
                      "DEFER_TASKRUN; they stay out of the ring";
  } else {
    if (const auto r = sys().reclaimLostBuffers(*buffers_)) {
      reclaimed = *r;
      looked = true;
    } else {
      DUET_LOG(Warn) << "io_uring: this kernel cannot report a buffer ring's head "
                        "(IORING_REGISTER_PBUF_STATUS, "
                        "Linux 6.8); buffers of lost recv completions stay out of the ring";
    }
  }
  // Where we could not look, assume the worst: the lost recvs carried bytes.
  recvBytesLost_ = !looked || reclaimed.buffers > 0 || reclaimed.skipped > 0;
  if (reclaimed.buffers > 0) {
    DUET_LOG(Warn)
        << "io_uring: " << reclaimed.buffers
        << " provided buffers went with lost recv completions; they are back in the ring";
  }
  if (reclaimed.skipped > 0) {
    DUET_LOG(Warn)
        << "io_uring: lost recv completions had taken " << reclaimed.skipped
        << " bytes of the part-filled buffer; the next piece is read from where the kernel is";
  }
  // The recvs whose completions were lost end now, failed if bytes went with them.
  for (const std::uint64_t lost : std::exchange(lostRecvsAwaitingReclaim_, {}))
    endLostOperation(lost);
}

bool UringLoop::loseForTesting(const RawCompletion& entry) {
  if (lossesForTesting_ == 0 || entry.completion.more() ||
      user_data::kindOf(entry.userData) != lossKindForTesting_) {
    return false;
  }
  --lossesForTesting_;
  ++lostForTesting_;
  return true;
}

void UringLoop::dispatch(const RawCompletion& entry) {
  const OpKind kind = user_data::kindOf(entry.userData);
  const Completion& c = entry.completion;
  switch (kind) {
    case OpKind::Untracked:
      return;  // a cancel request's own result: ENOENT/EALREADY are normal races
    case OpKind::Wake:
      waker_->woken();
      return;
    case OpKind::MsgRingSent:
      // Only failures arrive here (CQE_SKIP_SUCCESS).
      UringWaker::msgRingFailed(user_data::indexOf(entry.userData), c.res);
      return;
    case OpKind::LostCheck:
      onLostCheck(entry);
      return;
    case OpKind::SocketHandedIn:
      onSocketHandedIn(entry);
      return;
    case OpKind::SocketHandoffSent:
      onSocketHandoffFailed(entry);  // only failures arrive (CQE_SKIP_SUCCESS)
      return;
    case OpKind::SlotHandedIn:
      onSlotHandedIn(entry);
      return;
    case OpKind::SlotHandoffSent:
      onSlotHandoffFailed(entry);  // only failures arrive (CQE_SKIP_SUCCESS)
      return;
    case OpKind::SlotHandoffClosed:
      onSlotHandoffClosed();
      return;
    case OpKind::SlotClosed:
      onSlotClosed();
      return;
    default:
      break;
  }

  if (draining_) {
    // Teardown: nobody gets called back any more; only the bookkeeping runs.
    if (!c.more()) ops_.release(entry.userData);
    dropStale(entry);
    return;
  }

  // `events` counts what the reactor's ready descriptors count: I/O news
  // handed to a handler. Wake-ups, the eventfd's own read, cancel results and
  // stale completions are not events (they are in `cqes`).
  // Nor is a completion the loop made for one the kernel dropped, nor a
  // direct socket's shutdown done (the reactor's shutdown(2) makes none).
  const bool isEvent = kind != OpKind::WakeRead && kind != OpKind::Shutdown && !c.synthesized;
  if (c.more()) {
    // More completions will follow: the slot (and its reference) stays.
    CompletionHandler* handler = ops_.find(entry.userData);
    if (!handler) return dropStale(entry);
    if (isEvent) stats().events.add();
    handler->onCompletion(kind, c);
  } else {
    // The last one: free the slot first, but hold the reference until the
    // handler returns, so an object whose last operation this was may die
    // only after its callback.
    const std::shared_ptr<CompletionHandler> handler = ops_.release(entry.userData);
    if (!handler) return dropStale(entry);
    if (isEvent) stats().events.add();
    handler->onCompletion(kind, c);
  }
}

void UringLoop::dropStale(const RawCompletion& entry) {
  const Completion& c = entry.completion;
  if (c.hasBuffer()) {
    // Give back every buffer it filled (a bundle may span several), unread.
    buffers_->consume(c.bufferId(), c.res > 0 ? static_cast<std::size_t>(c.res) : 0, c.bufferMore(),
                      [](const char*, std::size_t) {});
  }
  if (user_data::kindOf(entry.userData) == OpKind::Accept && c.res >= 0) {
    sys().close(UniqueFd(c.res));  // a socket accepted for a listener that is gone
  }
  if (user_data::kindOf(entry.userData) == OpKind::AcceptDirect && c.res >= 0) {
    adoptSlot(static_cast<std::uint32_t>(c.res)).close();  // the same, in a slot
  }
  if (!draining_) {
    DUET_LOG(Debug) << "dropped a stale " << opKindName(user_data::kindOf(entry.userData))
                    << " completion";
  }
}

void UringLoop::drainInFlight() {
  draining_ = true;
  waker_->stop();
  // The waker's read is always in flight, so the loop below always runs and
  // also reaps completions nobody asked for: sockets other loops handed us by
  // MSG_RING, which onSocketHandedIn() closes while draining.
  if (ops_.inFlight() == 0) return;
  // One request cancels everything this ring has in flight.
  io_uring_sqe* sqe = nextSqe();
  io_uring_prep_cancel64(sqe, 0, IORING_ASYNC_CANCEL_ANY | IORING_ASYNC_CANCEL_ALL);
  io_uring_sqe_set_data64(sqe, user_data::kUntracked);

  const TimePoint deadline = Clock::now() + kDrainTimeout;
  while (ops_.inFlight() > 0 && Clock::now() < deadline) {
    const __kernel_timespec ts = toTimespec(std::chrono::milliseconds(100));
    const int ret = ring_->enter(1, &ts, 0);
    // EEXIST: a SINGLE_ISSUER ring destroyed on a thread that does not own it.
    if (ret == -EEXIST || ret == -EBADF || ret == -EOPNOTSUPP) break;
    reapAndDispatch();
  }
}

}  // namespace duet
