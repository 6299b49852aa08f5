#include "core/connection.h"

#include <sys/socket.h>

#include <algorithm>
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

Connection::Connection(EventLoop& loop, SocketHandle socket, const InetAddress& local,
                       const InetAddress& peer)
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
  assert(state() == State::Connecting &&
         "start() runs once, right after the backend made the connection");
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
    loop_.queueInLoop(
        [self = shared_from_this(), copy = std::string(data)] { self->sendInLoop(copy); });
  }
}

void Connection::send(std::string&& data) {
  if (state() != State::Connected) return;
  if (loop_.isInLoopThread()) {
    sendInLoop(data);
  } else {
    loop_.queueInLoop(
        [self = shared_from_this(), moved = std::move(data)] { self->sendInLoop(moved); });
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
  if (holdsOutput()) {
    // A file is on its way: these bytes wait for it (held_output.h).
    const std::size_t before = pendingOutputBytes();
    held_.append(data);
    noteOutputGrew(before, pendingOutputBytes());
    return;
  }
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
  if (holdsOutput()) {
    sendInLoop(data.view());
    data.retrieveAll();
    return;
  }
  const bool outer = !std::exchange(insideSend_, true);
  ioWriteOwned(data);
  if (outer) insideSend_ = false;
}

void Connection::outputQueued(std::size_t before, std::size_t after) {
  // The backend counts its own bytes; what core holds comes on top.
  // A chunk of a file moving into the backend (fileChunkRead) was counted
  // as file bytes before: no growth, so no high-water crossing.
  const std::size_t held = held_.bytes() + static_cast<std::size_t>(unsentFileBytes());
  noteOutputGrew(before + held + movingFileBytes_, after + held);
}

void Connection::noteOutputGrew(std::size_t before, std::size_t after) {
  if (after > 0) outputWaited_ = true;
  // The cap limits memory: file bytes wait in the page cache, not here.
  const std::size_t inMemory = after - static_cast<std::size_t>(unsentFileBytes());
  if (maxOutputBytes_ != 0 && inMemory > maxOutputBytes_) {
    if (!overflowed_) {
      overflowed_ = true;
      stats().outputOverflows.add();
      DUET_LOG(Warn) << "connection #" << id_ << " from " << peer_.toIpPort() << ": " << inMemory
                     << " bytes of unsent output exceed the cap of " << maxOutputBytes_
                     << " (peer not reading); closing it";
      forceClose();
    }
    return;
  }
  if (after >= highWaterMark_ && before < highWaterMark_ && callbacks_ &&
      callbacks_->onHighWaterMark) {
    ++highWaterCallsQueued_;
    loop_.queueInLoop([self = shared_from_this(), after] {
      --self->highWaterCallsQueued_;
      if (self->callbacks_) self->callbacks_->onHighWaterMark(self, after);
    });
  }
}

void Connection::outputDrained() {
  if (holdsOutput()) {
    // The backend is out of bytes, but core is not: a file goes on, or
    // what waited behind one is released.
    if (sendingFile_ && !sendsFilesItself()) {
      readFileChunk();
    } else {
      releaseHeldOutput();
    }
    return;  // the file's end (fileDone) or the last bytes' drain comes back to finishDrain()
  }
  finishDrain();
}

void Connection::finishDrain() {
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
        if (!self->disconnected() && self->pendingOutputBytes() == 0)
          self->callbacks_->onWriteComplete(self);
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

// ---------------------------------------------------------------- files
//
// sendFile() gives the backend one file at a time, and only once the bytes
// sent before it have reached the kernel; what is sent after it waits in
// held_ (held_output.h) until it is done. Two ways to send the range:
//
//   the backend's own (sendsFilesItself): the reactor's sendfile(2), straight
//     from the page cache to the socket, one copy in the kernel and none here;
//   core's read-and-send, below: readFile a chunk (a ring read on the
//     proactor), ioWrite it, and read the next chunk once the backend holds
//     less than a chunk, so memory stays under two chunks whatever the file
//     size and however slowly the peer reads.
//
// Why the proactor takes the second: io_uring has no sendfile. Its form of
// one is IORING_OP_SPLICE file -> pipe -> socket, which needs a pipe (two
// more descriptors) per sending connection and two linked operations per
// chunk, and the kernel runs a splice from a file in an io-wq worker anyway.
// A ring read does the same waiting in the same workers and reuses the send
// path every other byte takes, at the price of one copy into our chunk.

namespace {
// Core's read-and-send: the bytes read and sent at a time.
constexpr std::size_t kFileChunkBytes = 128 * 1024;
}  // namespace

void Connection::sendFile(SharedFd file, std::uint64_t offset, std::uint64_t length) {
  if (state() != State::Connected) return;
  FileRange range{std::move(file), offset, length};
  if (loop_.isInLoopThread()) {
    sendFileInLoop(std::move(range));
  } else {
    loop_.queueInLoop([self = shared_from_this(), range] { self->sendFileInLoop(range); });
  }
}

void Connection::sendFileInLoop(FileRange file) {
  loop_.assertInLoopThread();
  if (!canSend() || file.length == 0 || !file.file) return;
  const std::size_t before = pendingOutputBytes();
  const bool outer = !std::exchange(insideSend_, true);
  if (holdsOutput() || hasUnsentOutput()) {
    // Behind other output: started by releaseHeldOutput() when its turn comes.
    held_.append(std::move(file));
  } else {
    startFile(std::move(file));
  }
  if (outer) insideSend_ = false;
  // After the start, as for send(): what the kernel took at once never
  // counted as waiting, and the high-water mark sees only the rest.
  noteOutputGrew(before, pendingOutputBytes());
}

void Connection::startFile(FileRange file) {
  sendingFile_ = std::move(file);
  if (sendsFilesItself()) {
    ioSendFile();
  } else {
    readFileChunk();
  }
}

void Connection::releaseHeldOutput() {
  if (releasing_) {
    // Called again from inside ioWrite() below (a backend that wrote the
    // bytes at once reports the drain there): the loop below goes on.
    releaseAgain_ = true;
    return;
  }
  releasing_ = true;
  // Like the application's send(): a drain reported inside must queue its
  // onWriteComplete rather than run it under us.
  const bool outer = !std::exchange(insideSend_, true);
  do {
    releaseAgain_ = false;
    while (!sendingFile_ && !held_.empty() && state() != State::Disconnected && !sendBroken_) {
      if (held_.frontIsFile()) {
        if (hasUnsentOutput()) break;  // the bytes ahead of it first; their drain brings us back
        startFile(held_.takeFrontFile());
      } else {
        const std::string bytes = held_.takeFrontBytes();
        ioWrite(bytes);
      }
    }
  } while (releaseAgain_);
  if (outer) insideSend_ = false;
  releasing_ = false;
}

void Connection::fileBytesSent(std::size_t bytes) {
  assert(sendingFile_ && bytes <= sendingFile_->length &&
         "the backend reports only bytes of the file being sent");
  bytesSent(bytes);
  sendingFile_->offset += bytes;
  sendingFile_->length -= bytes;
  if (sendingFile_->length == 0) fileDone();
}

void Connection::fileDone() {
  sendingFile_.reset();  // drops our reference: the descriptor closes if nobody else holds it
  releaseHeldOutput();
  if (state() != State::Disconnected && !holdsOutput() && !hasUnsentOutput()) finishDrain();
}

void Connection::fileSendFailed(int error) {
  if (state() == State::Disconnected || sendBroken_) return;
  sendBroken_ = true;
  const FileRange* file = sendingFile();
  if (error != 0) {
    DUET_LOG(Warn) << "connection #" << id_ << " from " << peer_.toIpPort()
                   << ": reading the file being sent failed: " << std::strerror(error)
                   << "; closing it";
  } else {
    DUET_LOG(Warn) << "connection #" << id_ << " from " << peer_.toIpPort()
                   << ": the file being sent is shorter than promised (the "
                   << (file ? file->length : 0) << " bytes from offset "
                   << (file ? file->offset : 0) << " are not all there); closing it";
  }
  sendingFile_.reset();
  held_.clear();
  forceClose();
}

void Connection::readFileChunk() {
  if (fileChunkReading_ || !sendingFile_ || bufferedOutputBytes() >= kFileChunkBytes) return;
  const auto asked =
      static_cast<std::size_t>(std::min<std::uint64_t>(kFileChunkBytes, sendingFile_->length));
  fileChunkReading_ = true;
  std::weak_ptr<Connection> weak = weak_from_this();
  loop_.readFile(sendingFile_->file, sendingFile_->offset, asked,
                 [weak, asked](FileReadResult result) {
                   if (auto self = weak.lock()) self->fileChunkRead(asked, std::move(result));
                 });
}

void Connection::fileChunkRead(std::size_t asked, FileReadResult result) {
  fileChunkReading_ = false;
  if (!sendingFile_ || !canSend()) return;
  if (result.error != 0 || result.bytes.size() < asked) {
    fileSendFailed(result.error);
    return;
  }
  sendingFile_->offset += asked;
  sendingFile_->length -= asked;
  const bool outer = !std::exchange(insideSend_, true);
  movingFileBytes_ = asked;
  ioWrite(result.bytes);  // now the backend's bytes: pending output either way
  movingFileBytes_ = 0;
  if (outer) insideSend_ = false;
  if (state() == State::Disconnected) return;
  if (sendingFile_->length == 0) {
    fileDone();
  } else {
    readFileChunk();  // at once if the backend holds less than a chunk; else its drain asks
  }
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
  noteCloseReason(CloseReason::PeerFinished);
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
  noteCloseReason(sockets::isPeerError(error) ? CloseReason::PeerReset : CloseReason::Error);
  logSocketError(error, during);
  closeInLoop();
}

void Connection::sendFailed(int error) {
  if (state() == State::Disconnected || sendBroken_) return;
  sendBroken_ = true;
  noteCloseReason(sockets::isPeerError(error) ? CloseReason::PeerReset : CloseReason::Error);
  logSocketError(error, "write");
  forceClose();
}

void Connection::logSocketError(int error, const char* during) {
  if (sockets::isPeerError(error)) {
    stats().resets.add();
    DUET_LOG(Info) << "connection #" << id_ << " from " << peer_.toIpPort() << ": " << during
                   << ": " << std::strerror(error) << " (peer went away); closing it";
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
  [[maybe_unused]] const State before =
      state_.exchange(State::Disconnected, std::memory_order_acq_rel);
  assert(before != State::Disconnected && "closed twice");
  noteCloseReason(CloseReason::Local);  // unless a cause came first
  reading_ = false;
  ioClose();
  noteStreaming(false);  // the loop's spares shrink back to what the others need
  // Files not sent: their descriptors close now (unless a read holds one).
  sendingFile_.reset();
  held_.clear();
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
  returnSpareStorage(input_);
}

}  // namespace duet
