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
#include "core/spare_buffers.h"
#include "proactor/direct_socket.h"
#include "proactor/uring_compat.h"
#include "proactor/uring_loop.h"

namespace duet {

namespace {
// sqe->len is 32 bits; larger sends go out in pieces (as short sends).
constexpr std::size_t kMaxSendChunk = std::size_t{1} << 30;
// Adaptive receive: the first direct recv fills a 64 KiB storage (what the
// loop's spares keep warm); each full one doubles the next, up to the
// largest storage the spares keep (512 KiB writable). Beyond it, storage goes
// back to malloc each time it empties: with a client fast enough to keep more
// than 512 KiB waiting, 1 MiB recvs made duet-uring's 256 KiB echo pay mmap,
// munmap and page faults, about twice its CPU per message in half its rounds
// (AdaptiveRecvTest.DirectRecvsNeverOutgrowTheSparesLargestClass).
constexpr std::size_t kFirstDirectRecv = (std::size_t{64} << 10) - Buffer::kCheapPrepend;
constexpr std::size_t kMaxDirectRecv =
    SpareBuffers::classCapacity(SpareBuffers::kClassCount - 1) - Buffer::kCheapPrepend;
// A connection streams (the loop's spares keep storage for it, see
// SpareBuffers::streamingStarted) once one receive brought this much: a
// direct recv, or a multishot one (an incremental ring's 256 KiB buffers, or
// a bundle). A message that large holds its storage from its recv to its
// send completion, while the next one arrives. It stops after
// this many smaller receives in a row that found the socket drained: small
// messages again. Not after the first: a large message's last bytes can
// arrive alone, and a server that keeps up with a stream drains the socket
// now and then.
constexpr std::size_t kStreamingRecv = std::size_t{128} << 10;
constexpr unsigned kDrainedRecvsToStopStreaming = 8;
}  // namespace

UringConnection::UringConnection(UringLoop& loop, SocketHandle socket, const InetAddress& local,
                                 const InetAddress& peer)
    : Connection(loop, std::move(socket), local, peer), directSize_(kFirstDirectRecv) {}

UringLoop& UringConnection::uring() const { return static_cast<UringLoop&>(loop()); }

std::shared_ptr<UringConnection> UringConnection::self() {
  return std::static_pointer_cast<UringConnection>(shared_from_this());
}

void UringConnection::onCompletion(OpKind kind, const Completion& completion) {
  if (kind == OpKind::Recv) {
    onRecv(completion);
  } else if (kind == OpKind::Send) {
    onSend(completion);
  } else if (kind == OpKind::Shutdown) {
    shutdownOp_ = 0;  // its result is not needed (ENOTCONN: the peer reset us first)
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
  if (loop.options().uring.multishotRecv) {
    io_uring_prep_recv_multishot(sqe, fd(), nullptr, 0, 0);
  } else {
    io_uring_prep_recv(sqe, fd(), nullptr, 0, 0);
  }
  aimAtSocket(sqe, socket());
  sqe->flags |= IOSQE_BUFFER_SELECT;
  sqe->buf_group = loop.buffers().groupId();
  // A bundle: as many ring buffers as the bytes waiting need, one completion.
  if (loop.recvBundle()) sqe->ioprio |= IORING_RECVSEND_BUNDLE;
  recvOp_ = loop.track(sqe, OpKind::Recv, self());
  recvDirect_ = false;
  wantDirect_ = false;
  // Counted where it happens, whatever ended the previous multishot recv (CQ
  // full, ENOBUFS, a pause). Single-shot recvs end by design: not counted.
  if (recvArmedBefore_ && loop.options().uring.multishotRecv) stats().uring.recvRearms.add();
  recvArmedBefore_ = true;
}

void UringConnection::armDirectRecv() {
  UringLoop& loop = uring();
  Buffer& input = inputBuffer();
  borrowSpareStorage(input);
  input.ensureWritable(directSize_);
  const std::size_t len = std::min(input.writableBytes(), kMaxSendChunk);
  receiving_.swap(input);  // inputBuffer() is left without storage until the completion
  io_uring_sqe* sqe = loop.nextSqe();
  io_uring_prep_recv(sqe, fd(), receiving_.beginWrite(), len, MSG_DONTWAIT);
  aimAtSocket(sqe, socket());
  recvOp_ = loop.track(sqe, OpKind::Recv, self());
  recvDirect_ = true;
  wantDirect_ = false;
  stats().uring.recvDirect.add();
}

void UringConnection::armNextRecv() {
  // Held input (or a held FIN) is delivered from inputBuffer() by a queued
  // deliverHeldInput(): a direct recv must not take that storage away meanwhile.
  if (wantDirect_ && heldBytes_ == 0 && !heldEof_) {
    armDirectRecv();
  } else {
    wantDirect_ = false;
    armRecv();
  }
}

void UringConnection::onRecv(const Completion& c) {
  if (recvDirect_) {
    onDirectRecv(c);
    return;
  }
  const bool finished = !c.more();
  if (finished) recvOp_ = 0;

  std::size_t bytes = 0;
  bool filledBuffer = false;
  if (c.hasBuffer()) {
    const std::size_t filled = c.res > 0 ? static_cast<std::size_t>(c.res) : 0;
    const bool keep = filled > 0 && !disconnected();
    if (keep) {
      bytes = filled;
      borrowSpareStorage(inputBuffer());
      inputBuffer().ensureWritable(bytes);  // one allocation for a whole bundle
    }
    // Every buffer goes straight back (but one an incremental ring still
    // fills): the pool only has to cover one batch.
    filledBuffer = uring().buffers().consume(c.bufferId(), filled, c.bufferMore(),
                                             [&](const char* data, std::size_t n) {
                                               if (keep) inputBuffer().append(data, n);
                                             });
  }
  if (disconnected()) return;

  if (c.res > 0) {
    received(bytes);  // the application may close us or pause reading in there
    if (disconnected()) return;
    const bool moreWaiting = filledBuffer || c.socketNonEmpty();
    trackStreaming(bytes, !moreWaiting);
    if (uring().adaptiveRecv() && moreWaiting && isReading() && !wantDirect_) {
      // More is coming: receive it straight into inputBuffer(). A multishot
      // recv still armed must end first (one recv in flight).
      wantDirect_ = true;
      if (!finished) uring().cancelOp(recvOp_);
    }
    // A multishot recv can end while the socket is fine (e.g. the CQ was
    // full); a single-shot recv always ends. Either way: arm the next one.
    if (finished && isReading()) armNextRecv();
  } else if (c.res == 0) {
    receivedEof();
  } else if (c.res == -ENOBUFS) {
    // The buffer ring was empty when data came: this loop has more
    // completions in flight than provided buffers. Give the kernel more if
    // the pool has any left; ours come back every batch anyway, so simply
    // try again. Nothing was lost: the data is still queued in the socket
    // (so an adaptive receive takes it directly).
    stats().uring.bufferRingEmpty.add();
    uring().buffers().grow();
    if (uring().adaptiveRecv()) wantDirect_ = true;
    if (isReading()) armNextRecv();
  } else if (c.res == -ECANCELED) {
    // Our own cancel: ioStopReading()'s (armed again if reading resumed
    // since) or the adaptive receive's (a direct recv now).
    if (isReading()) armNextRecv();
  } else {
    socketFailed(-c.res, "recv");
  }
}

void UringConnection::onDirectRecv(const Completion& c) {
  recvOp_ = 0;  // a plain recv completes once
  recvDirect_ = false;
  inputBuffer().swap(receiving_);  // the storage (and any bytes the application left) comes back
  returnSpareStorage(receiving_);
  if (disconnected()) return;  // closeSocketWhenIdle() frees inputBuffer()'s storage with the rest
  if (c.synthesized) {
    // The kernel dropped its completion (the loop ends it for us): how many
    // bytes it put into our storage is unknown, so the stream cannot go on.
    socketFailed(EIO, "recv (its completion was lost)");
    return;
  }

  if (c.res > 0) {
    const auto bytes = static_cast<std::size_t>(c.res);
    const bool full = bytes == inputBuffer().writableBytes();
    inputBuffer().hasWritten(bytes);
    received(bytes);
    if (disconnected()) return;
    trackStreaming(bytes, !full);
    if (!isReading()) return;
    if (full) {
      // The socket may hold more than we asked for: ask for twice as much.
      directSize_ = std::min(directSize_ * 2, kMaxDirectRecv);
      wantDirect_ = true;
    }
    armNextRecv();  // after a short read: back to the multishot recv
    return;
  }
  // Nothing arrived: inputBuffer() holds no new bytes, so it holds no storage
  // unless the application kept some input.
  returnSpareStorage(inputBuffer());
  if (c.res == 0) {
    receivedEof();
  } else if (c.res == -EAGAIN || c.res == -EWOULDBLOCK || c.res == -ECANCELED) {
    // Drained before we asked, or a cancel (ioStopReading()'s, or the loop's):
    // back to the multishot recv, which waits without holding memory.
    if (isReading()) armRecv();
  } else {
    socketFailed(-c.res, "recv");
  }
}

void UringConnection::trackStreaming(std::size_t bytes, bool socketDrained) {
  if (bytes >= kStreamingRecv) {
    drainedRecvsInARow_ = 0;
    noteStreaming(true);
  } else if (!socketDrained) {
    drainedRecvsInARow_ = 0;
  } else if (++drainedRecvsInARow_ >= kDrainedRecvsToStopStreaming) {
    noteStreaming(false);
  }
}

void UringConnection::received(std::size_t bytes) {
  if (isReading()) {
    deliverArrived(bytes);
  } else {
    heldBytes_ += bytes;
  }
}

void UringConnection::receivedEof() {
  wantDirect_ = false;
  // Held bytes come before the FIN, even when the FIN overtakes their queued delivery.
  if (isReading() && heldBytes_ > 0) deliverArrived(0);
  if (disconnected()) return;
  if (isReading()) {
    peerClosed();
  } else {
    heldEof_ = true;  // reported when reading resumes, after the held bytes
  }
}

void UringConnection::deliverArrived(std::size_t bytes) {
  // The application sees the whole input Buffer, held bytes included, so this
  // delivery accounts for them too: the queued deliverHeldInput() then finds
  // nothing left and stays silent.
  //
  // While onMessage runs, its send()s only queue (startSendUnlessDelivering):
  // a send started at the first one would carry that reply alone and the
  // rest would wait for its completion, two send SQEs and two completions
  // per read where one does (16 pipelined HTTP responses: measured 1.23x
  // epoll's CPU per request before). This is the proactor's form of the
  // reactor's write gathering: what one read produced leaves as one send.
  delivering_ = true;
  deliverInput(bytes + std::exchange(heldBytes_, 0));
  delivering_ = false;
  if (!disconnected() && sendOp_ == 0 && bufferedOutputBytes() > 0) startSend();
}

void UringConnection::startSendUnlessDelivering() {
  if (sendOp_ == 0 && !delivering_) startSend();
}

void UringConnection::deliverHeldInput() {
  if (!isReading()) return;  // also false once closed (closeInLoop clears it)
  if (heldBytes_ > 0) {
    if (inputBuffer().empty()) {
      // The held bytes were in inputBuffer() all along, and the application
      // consumed them there while reading was stopped (a coroutine's read()
      // takes what it finds without waiting). Nothing is left to report:
      // onMessage means there is input. They were received all the same.
      stats().bytesIn.add(std::exchange(heldBytes_, 0));
    } else {
      deliverArrived(0);
    }
  }
  if (!isReading() || !heldEof_) return;
  heldEof_ = false;
  peerClosed();
}

// ---------------------------------------------------------------- writing

void UringConnection::ioWrite(std::string_view data) {
  assert(!disconnected() && !data.empty() &&
         "core sends only non-empty data on an open connection");
  const std::size_t before = bufferedOutputBytes();
  if (uring().vectoredSend()) {
    chain().append(data, uring().spareBuffers());
    startSendUnlessDelivering();
  } else if (sendOp_ == 0) {
    borrowSpareStorage(sending_);
    sending_.append(data);  // nothing in flight: sending_ holds only this read's replies so far
    startSendUnlessDelivering();
  } else {
    queued_.append(data);
  }
  outputQueued(before, bufferedOutputBytes());
}

// A send owns its bytes until its completion, so ioWrite() copies them
// into sending_. A Buffer the caller gives up is taken instead: when nothing
// is in flight its storage becomes sending_ (a swap, no copy), and the caller
// gets sending_'s empty storage back. Behind a send in flight it is queued
// like any bytes (copied), unless vectoredSend queues it as a chunk of its own.
void UringConnection::ioWriteOwned(Buffer& data) {
  if (uring().vectoredSend()) {
    const std::size_t before = bufferedOutputBytes();
    chain().appendOwned(data);
    startSendUnlessDelivering();
    outputQueued(before, bufferedOutputBytes());
    return;
  }
  if (sendOp_ != 0 || !sending_.empty()) {
    ioWrite(data.view());
    data.retrieveAll();
    return;
  }
  const std::size_t before = bufferedOutputBytes();
  sending_.swap(data);
  startSendUnlessDelivering();
  outputQueued(before, bufferedOutputBytes());
}

OutputChain& UringConnection::chain() {
  if (!chain_) chain_ = uring().outputChains().take();
  return *chain_;
}

void UringConnection::releaseChain() {
  if (!chain_) return;
  chain_->clear();
  uring().outputChains().give(std::move(chain_));
}

void UringConnection::startSend() {
  if (chain_) {
    startChainSend();
    return;
  }
  UringLoop& loop = uring();
  io_uring_sqe* sqe = loop.nextSqe();
  const std::size_t len = std::min(sending_.readableBytes(), kMaxSendChunk);
  const std::size_t zeroCopyFrom = loop.options().uring.sendZeroCopyThreshold;
  // MSG_NOSIGNAL: a peer that went away must give us EPIPE, not kill the process with SIGPIPE.
  if (zeroCopyFrom != 0 && len >= zeroCopyFrom && loop.zeroCopySendAvailable()) {
    // The kernel sends straight from our pages and tells us with a second
    // completion (IORING_CQE_F_NOTIF) when it has let go of them.
    io_uring_prep_send_zc(sqe, fd(), sending_.peek(), len, MSG_NOSIGNAL, 0);
    stats().uring.sendZeroCopy.add();
    sendIsZeroCopy_ = true;
  } else {
    io_uring_prep_send(sqe, fd(), sending_.peek(), len, MSG_NOSIGNAL);
    sendIsZeroCopy_ = false;
  }
  aimAtSocket(sqe, socket());
  stats().sendOps.add();
  sendResult_ = 0;
  sendOp_ = loop.track(sqe, OpKind::Send, self());
}

void UringConnection::startChainSend() {
  UringLoop& loop = uring();
  io_uring_sqe* sqe = loop.nextSqe();
  const std::span<const iovec> iov = chain_->prepareSend(kMaxSendChunk);
  if (iov.size() == 1) {
    // One chunk (the usual reply): a plain send, no iovec for the kernel to import.
    io_uring_prep_send(sqe, fd(), iov[0].iov_base, iov[0].iov_len, MSG_NOSIGNAL);
  } else {
    if (loop.sendVectorizedAvailable()) {
      // 6.17: a send whose addr/len are an iovec array and its length.
      io_uring_prep_send(sqe, fd(), iov.data(), iov.size(), MSG_NOSIGNAL);
      sqe->ioprio |= IORING_SEND_VECTORIZED;
    } else {
      // Every kernel: sendmsg(2) with the iovecs in a msghdr (the chain keeps
      // both alive until the completion).
      io_uring_prep_sendmsg(sqe, fd(), chain_->message(), MSG_NOSIGNAL);
    }
    stats().uring.sendsVectored.add();
  }
  aimAtSocket(sqe, socket());
  stats().sendOps.add();
  sendIsZeroCopy_ = false;
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
  const int res = sendResult_;
  // The kernel is done with the chain's chunks: account what it took (nothing
  // on an error), so the chain may change again from here on.
  if (chain_) chain_->sent(res > 0 ? static_cast<std::size_t>(res) : 0, uring().spareBuffers());
  if (disconnected()) {
    sending_ = Buffer();
    releaseChain();
    return;
  }

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
  if (chain_) {
    bytesSent(sent);
    if (!chain_->empty()) {
      startChainSend();  // what is left of a short send, and everything queued meanwhile
      return;
    }
    releaseChain();  // an idle connection holds no chain
    outputDrained();
    return;
  }
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
  returnSpareStorage(sending_);
  returnSpareStorage(queued_);
  outputDrained();
}

void UringConnection::onSendLost() {
  // The send's final completion was dropped by the kernel; the loop ends it
  // for us. How many bytes went is unknown, so the stream cannot go on: close.
  sendOp_ = 0;
  if (chain_) chain_->sent(0, uring().spareBuffers());  // nothing more will be read from it
  if (sendIsZeroCopy_) {
    // Lost may be the send's result, its notification, or neither (the
    // notification is simply still to come: the kernel cannot cancel it, so
    // it answers the loop's question with ENOENT either way). The kernel may
    // still read sending_'s pages, and nothing will tell us when it stops.
    // Resetting the connection would not settle it: the pages are let go
    // when the last packet referring to them is freed, some time after. So
    // the Buffer is kept for the life of the process: a deliberate leak,
    // bounded by one send per dropped completion, and logged.
    DUET_LOG(Warn) << "connection #" << id()
                   << ": a zero-copy send's completion was lost; keeping its "
                   << sending_.readableBytes()
                   << "-byte buffer for good, the kernel may still read it";
    keepForTheKernel(std::move(sending_));  // a move keeps the storage where it is
  }
  sending_ = Buffer();
  releaseChain();
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
  // shutdown(2) rather than IORING_OP_SHUTDOWN where we can (a descriptor):
  // core only asks once output has drained, so no send is in flight to order
  // against, and a synchronous FIN keeps teardown simple. A direct descriptor
  // has no descriptor, so its FIN goes through the ring as an operation like
  // any other: until it completes the slot is not closed (closeSocketWhenIdle
  // waits for it), or the late shutdown could hit the slot's next socket.
  shutdownOp_ = uring().shutdownWrite(socket(), self());
}

void UringConnection::ioClose() {
  heldBytes_ = 0;
  heldEof_ = false;
  queued_ = Buffer();                // never seen by the kernel
  if (chain_) chain_->dropUnsent();  // so are the chunks behind the send in flight
  if (recvOp_ != 0 || sendOp_ != 0) {
    uring().cancelAll(socket());  // completions follow; the socket closes after the last
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
  // Every operation that names the socket must be over first. For a direct
  // descriptor this is what keeps a stale operation off the slot's next
  // socket: closing frees the slot, and the very next accept may take it.
  if (recvOp_ != 0 || sendOp_ != 0 || shutdownOp_ != 0 || !socketOpen()) return;
  sending_ = Buffer();
  receiving_ = Buffer();
  releaseChain();
  closeSocket();
}

}  // namespace duet
