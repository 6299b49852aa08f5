// UringLoop: the proactor. One io_uring per loop thread; every socket
// operation is submitted to it and finishes as a completion that this loop
// routes to whoever asked (see op_table.h).
//
// One iteration (poll()) is:
//   1. one io_uring_enter that submits every SQE prepared since the last one
//      and waits for completions, a wake-up, or the next timer deadline (the
//      deadline travels as the enter's own timeout: no timerfd, no TIMEOUT SQE);
//   2. reap every ready completion in one batch and dispatch each to its handler.
// Handlers prepare new SQEs (re-arm a recv, start the next send); they go to
// the kernel with the next iteration's enter, so a busy loop makes about one
// system call per iteration however much I/O it does.
//
// The pieces: Ring (setup, enter, reap), OpTable (what is in flight),
// BufferRing (receive buffers), UringWaker (cross-thread wake-ups),
// UringConnection, UringAcceptor, UringConnector.
#pragma once

#include <liburing.h>

#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

#include "core/event_loop.h"
#include "proactor/buffer_ring.h"
#include "proactor/op_table.h"
#include "proactor/output_chain.h"
#include "proactor/ring.h"
#include "proactor/uring_syscalls.h"

namespace duet {

class UringWaker;

class UringLoop final : public EventLoop {
 public:
  // On the thread that will run the loop. Throws BackendUnavailable when
  // io_uring cannot be used here.
  explicit UringLoop(const LoopOptions& options);
  ~UringLoop() override;

  std::unique_ptr<Acceptor> createAcceptor(UniqueFd listenSocket, AcceptCallback onAccept) override;
  ConnectionPtr createConnection(SocketHandle socket, const InetAddress& local,
                                 const InetAddress& peer) override;
  void connect(UniqueFd socket, const InetAddress& server, ConnectCallback done) override;
  std::unique_ptr<EventLoop> createSibling() const override;
  // With UringOptions::msgRingHandoff and a UringLoop target: one MSG_RING
  // (socket_handoff.h); otherwise the queued task of EventLoop::handOff.
  void handOff(EventLoop& target, SocketHandle socket, const InetAddress& peer) override;
  // With direct descriptors a slot travels by IORING_MSG_SEND_FD, which needs
  // MSG_RING (always there with direct descriptors: 5.18 < 6.0).
  std::string handOffRefusal() const override;
  // The MSG_RINGs handOff() prepared go to the kernel now, not with the next wait.
  void flushHandOffs() override;
  // An IORING_OP_READ on this ring (uring_file_read.h), not a worker thread.
  void readFile(SharedFd file, std::uint64_t offset, std::size_t length,
                FileReadCallback done) override;

  // The UringLoop created on the calling thread, if any (for MSG_RING wake-ups).
  static UringLoop* current();

  // ---- For the proactor's own objects, loop thread only ----

  // A free SQE (submits first when the SQ is full).
  io_uring_sqe* nextSqe() { return ring_->nextSqe(); }
  // Records the prepared `sqe` as an operation of `handler`, which stays alive
  // until the operation's last completion. Returns its user_data.
  std::uint64_t track(io_uring_sqe* sqe, OpKind kind, std::shared_ptr<CompletionHandler> handler);
  // Asks the kernel to cancel one operation; its handler still gets the final
  // completion (usually -ECANCELED, or the result if it won the race).
  void cancelOp(std::uint64_t userData);
  // Cancels every operation on `socket` (connection teardown).
  void cancelAll(const SocketHandle& socket);
  // The system calls this loop's objects make outside the ring, counted in its stats.
  UringSyscalls sys() { return UringSyscalls(stats()); }

  // ---- Direct descriptors (UringOptions::directDescriptors) ----
  // Accepts go into the ring's fixed-file table.
  bool directDescriptors() const { return directTableSize_ > 0; }
  // An accept completion's slot becomes a socket this loop will close
  // (closeSlot) when its owner is done with it.
  SocketHandle adoptSlot(std::uint32_t slot);
  // IORING_OP_CLOSE on the slot; `abortive` first sets SO_LINGER 0 through
  // the ring (Linux 6.7), where the kernel can. (Handles reach it through
  // DirectSlots, which outlives the loop.)
  void closeSlot(std::uint32_t slot, bool abortive);
  // Slots the kernel's table holds for us: a socket's slot counts until the
  // kernel has closed it (its close completed; the same for a socket on its
  // way to another ring), so a slot not counted is free for the next accept
  // or hand-off (tests: back to zero after every close).
  std::size_t directSlotsInUse() const { return directSlotsInUse_; }
  // Shuts the write side of `socket` (FIN). A descriptor: shutdown(2), done
  // on return (0). A slot: an IORING_OP_SHUTDOWN tracked as an operation of
  // `owner`, whose user_data is returned; the slot must not be closed before
  // its completion. The kernel always runs a shutdown on an io-wq worker
  // thread and looks a fixed file up only when the worker gets to it, so a
  // slot closed before then may already hold the next accepted socket
  // (IORING_FILE_INDEX_ALLOC hands a freed slot out again at once), and the
  // late shutdown would cut that innocent connection's output (issue 12).
  std::uint64_t shutdownWrite(const SocketHandle& socket, std::shared_ptr<CompletionHandler> owner);

