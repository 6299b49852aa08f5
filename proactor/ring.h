// One io_uring instance: the submission queue we fill, the completion queue
// the kernel fills, and the single system call that moves both.
//
// The ring is where the proactor's cost is decided, so this class owns the two
// things the study measures: how the ring was set up (the task-run mode, see
// ring_setup.cc) and how often we enter the kernel (enter() below is the only
// place that calls io_uring_enter in steady state, and it counts every call).
//
// Loop thread only (with SINGLE_ISSUER the kernel enforces it).
#pragma once

#include <liburing.h>
#include <pthread.h>

#include <atomic>
#include <cstddef>
#include <memory>
#include <optional>
#include <span>
#include <string>

#include "core/loop_options.h"
#include "core/loop_stats.h"
#include "proactor/completion.h"

namespace duet {

class Ring {
 public:
  // Sets up a ring for `options` on the calling thread. Throws
  // BackendUnavailable, one line naming the reason and `--backend epoll`, when
  // io_uring cannot be used here. Defined in ring_setup.cc.
  static std::unique_ptr<Ring> open(const LoopOptions& options);

  ~Ring();
  Ring(const Ring&) = delete;
  Ring& operator=(const Ring&) = delete;

  io_uring& raw() { return ring_; }
  // The ring's real descriptor, also with registerRingFd: a registered index
  // means something only to the thread that registered it, so another loop's
  // MSG_RING wake-up (uring_waker.h) must target this.
  int fd() const { return ring_.ring_fd; }
  // registerRingFd: our own io_uring_enter calls name the ring by its index in
  // this thread's registered-ring table, and the kernel skips the fd lookup.
  bool ringFdRegistered() const { return registeredIndex_ >= 0; }
  // noIowait: our waits carry IORING_ENTER_NO_IOWAIT.
  bool waitsWithoutIowait() const { return noIowait_; }
  // IORING_SEND_VECTORIZED works here (probed only when vectoredSend is on).
  bool sendVectorizedAvailable() const { return sendVectorized_; }
  // Tests only: rings opened while this is off behave as if the kernel lacked
  // IORING_SEND_VECTORIZED (vectored sends then go by IORING_OP_SENDMSG).
  static void allowSendVectorizedForTesting(bool allow) { sendVectorizedAllowed_.store(allow); }
  // "uring-defer", "uring-coop" or "uring-plain", plus "+sqpoll".
  const std::string& mode() const { return mode_; }
  bool deferTaskRun() const { return deferTaskRun_; }
  bool hasFeature(unsigned feature) const { return (features_ & feature) != 0; }
  unsigned completionQueueSize() const { return ring_.cq.ring_entries; }

  // Counters go to the owning loop's stats (the loop exists only after the ring).
  void attachStats(LoopStats* stats) { stats_ = stats; }

  // A free SQE, never null. When the SQ is full we submit what is there and
  // retry: an operation is never dropped for lack of room.
  io_uring_sqe* nextSqe();

  // Hands every prepared SQE to the kernel and, when `waitFor` > 0, waits
  // until that many completions are ready, `timeout` (relative) passed, or a
  // signal arrived. `minWaitUsec` (kernels with IORING_FEAT_MIN_TIMEOUT): after
  // that long, settle for a single completion. Exactly one io_uring_enter, or
  // none when there is nothing to submit, nothing to wait for and nothing to
  // flush. `purpose` says which syscall counter it lands in (Wait, or Control
  // for a set-up probe); a wake-up for another loop goes by enterToWake().
  // Returns io_uring_enter's result, or 0 when no call was made.
  int enter(unsigned waitFor, const __kernel_timespec* timeout, unsigned minWaitUsec,
            Syscall purpose = Syscall::Wait);
  // Submits what is prepared (a MSG_RING wake-up for another loop) at once,
  // without waiting. The call is charged to `woken`, the loop it wakes, not
  // to this one (docs/reading-the-report.md, "Counters"), with the shared add
  // its sys_wakeup counter takes: other threads write it too.
  int enterToWake(LoopStats& woken);

  // Copies up to out.size() ready completions and gives their CQ slots back.
  std::size_t reap(std::span<RawCompletion> out);

  // Looks among the completions ready in the CQ, without reaping any, for the
  // one carrying `userData`. If it is there: returns its result and rewrites
  // its user_data to `handled`, so the next reap() sees it as dealt with.
  // (Until the head moves past it, a CQE is ours to read and to write.)
  std::optional<std::int32_t> takeReady(std::uint64_t userData, std::uint64_t handled);

  // The kernel had no room in the CQ and is holding completions back
  // (IORING_FEAT_NODROP); the next enter() flushes them.
  bool completionsHeldBack() const;
  // Completions the kernel had to throw away (it could not even hold them).
  unsigned completionsDropped() const { return *ring_.cq.koverflow; }

 private:
  Ring() = default;
  // Makes prepared SQEs visible to the kernel; returns how many it has not consumed yet.
  unsigned publishSubmissions();
  // The io_uring_enter system call itself, by registered index when we can,
  // and the one place it is counted: in uring.enterCalls and in `purpose`'s
  // syscall counter, except a Wakeup, which enterToWake() charges elsewhere.
  int sysEnter(unsigned toSubmit, unsigned minComplete, unsigned flags, const void* arg,
               std::size_t argSize, Syscall purpose);
  // Set-up steps for the options above (ring_setup.cc); each throws
  // BackendUnavailable when the kernel cannot do what was asked.
  void registerRingFd();
  void chooseIowait(KernelFeature noIowait);
  bool probeSendVectorized();

  io_uring ring_{};
  bool initialised_ = false;
  std::string mode_;
  bool sqpoll_ = false;
  bool deferTaskRun_ = false;
  unsigned features_ = 0;
  int registeredIndex_ = -1;  // in owner_'s registered-ring table, or -1
  pthread_t owner_{};         // the thread that set the ring up (and registered it)
  bool noIowait_ = false;
  bool sendVectorized_ = false;
  static inline std::atomic<bool> sendVectorizedAllowed_{true};
  LoopStats scratchStats_;  // counts land here until attachStats()
  LoopStats* stats_ = &scratchStats_;
};

}  // namespace duet
