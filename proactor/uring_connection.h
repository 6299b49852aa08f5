// UringConnection: a TCP connection on the proactor.
//
// Reading: one recv stays armed on the ring for as long as the application
// wants input. It is multishot by default (one SQE, a completion per chunk of
// data) and takes its memory from the loop's BufferRing only when bytes
// arrive, so an idle connection owns no receive buffer at all. Each chunk is
// copied into inputBuffer() and the ring buffer goes straight back. With
// bundles one completion may span several ring buffers (copied in order);
// with an incremental ring it may be part of one.
//
// Adaptive receive (UringOptions::adaptiveRecv): a completion that filled its
// buffer, or that the kernel flags "the socket has more", says a large
// message is streaming in. Copying it 16 KiB at a time through the ring is
// then the slow way, so the multishot recv is cancelled and, once its last
// completion is in, a plain recv goes straight into inputBuffer()'s writable
// space (MSG_DONTWAIT: it returns at once, EAGAIN if the socket is empty, so
// no storage waits on an idle socket). A full one is followed by another
// twice as large; a short one (or EAGAIN) means the burst is over and the
// multishot recv is armed again. Still one recv in flight per connection.
// While the plain recv is in flight its storage is moved out of inputBuffer()
// into receiving_ (nobody may touch what the kernel writes into) and moved
// back when it completes.
//
// Writing: at most one send in flight. Two sends on one TCP socket may be
// executed out of order by the kernel (one can be retried after the other),
// which would reorder bytes. So output goes through two Buffers:
//     sending_  handed to the kernel; not touched until the send completes
//     queued_   what the application sends meanwhile
// When a send completes, a short send resumes where it stopped; once sending_
// is empty the two swap and the next send starts.
// With UringOptions::vectoredSend the output is an OutputChain instead (see
// output_chain.h): what waits behind the send in flight is not copied into
// one Buffer but kept as chunks, and the next send takes them all at once.
//
// Closing: the kernel holds a reference to the socket for each operation in
// flight, so close(2) alone would not stop them, and our memory (sending_)
// must outlive them. ioClose() asks the kernel to cancel everything on the
// fd, and the socket is closed once the last completion is in. Each operation
// in flight holds a shared_ptr to this object (in the loop's OpTable), which
// is what keeps it alive that long.
//
// A direct descriptor (a slot of the ring's file table) adds one rule: no
// operation that names the slot may still be waiting when the slot is closed.
// An operation takes its reference to the socket when the kernel issues it,
// and the kernel issues a shutdown only later, on an io-wq worker thread. A
// closed slot is handed to the next accepted connection at once, so a FIN
// still queued would then shut that connection's output before its reply
// (issue 12: 3-5% of HTTP "Connection: close" replies lost under churn). So
// a direct socket's FIN is an operation of ours like recv and send
// (shutdownOp_), and the slot closes only after its completion too.
//
// A SEND_ZC cannot be cancelled once its bytes are in the socket: its
// notification (the kernel letting go of sending_'s pages) comes when the
// peer acknowledges them, which a peer that stopped reading or died never
// does. So closing waits for it at most kZeroCopyLinger, then resets the
// connection (SO_LINGER 0): the kernel drops the bytes, the notification
// comes, and only then does sending_ go. Bounded, and nothing freed early.
//
// Loop thread only, like every Connection's backend half.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string_view>

#include "core/buffer.h"
#include "core/connection.h"
#include "proactor/completion.h"
#include "proactor/output_chain.h"

namespace duet {

class UringLoop;

class UringConnection final : public Connection, public CompletionHandler {
 public:
  UringConnection(UringLoop& loop, SocketHandle socket, const InetAddress& local,
                  const InetAddress& peer);

  std::size_t bufferedOutputBytes() const override {
    return sending_.readableBytes() + queued_.readableBytes() + (chain_ ? chain_->bytes() : 0);
  }
  void onCompletion(OpKind kind, const Completion& completion) override;
  // vectoredSend: output is queued in a chain borrowed from the loop (tests:
  // an idle connection must hold none).
  bool holdsOutputChain() const { return chain_ != nullptr; }

