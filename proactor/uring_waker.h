// How another thread wakes a loop that sleeps in io_uring_enter.
//
// Two ways, chosen by UringOptions::wakeup:
//
//   EventFd  An eventfd whose read is always armed on the loop's ring. Any
//            thread writes 8 bytes to it; the read completes and the loop's
//            wait returns. Works from every thread; costs the writer one
//            write(2) and the loop one extra SQE/CQE per wake-up (the re-armed read).
//   MsgRing  When the waking thread runs a UringLoop of its own, it posts an
//            IORING_OP_MSG_RING from *its* ring straight into our CQ: the
//            completion appears in our ring as if we had asked for it, with
//            user_data kWake. Nothing to re-arm on our side, no eventfd in
//            between. The sender submits the MSG_RING at once (one
//            io_uring_enter, charged to the *target's* sys_wakeup) because it cannot
//            know when its own loop will enter the kernel next. A thread with
//            no ring, or whose ring cannot do MSG_RING, falls back to the eventfd.
//            So does a MSG_RING that fails: the failure completion lands in the
//            *sender's* CQ, so the sender looks for it right after submitting
//            (UringLoop::sendWake) and writes our eventfd instead; one that
//            fails later is found when the sender reaps it (msgRingFailed).
//
// Either way, wake-ups are coalesced: while one is on its way and the loop has
// not reaped it yet, further wake() calls return at once. The loop clears the
// flag when it reaps the wake-up, which happens before it runs queued tasks,
// so a task queued after the flag was cleared always gets a wake-up of its own.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>

#include "core/loop_options.h"
#include "core/socket_ops.h"
#include "proactor/completion.h"

namespace duet {

class UringLoop;

class UringWaker final : public CompletionHandler, public std::enable_shared_from_this<UringWaker> {
 public:
  // Creates the eventfd (std::system_error if that fails) and registers the
  // waker so a failed MSG_RING can still find it (see msgRingFailed()).
  static std::shared_ptr<UringWaker> create(UringLoop& loop, UringWakeup mode);
  ~UringWaker() override;

  // Loop thread: puts the eventfd read on the ring (it then re-arms itself).
  void arm();
  // Loop teardown: completions no longer re-arm the read.
  void stop() { stopping_ = true; }

  // Any thread: makes the loop's wait return soon.
  void wake();

  // Loop thread: a kWake completion (MSG_RING or our own NOP) arrived. An
  // exchange, not a plain store: reading the sender's `true` makes the task it
  // queued visible to the task run that follows.
  void woken() { pending_.exchange(false, std::memory_order_acq_rel); }

  // The eventfd read completed (loop thread).
  void onCompletion(OpKind kind, const Completion& completion) override;

  // A MSG_RING we sent to waker number `registryIndex` failed (reported on the
  // sender's thread): wake that loop through its eventfd instead, so the
  // pending flag it set is not left standing with no wake-up on its way.
  static void msgRingFailed(std::uint32_t registryIndex, int error);

  // Tests only: MSG_RING wake-ups sent while this is on are aimed at the
  // target's eventfd instead of its ring, so the kernel fails them (EBADFD),
  // the way it fails one the target ring cannot take.
  static void failMsgRingForTesting(bool fail) { failMsgRingForTesting_.store(fail); }
  // Tests: how many wake-ups went by eventfd (sys_wakeup counts both ways).
  std::uint64_t eventFdWrites() const { return eventFdWrites_.load(std::memory_order_relaxed); }

 private:
  UringWaker(UringLoop& loop, UringWakeup mode);
  static void logMsgRingFailure(int error);  // once per process
  // `countIt`: false when the loop may already be gone.
  void writeEventFd(bool countIt);

  UringLoop& loop_;
  const UringWakeup mode_;
  const UniqueFd eventFd_;
  std::uint32_t registryIndex_ = 0;
  std::uint64_t counter_ = 0;         // the armed read's destination: the kernel writes it
  std::atomic<bool> pending_{false};  // a wake-up is on its way and not yet reaped
  std::atomic<std::uint64_t> eventFdWrites_{0};  // any thread
  bool stopping_ = false;

  static inline std::atomic<bool> failMsgRingForTesting_{false};
};

}  // namespace duet
