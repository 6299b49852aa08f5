#include "core/connection.h"

#include <sys/socket.h>

#include <cassert>
#include <cstring>
#include <utility>

#include "core/log.h"
#include "core/socket_ops.h"

namespace duet {

std::atomic<std::size_t> Connection::liveCount_{0};

namespace {
std::atomic<std::uint64_t> nextConnectionId{1};
}

Connection::Connection(EventLoop& loop, SocketHandle socket, const InetAddress& local, const InetAddress& peer)
    : loop_(loop),
      id_(nextConnectionId.fetch_add(1, std::memory_order_relaxed)),
      socket_(std::move(socket)),
      local_(local),
      peer_(peer),
      lastActivity_(loop.now()) {
  liveCount_.fetch_add(1, std::memory_order_relaxed);
}

Connection::~Connection() { liveCount_.fetch_sub(1, std::memory_order_relaxed); }

void Connection::start() {
  loop_.assertInLoopThread();
  assert(state() == State::Connecting && "start() runs once, right after the backend made the connection");
  state_.store(State::Connected, std::memory_order_release);
  lastActivity_ = loop_.now();
  auto self = shared_from_this();
  reading_ = true;  // the default; onConnection may call stopReading() or close us
  if (callbacks_ && callbacks_->onConnection) callbacks_->onConnection(self);
  ioStarted_ = true;
  if (reading_ && state() != State::Disconnected) ioStartReading();
}

// ---------------------------------------------------------------- sending

void Connection::send(std::string_view data) {
  if (state() != State::Connected) return;
  if (loop_.isInLoopThread()) {
    sendInLoop(data);
  } else {
    loop_.queueInLoop([self = shared_from_this(), copy = std::string(data)] { self->sendInLoop(copy); });
  }
}

void Connection::send(std::string&& data) {
  if (state() != State::Connected) return;
  if (loop_.isInLoopThread()) {
    sendInLoop(data);
  } else {
    loop_.queueInLoop([self = shared_from_this(), moved = std::move(data)] { self->sendInLoop(moved); });
  }
}

void Connection::send(Buffer&& data) {
  if (state() != State::Connected) {
    data.retrieveAll();  // given up even when refused (see connection.h)
    return;
  }
  if (loop_.isInLoopThread()) {
    sendInLoop(data);
  } else {
    // std::function needs a copyable callable, and a Buffer is move-only.
    auto held = std::make_shared<Buffer>(std::move(data));
    loop_.queueInLoop([self = shared_from_this(), held] { self->sendInLoop(*held); });
  }
}

// Closed, or half-closed by us: the bytes have nowhere to go.
bool Connection::canSend() const {
  return state() != State::Disconnected && !writeShutdown_ && !overflowed_ && !sendBroken_;
}

void Connection::sendInLoop(std::string_view data) {
  loop_.assertInLoopThread();
  if (!canSend() || data.empty()) return;
  const bool outer = !std::exchange(insideSend_, true);
  ioWrite(data);
  if (outer) insideSend_ = false;
}

void Connection::sendInLoop(Buffer& data) {
  loop_.assertInLoopThread();
  if (!canSend() || data.empty()) {
    data.retrieveAll();
    return;
  }
  const bool outer = !std::exchange(insideSend_, true);
  ioWriteOwned(data);
  if (outer) insideSend_ = false;
}

void Connection::outputQueued(std::size_t before, std::size_t after) {
  if (after > 0) outputWaited_ = true;
  if (maxOutputBytes_ != 0 && after > maxOutputBytes_) {
    if (!overflowed_) {
      overflowed_ = true;
      stats().outputOverflows.add();
      DUET_LOG(Warn) << "connection #" << id_ << " from " << peer_.toIpPort() << ": " << after
                     << " bytes of unsent output exceed the cap of " << maxOutputBytes_
                     << " (peer not reading); closing it";
      forceClose();
    }
    return;
  }
  if (after >= highWaterMark_ && before < highWaterMark_ && callbacks_ && callbacks_->onHighWaterMark) {
    ++highWaterCallsQueued_;
    loop_.queueInLoop([self = shared_from_this(), after] {
      --self->highWaterCallsQueued_;
      if (self->callbacks_) self->callbacks_->onHighWaterMark(self, after);
    });
  }
}

void Connection::outputDrained() {
  const bool waited = std::exchange(outputWaited_, false);
  if (waited && callbacks_ && callbacks_->onWriteComplete && state() != State::Disconnected) {
    if (insideSend_ || highWaterCallsQueued_ > 0) {
      // Inside the application's send() (a backend that wrote the rest at
      // once), the callback must not run under its caller; and behind a
      // queued onHighWaterMark it must not overtake it (an echo that stops
      // reading at the mark and resumes on write-complete would stay stopped
      // for good). So it is queued, and re-checked when it runs: output
      // queued meanwhile will drain (and call back) later.
      loop_.queueInLoop([self = shared_from_this()] {
        if (!self->disconnected() && self->pendingOutputBytes() == 0) self->callbacks_->onWriteComplete(self);
      });
    } else {
      // From the loop's own I/O handling (writability, a send completion):
      // no caller of ours is on the stack, so call back now instead of
      // queueing a functor per drain (on the proactor: per message).
      const ConnectionPtr self = shared_from_this();
      callbacks_->onWriteComplete(self);
      // The callback may have closed us, or sent more: a pending FIN or
      // close then waits for that output's own drain.
      if (state() == State::Disconnected || outputIsPending()) return;
    }
  }
  if (shutdownRequested_ && !writeShutdown_) {
    writeShutdown_ = true;
    ioShutdownWrite();
  }
  if (peerFinished_) closeInLoop();
}

void Connection::bytesSent(std::size_t bytes) {
  stats().bytesOut.add(bytes);
  // Only bytes the kernel took count, not bytes queued: a peer that stopped
  // reading makes no progress and is still evicted as idle.
  if (bytes > 0) lastActivity_ = loop_.now();
}

// ---------------------------------------------------------------- closing

// The state moves one way only: Connecting -> Connected -> Disconnecting ->
// Disconnected (Disconnecting may be skipped). Connected -> Disconnecting is a
// compare-and-swap because shutdown() and forceClose() may run on any thread;
// every other change happens on the loop thread.
bool Connection::beginDisconnecting() {
  State expected = State::Connected;
  return state_.compare_exchange_strong(expected, State::Disconnecting);
}

void Connection::shutdown() {
  if (!beginDisconnecting()) return;
  loop_.runInLoop([self = shared_from_this()] { self->shutdownInLoop(); });
}

void Connection::shutdownInLoop() {
  if (state() == State::Disconnected || shutdownRequested_) return;
  shutdownRequested_ = true;
  if (!outputIsPending()) {
    writeShutdown_ = true;
    ioShutdownWrite();
    if (peerFinished_) closeInLoop();
  }
  // else: outputDrained() sends the FIN once the last byte is out.
}

void Connection::forceClose() {
  State s = state();
  if (s == State::Disconnected) return;
  if (s == State::Connected) beginDisconnecting();
  // Queued even on the loop thread: forceClose() is often called from inside a
  // callback of this very connection, which must not see it vanish mid-call.
  loop_.queueInLoop([self = shared_from_this()] { self->closeInLoop(); });
}

void Connection::peerClosed() {
  peerFinished_ = true;
  if (reading_) {
    reading_ = false;
    ioStopReading();  // a readable EOF would otherwise wake a level-triggered loop forever
  }
  if (outputIsPending()) {
    // Deliver what the application already answered, then close (outputDrained).
    beginDisconnecting();
  } else {
    closeInLoop();
  }
}

void Connection::socketFailed(int error, const char* during) {
  if (state() == State::Disconnected) return;
  logSocketError(error, during);
  closeInLoop();
}

void Connection::sendFailed(int error) {
  if (state() == State::Disconnected || sendBroken_) return;
  sendBroken_ = true;
  logSocketError(error, "write");
  forceClose();
}

void Connection::logSocketError(int error, const char* during) {
  if (sockets::isPeerError(error)) {
    stats().resets.add();
    DUET_LOG(Info) << "connection #" << id_ << " from " << peer_.toIpPort() << ": " << during << ": "
                   << std::strerror(error) << " (peer went away); closing it";
  } else {
    DUET_LOG(Warn) << "connection #" << id_ << " from " << peer_.toIpPort() << ": " << during
                   << " failed: " << std::strerror(error) << "; closing it";
  }
}

void Connection::closeInLoop() {
  loop_.assertInLoopThread();
  if (state() == State::Disconnected) return;
  auto self = shared_from_this();  // the owner drops its reference below
  // Only this thread moves the state to Disconnected, and only once (checked
  // above), so the exchange can only find an earlier state.
  [[maybe_unused]] const State before = state_.exchange(State::Disconnected, std::memory_order_acq_rel);
  assert(before != State::Disconnected && "closed twice");
  reading_ = false;
  ioClose();
  stats().closed.add();
  if (callbacks_ && callbacks_->onConnection) callbacks_->onConnection(self);
  if (closeHandler_) {
    auto handler = std::move(closeHandler_);
    handler(self);
  }
}

void Connection::closeSocket(bool abortive) {
  loop_.assertInLoopThread();
  assert(state() == State::Disconnected && "the socket closes only after ioClose()");
  if (!socket_) return;
  // A descriptor costs system calls here; a slot is closed by its backend
  // (through the ring, which counts nothing as a system call).
  if (!socket_.isSlot()) {
    if (abortive) stats().count(Syscall::Control);
    stats().count(Syscall::Close);
  }
  socket_.close(abortive);
}

// ---------------------------------------------------------------- reading

void Connection::startReading() {
  loop_.runInLoop([self = shared_from_this()] {
    if (self->reading_ || self->peerFinished_ || self->disconnected()) return;
    self->reading_ = true;
    if (self->ioStarted_) self->ioStartReading();
  });
}

void Connection::stopReading() {
  loop_.runInLoop([self = shared_from_this()] {
    if (!self->reading_) return;
    self->reading_ = false;
    if (self->ioStarted_ && !self->disconnected()) self->ioStopReading();
  });
}

void Connection::deliverInput(std::size_t bytes) {
  // ioClose() promised no more I/O callbacks from the backend.
  assert(state() != State::Disconnected && "input delivered after the close");
  stats().bytesIn.add(bytes);
  stats().reads.add();
  lastActivity_ = loop_.now();
  if (callbacks_ && callbacks_->onMessage) {
    callbacks_->onMessage(shared_from_this(), input_);
  } else {
    input_.retrieveAll();
  }
  // An idle connection should hold no heap buffer: once everything was
  // consumed the storage goes back to the loop's spares (or is freed), and
  // the next read borrows it again.
  if (input_.empty()) loop_.spareBuffers().takeFrom(input_);
}

}  // namespace duet