  // Closing while a SEND_ZC's notification is still to come: how long to wait
  // for it before closing the socket abortively (see ioClose()).
  static constexpr std::chrono::milliseconds kZeroCopyLinger{10'000};
  // Tests only: a shorter wait.
  static void setZeroCopyLingerForTesting(std::chrono::milliseconds wait) {
    zeroCopyLingerMs_.store(wait.count());
  }

 protected:
  void ioStartReading() override;
  void ioStopReading() override;
  void ioWrite(std::string_view data) override;
  void ioWriteOwned(Buffer& data) override;
  void ioShutdownWrite() override;
  void ioClose() override;

 private:
  UringLoop& uring() const;
  std::shared_ptr<UringConnection> self();

  // The multishot (or single-shot) recv from the buffer ring.
  void armRecv();
  // Adaptive receive: a plain recv into inputBuffer()'s writable space.
  void armDirectRecv();
  // After a recv's last completion, while reading: the next recv, direct if
  // the adaptive receive asked for one and nothing is held.
  void armNextRecv();
  void onRecv(const Completion& completion);
  void onDirectRecv(const Completion& completion);
  // Bytes are in inputBuffer(): deliver them, or hold them while paused.
  void received(std::size_t bytes);
  // A receive brought `bytes`: tell the loop whether this connection streams
  // (SpareBuffers::streamingStarted). Only while open: the close said it stopped.
  void trackStreaming(std::size_t bytes, bool socketDrained);
  // The peer's FIN (a recv returned 0).
  void receivedEof();
  // Input that arrived while reading was paused (a recv already in flight
  // still completes): kept in inputBuffer() and delivered on resume.
  void deliverHeldInput();
  // Delivers `bytes` that just arrived together with whatever is held: every
  // delivery hands over (and counts) all of inputBuffer()'s new bytes once.
  void deliverArrived(std::size_t bytes);
  // Starts a send if none is in flight, unless onMessage is running: then
  // deliverArrived() starts it once the handler returns.
  void startSendUnlessDelivering();

  void startSend();
  // vectoredSend: the next send over chain_'s chunks.
  void startChainSend();
  // vectoredSend: queues into chain_ (borrowed from the loop when absent).
  OutputChain& chain();
  // vectoredSend: the chain goes back to the loop (nothing in flight).
  void releaseChain();
  void onSend(const Completion& completion);
  // The kernel dropped the send's final completion (the loop tells us).
  void onSendLost();
  static void keepForTheKernel(Buffer&& buffer);

  // Closing and nothing in flight any more: close the socket now.
  void closeSocketWhenIdle();
  // Closing, and the SEND_ZC notification did not come within the linger:
  // reset the connection, which frees the bytes the kernel held, so the
  // notification comes and the send's Buffer can go.
  void abortLingeringSend();

  Buffer sending_;
  Buffer queued_;
  Buffer receiving_;        // inputBuffer()'s storage while a direct recv writes into it
  std::size_t directSize_;  // bytes the next direct recv asks for (doubles while they fill)
  // Receives in a row that were small and found the socket drained: enough
  // of them end this connection's streaming (trackStreaming).
  unsigned drainedRecvsInARow_ = 0;
  std::unique_ptr<OutputChain> chain_;  // vectoredSend only, and only while output is pending
  std::uint64_t recvOp_ = 0;            // user_data of the armed recv, 0 if none
  bool recvDirect_ = false;             // the recv in flight is a direct recv into receiving_
  bool wantDirect_ =
      false;  // adaptive: the next recv is to be direct (the multishot's cancel is on its way)
  std::uint64_t sendOp_ = 0;      // user_data of the send in flight, 0 if none
  std::uint64_t shutdownOp_ = 0;  // a direct socket's FIN in flight (IORING_OP_SHUTDOWN), 0 if none
  std::size_t heldBytes_ = 0;     // in inputBuffer(), not yet delivered (reading was paused)
  std::int32_t sendResult_ = 0;   // a SEND_ZC's result, kept until its notification
  bool sendIsZeroCopy_ = false;   // the send in flight is a SEND_ZC
  bool recvArmedBefore_ =
      false;              // the next armRecv() is a re-arm (LoopStats::UringCounters::recvRearms)
  bool heldEof_ = false;  // the peer's FIN arrived while paused
  bool delivering_ = false;  // onMessage is running: its sends start when it returns

  static inline std::atomic<std::int64_t> zeroCopyLingerMs_{kZeroCopyLinger.count()};
};

}  // namespace duet