  BufferRing& buffers() { return *buffers_; }
  // Recvs ask for bundles (UringOptions::recvBundle, where the kernel has them).
  bool recvBundle() const { return recvBundle_; }
  // UringOptions::adaptiveRecv.
  bool adaptiveRecv() const { return adaptiveRecv_; }
  const UringWaker& waker() const { return *waker_; }
  bool zeroCopySendAvailable() const { return zeroCopySend_; }
  // Connections queue output as an OutputChain sent by vectored sends
  // (UringOptions::vectoredSend; SEND_ZC, when on, keeps its own path).
  bool vectoredSend() const {
    return options().uring.vectoredSend && options().uring.sendZeroCopyThreshold == 0;
  }
  // ...with IORING_SEND_VECTORIZED (6.17) rather than IORING_OP_SENDMSG.
  bool sendVectorizedAvailable() const { return ring_->sendVectorizedAvailable(); }
  OutputChainPool& outputChains() { return outputChains_; }
  // Ring set-up as it turned out (tests, --stats).
  const Ring& ring() const { return *ring_; }
  int ringFd() const { return ring_->fd(); }

  // This loop's thread, on behalf of another loop's waker: posts a MSG_RING
  // wake-up from this ring into the ring `targetRingFd` and submits it at once.
  // False if the wake-up is not on its way: this kernel cannot do MSG_RING, or
  // it failed at once (its error is then in `*error`); the caller must wake the
  // target another way. `targetWaker` names the target's waker should the
  // MSG_RING fail later (see UringWaker::msgRingFailed). The system call is
  // charged to `targetStats` (sys_wakeup): a wake-up counts for the loop it
  // wakes, however it travels.
  bool sendWake(int targetRingFd, std::uint32_t targetWaker, LoopStats& targetStats, int* error);
  // This loop's thread: makes the next wait return at once (a NOP completion).
  void wakeSelf();

  // Operations in flight (the op table's live slots).
  std::size_t opsInFlight() const { return ops_.inFlight(); }
  // Tests only, loop thread: the next `count` final completions (no F_MORE)
  // of operations of `kind` are thrown away unseen and counted as dropped, as
  // the kernel drops completions it cannot even hold in its overflow list
  // (io_uring_enter then fails with EBADR). A real drop cannot be made on
  // demand: kernels since 5.5 (IORING_FEAT_NODROP) drop only when out of memory.
  // Tests only: MSG_RING hand-offs sent while this is on are aimed at no ring
  // (descriptor -1), so the kernel fails them as it fails one the target
  // ring cannot take, and the fallback is exercised.
  static void failSocketHandoffForTesting(bool fail) { failHandoffForTesting_.store(fail); }
  void loseFinalCompletionsForTesting(OpKind kind, unsigned count) {
    lossKindForTesting_ = kind;
    lossesForTesting_ = count;
  }

 protected:
  void poll(bool mayBlock, std::optional<TimePoint> timerDeadline) override;
  void wakeup() override;

 private:
  UringLoop(const LoopOptions& options, std::unique_ptr<Ring> ring);
  // The provided-buffer ring LoopOptions ask for: incremental or classic.
  std::unique_ptr<BufferRing> makeBufferRing(const LoopOptions& options);

