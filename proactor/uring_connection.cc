#include "proactor/uring_connection.h"

#include <sys/socket.h>

#include <algorithm>
#include <cassert>
#include <cerrno>
#include <cstring>
#include <mutex>
#include <utility>
#include <vector>

#include "core/log.h"
#include "core/socket_ops.h"
#include "proactor/uring_loop.h"

namespace duet {

namespace {
// sqe->len is 32 bits; larger sends go out in pieces (as short sends).
constexpr std::size_t kMaxSendChunk = std::size_t{1} << 30;
}  // namespace

UringConnection::UringConnection(UringLoop& loop, UniqueFd socket, const InetAddress& local, const InetAddress& peer)
    : Connection(loop, std::move(socket), local, peer) {}

UringLoop& UringConnection::uring() const { return static_cast<UringLoop&>(loop()); }

std::shared_ptr<UringConnection> UringConnection::self() {
  return std::static_pointer_cast<UringConnection>(shared_from_this());
}

void UringConnection::onCompletion(OpKind kind, const Completion& completion) {
  if (kind == OpKind::Recv) {
    onRecv(completion);
  } else if (kind == OpKind::Send) {
    onSend(completion);
  }
  if (disconnected()) closeSocketWhenIdle();
}

// ---------------------------------------------------------------- reading

void UringConnection::ioStartReading() {
  if (heldBytes_ > 0 || heldEof_) {
    // Not from here: ioStartReading() runs inside startReading(), often called
    // from the application's own callback, which must not be re-entered.
    loop().queueInLoop([weak = std::weak_ptr<UringConnection>(self())] {
      if (auto conn = weak.lock()) conn->deliverHeldInput();
    });
  }
  if (recvOp_ == 0 && !heldEof_) armRecv();
  // else: a recv is still armed (perhaps with a cancel from ioStopReading() on
  // its way); if the cancel wins, its final completion re-arms, as isReading() says.
}

void UringConnection::ioStopReading() {
  // Stop the kernel from taking more of our input; what it already took still
  // completes and is held. The final completion (-ECANCELED) clears recvOp_.
  if (recvOp_ != 0) uring().cancelOp(recvOp_);
}

void UringConnection::armRecv() {
  UringLoop& loop = uring();
  io_uring_sqe* sqe = loop.nextSqe();
  // No buffer and no length: IOSQE_BUFFER_SELECT makes the kernel take one
  // from our buffer group when (and only when) data is there.
  if (loop.options().multishotRecv) {
    io_uring_prep_recv_multishot(sqe, fd(), nullptr, 0, 0);
  } else {
    io_uring_prep_recv(sqe, fd(), nullptr, 0, 0);
  }
  sqe->flags |= IOSQE_BUFFER_SELECT;
  sqe->buf_group = loop.buffers().groupId();
  recvOp_ = loop.track(sqe, OpKind::Recv, self());
  // Counted where it happens, whatever ended the previous multishot recv (CQ
  // full, ENOBUFS, a pause). Single-shot recvs end by design: not counted.
  if (recvArmedBefore_ && loop.options().multishotRecv) stats().recvRearms.add();
  recvArmedBefore_ = true;
}

void UringConnection::onRecv(const Completion& c) {
  const bool finished = !c.more();
  if (finished) recvOp_ = 0;

  std::size_t bytes = 0;
  if (c.hasBuffer()) {
    BufferRing& pool = uring().buffers();
    if (c.res > 0 && !disconnected()) {
      bytes = static_cast<std::size_t>(c.res);
      uring().spareBuffers().lendTo(inputBuffer());  // an empty Buffer borrows warm storage
      inputBuffer().append(pool.data(c.bufferId()), bytes);
    }
    pool.recycle(c.bufferId());  // straight back: the pool only has to cover one batch
  }
  if (disconnected()) return;

  if (c.res > 0) {
    if (isReading()) {
      deliverArrived(bytes);  // the application may close us or pause reading in there
    } else {
      heldBytes_ += bytes;
    }
    if (finished && !disconnected()) {
      // A multishot recv can end while the socket is fine (e.g. the CQ was
      // full); a single-shot recv always ends. Either way: arm the next one.
      if (isReading()) armRecv();
    }
  } else if (c.res == 0) {
    // Held bytes come before the FIN, even when the FIN overtakes their queued delivery.
    if (isReading() && heldBytes_ > 0) deliverArrived(0);
    if (disconnected()) return;
    if (isReading()) {
      peerClosed();
    } else {
      heldEof_ = true;  // reported when reading resumes, after the held bytes
    }
  } else if (c.res == -ENOBUFS) {
    // The buffer ring was empty when data came: this loop has more
    // completions in flight than provided buffers. Give the kernel more if
    // the pool has any left; ours come back every batch anyway, so simply
    // try again. Nothing was lost: the data is still queued in the socket.
    stats().bufferRingEmpty.add();
    uring().buffers().grow();
    if (isReading()) armRecv();
  } else if (c.res == -ECANCELED) {
    if (isReading()) armRecv();  // ioStopReading()'s cancel landed after reading resumed
  } else {
    socketFailed(-c.res, "recv");
  }
}

void UringConnection::deliverArrived(std::size_t bytes) {
  // The application sees the whole input Buffer, held bytes included, so this
  // delivery accounts for them too: the queued deliverHeldInput() then finds
  // nothing left and stays silent.
  deliverInput(bytes + std::exchange(heldBytes_, 0));
}

void UringConnection::deliverHeldInput() {
  if (!isReading()) return;  // also false once closed (closeInLoop clears it)
  if (heldBytes_ > 0) deliverArrived(0);
  if (!isReading() || !heldEof_) return;
  heldEof_ = false;
  peerClosed();
}

// ---------------------------------------------------------------- writing

void UringConnection::ioWrite(std::string_view data) {
  assert(!disconnected() && !data.empty() && "core sends only non-empty data on an open connection");
  const std::size_t before = pendingOutputBytes();
  if (sendOp_ == 0) {
    uring().spareBuffers().lendTo(sending_);
    sending_.append(data);  // nothing in flight, so sending_ is empty
    startSend();
  } else {
    queued_.append(data);
  }
  outputQueued(before, pendingOutputBytes());
}

// A send owns its bytes until its completion, so ioWrite() copies them
// into sending_. A Buffer the caller gives up is taken instead: when nothing
// is in flight its storage becomes sending_ (a swap, no copy), and the caller
// gets sending_'s empty storage back. Behind a send in flight it is queued
// like any bytes.
void UringConnection::ioWriteOwned(Buffer& data) {
  if (sendOp_ != 0 || !sending_.empty()) {
    ioWrite(data.view());
    data.retrieveAll();
    return;
  }
  const std::size_t before = pendingOutputBytes();
  sending_.swap(data);
  startSend();
  outputQueued(before, pendingOutputBytes());
}

void UringConnection::startSend() {
  UringLoop& loop = uring();
  io_uring_sqe* sqe = loop.nextSqe();
  const std::size_t len = std::min(sending_.readableBytes(), kMaxSendChunk);
  const std::size_t zeroCopyFrom = loop.options().sendZeroCopyThreshold;
  // MSG_NOSIGNAL: a peer that went away must give us EPIPE, not kill the process with SIGPIPE.
  if (zeroCopyFrom != 0 && len >= zeroCopyFrom && loop.zeroCopySendAvailable()) {
    // The kernel sends straight from our pages and tells us with a second
    // completion (IORING_CQE_F_NOTIF) when it has let go of them.
    io_uring_prep_send_zc(sqe, fd(), sending_.peek(), len, MSG_NOSIGNAL, 0);
    stats().sendZeroCopy.add();
    sendIsZeroCopy_ = true;
  } else {
    io_uring_prep_send(sqe, fd(), sending_.peek(), len, MSG_NOSIGNAL);
    sendIsZeroCopy_ = false;
  }
  stats().sendOps.add();
  sendResult_ = 0;
  sendOp_ = loop.track(sqe, OpKind::Send, self());
}

void UringConnection::onSend(const Completion& c) {
  if (c.synthesized) {
    onSendLost();
    return;
  }
  if (!c.notification()) sendResult_ = c.res;
  if (c.more()) return;  // SEND_ZC: sending_ is the kernel's until the notification
  sendOp_ = 0;
  if (disconnected()) {
    sending_ = Buffer();
    return;
  }

  const int res = sendResult_;
  if (res == -ECANCELED) {
    // Only the loop cancels a send on an open connection (after dropped
    // completions, see UringLoop::reconcileAfterDroppedCompletions), and a
    // cancelled send sent nothing (the kernel reports any bytes it did send
    // instead): send the same bytes again.
    startSend();
    return;
  }
  if (res < 0) {
    socketFailed(-res, "send");
    return;
  }
  const auto sent = static_cast<std::size_t>(res);
  sending_.retrieve(sent);
  bytesSent(sent);
  if (!sending_.empty()) {
    startSend();  // a short send: the rest, from where it stopped
    return;
  }
  if (!queued_.empty()) {
    sending_.swap(queued_);  // queued_ keeps the old storage for the next appends
    startSend();
    return;
  }
  // Everything reached the kernel. An idle connection holds no output memory:
  // the storage goes back to the loop's spares (or is freed).
  uring().spareBuffers().takeFrom(sending_);
  uring().spareBuffers().takeFrom(queued_);
  outputDrained();
}

void UringConnection::onSendLost() {
  // The send's final completion was dropped by the kernel; the loop ends it
  // for us. How many bytes went is unknown, so the stream cannot go on: close.
  sendOp_ = 0;
  if (sendIsZeroCopy_) {
    // Lost may be the send's result, its notification, or neither (the
    // notification is simply still to come: the kernel cannot cancel it, so
    // it answers the loop's question with ENOENT either way). The kernel may
    // still read sending_'s pages, and nothing will tell us when it stops.
    // Resetting the connection would not settle it: the pages are let go
    // when the last packet referring to them is freed, some time after. So
    // the Buffer is kept for the life of the process: a deliberate leak,
    // bounded by one send per dropped completion, and logged.
    DUET_LOG(Warn) << "connection #" << id() << ": a zero-copy send's completion was lost; keeping its "
                   << sending_.readableBytes() << "-byte buffer for good, the kernel may still read it";
    keepForTheKernel(std::move(sending_));  // a move keeps the storage where it is
  }
  sending_ = Buffer();
  if (!disconnected()) socketFailed(ECANCELED, "send (its completion was lost)");
}

void UringConnection::keepForTheKernel(Buffer&& buffer) {
  static std::mutex mutex;
  static auto* kept = new std::vector<Buffer>();  // never freed, on purpose (see onSendLost)
  std::lock_guard lock(mutex);
  kept->push_back(std::move(buffer));
}

// ---------------------------------------------------------------- closing

void UringConnection::ioShutdownWrite() {
  // shutdown(2) rather than IORING_OP_SHUTDOWN: core only asks once output
  // has drained, so nothing is in flight to order against, and a synchronous
  // FIN keeps teardown simple.
  if (!sockets::shutdownWrite(fd()) && errno != ENOTCONN) {
    DUET_LOG(Debug) << "connection #" << id() << ": shutdown: " << std::strerror(errno);
  }
  stats().count(Syscall::Close);
}

void UringConnection::ioClose() {
  heldBytes_ = 0;
  heldEof_ = false;
  queued_ = Buffer();  // never seen by the kernel
  if (recvOp_ != 0 || sendOp_ != 0) {
    uring().cancelAll(fd());  // completions follow; the socket closes after the last
  } else {
    closeSocketWhenIdle();
  }
  if (sendOp_ != 0 && sendIsZeroCopy_) {
    // The cancel cannot take back bytes already in the socket (see the header).
    loop().runAfter(std::chrono::milliseconds(zeroCopyLingerMs_.load()),
                    [weak = std::weak_ptr<UringConnection>(self())] {
                      if (auto conn = weak.lock()) conn->abortLingeringSend();
                    });
  }
}

void UringConnection::abortLingeringSend() {
  if (sendOp_ == 0 || !socketOpen()) return;  // the notification came in time
  DUET_LOG(Info) << "connection #" << id() << ": the peer has not acknowledged a zero-copy send in "
                 << zeroCopyLingerMs_.load() << " ms after close; resetting it";
  closeSocket(/*abortive=*/true);  // RST: the kernel drops the queued bytes and lets go of sending_
}

void UringConnection::closeSocketWhenIdle() {
  if (recvOp_ != 0 || sendOp_ != 0 || !socketOpen()) return;
  sending_ = Buffer();
  closeSocket();
}

}  // namespace duet