  // Reaps every ready completion, dispatching each; returns how many.
  std::size_t reapAndDispatch();
  void dispatch(const RawCompletion& entry);
  // A completion nobody owns any more: give back what it carries.
  void dropStale(const RawCompletion& entry);
  void noteOverflow();
  // The kernel dropped completions: find the operations they ended and end
  // them ourselves (see the .cc).
  void reconcileAfterDroppedCompletions();
  void onLostCheck(const RawCompletion& entry);
  // After a drop: once nothing is half-way (see BufferRing::reclaimLost), the
  // provided buffers lost completions took go back to the ring.
  void reclaimLostBuffersWhenQuiet();
  // Hands the owner of operation `lost` the final completion the kernel
  // dropped: -ECANCELED, or -EIO for a recv when received bytes were lost.
  void endLostOperation(std::uint64_t lost);
  // The test hook above: true if `entry` is to be lost.
  bool loseForTesting(const RawCompletion& entry);
  // UringOptions::directDescriptors: registers the sparse fixed-file table.
  void setUpDirectDescriptors(const LoopOptions& options);
  // Whether SOCKET_URING_OP_SETSOCKOPT works (Linux 6.7), asked once with a
  // throwaway socket.
  bool probeSocketSetsockopt();
  // A socket another loop sent us by MSG_RING / our MSG_RING that failed.
  void onSocketHandedIn(const RawCompletion& entry);
  void onSocketHandoffFailed(const RawCompletion& entry);
  // The same for a direct socket (a slot; socket_handoff.h).
  void handOffSlot(EventLoop& target, SocketHandle socket, const InetAddress& peer);
  void onSlotHandedIn(const RawCompletion& entry);
  void onSlotHandoffFailed(const RawCompletion& entry);
  void onSlotHandoffClosed();
  // The close of one of our sockets' slots completed (closeSlot).
  void onSlotClosed();
  static void logHandoffFailure(int error);  // once per process
  // Teardown: cancel everything and wait (bounded) until the kernel is done
  // with every buffer it might still write.
  void drainInFlight();

  std::unique_ptr<Ring> ring_;
  OpTable ops_;
  std::unique_ptr<BufferRing> buffers_;
  std::shared_ptr<UringWaker> waker_;
  OutputChainPool outputChains_;
  bool msgRing_ = false;
  bool zeroCopySend_ = false;
  bool recvBundle_ = false;
  bool adaptiveRecv_ = false;
  bool draining_ = false;
  class DirectSlots;  // the SocketSlots every direct socket's handle shares (.cc)
  std::shared_ptr<DirectSlots> directSlots_;
  unsigned directTableSize_ = 0;      // slots in the fixed-file table; 0: no direct descriptors
  std::size_t directSlotsInUse_ = 0;  // slots our sockets hold
  bool socketSetsockopt_ = false;     // SOCKET_URING_OP_SETSOCKOPT works here
  bool overflowing_ = false;          // the kernel is holding completions back
  unsigned droppedSeen_ = 0;          // completions the kernel dropped, as last seen
  bool reclaimPending_ = false;       // completions were dropped; their buffers are still out
  bool recvBytesLost_ = false;        // the last reclaim found bytes lost (or could not look)
  std::vector<std::uint64_t>
      lostRecvsAwaitingReclaim_;  // lost recvs to end once the reclaim has looked
  OpKind lossKindForTesting_ = OpKind::Untracked;
  unsigned lossesForTesting_ = 0;  // completions still to lose (test hook)
  unsigned lostForTesting_ = 0;    // completions lost so far (test hook), counted as dropped
  unsigned waitBatch_ = 1;
  std::uint32_t msgRingsSent_ = 0;  // numbers each MSG_RING, so its failure can be found
  // Where each socket we handed off by MSG_RING went, by descriptor, so a
  // refused one can follow another way (onSocketHandoffFailed). Overwritten
  // by the next hand-off of the same number; 24 bytes per descriptor.
  struct HandoffRecord {
    EventLoop* target = nullptr;
    std::weak_ptr<const int> alive;  // the target's alive_
  };
  std::vector<HandoffRecord> handoffs_;
  // The same for slots, by slot (the slot is not reused before the failure's
  // completion: the close that frees it runs after the message, linked).
  struct SlotHandoffRecord {
    EventLoop* target = nullptr;
    std::weak_ptr<const int> alive;
    InetAddress* ipv6Peer = nullptr;  // ours to free only if the message failed
  };
  std::vector<SlotHandoffRecord> slotHandoffs_;
  unsigned slotHandoffFailuresUnclosed_ = 0;  // failed hand-offs whose close has not completed yet
  bool slotHandoffBurst_ = false;             // hand-offs failing: logged once per burst
  std::uint64_t slotHandoffsFailedInBurst_ = 0;
  // Expires when this loop is destroyed: a loop that handed us a socket learns
  // from it whether a refused hand-off can still come here another way.
  std::shared_ptr<const int> alive_ = std::make_shared<const int>(0);

  static inline std::atomic<bool> failHandoffForTesting_{false};
  // Completions copied out of the CQ per pass. A member, not a local: a local
  // array was zero-initialised (6 KiB) on every poll. reapAndDispatch() never
  // runs inside itself (handlers do not poll), so one array serves every pass.
  std::array<RawCompletion, 256> reapBatch_;
};

}  // namespace duet
