#include "proactor/uring_waker.h"

#include <sys/eventfd.h>

#include <cerrno>
#include <cstring>
#include <mutex>
#include <system_error>
#include <vector>

#include "core/log.h"
#include "proactor/uring_loop.h"

namespace duet {

namespace {

// Every live waker, by index, so that a MSG_RING's failure completion (which
// arrives on the *sender's* ring and carries only a 32-bit index in its
// user_data) can be routed to the loop it was meant to wake. Touched only when
// a loop is created or destroyed, and on the rare failure.
struct WakerRegistry {
  std::mutex mutex;
  std::vector<std::weak_ptr<UringWaker>> wakers;
  std::vector<std::uint32_t> freeIndices;
};

WakerRegistry& registry() {
  static WakerRegistry* instance =
      new WakerRegistry();  // never destroyed: loops may outlive static teardown
  return *instance;
}

UniqueFd makeEventFd() {
  UniqueFd fd(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC));
  if (!fd) throw std::system_error(errno, std::generic_category(), "eventfd");
  return fd;
}

}  // namespace

UringWaker::UringWaker(UringLoop& loop, UringWakeup mode)
    : loop_(loop), mode_(mode), eventFd_(makeEventFd()) {}

std::shared_ptr<UringWaker> UringWaker::create(UringLoop& loop, UringWakeup mode) {
  std::shared_ptr<UringWaker> waker(new UringWaker(loop, mode));
  WakerRegistry& r = registry();
  std::lock_guard lock(r.mutex);
  if (!r.freeIndices.empty()) {
    waker->registryIndex_ = r.freeIndices.back();
    r.freeIndices.pop_back();
    r.wakers[waker->registryIndex_] = waker;
  } else {
    waker->registryIndex_ = static_cast<std::uint32_t>(r.wakers.size());
    r.wakers.push_back(waker);
  }
  return waker;
}

UringWaker::~UringWaker() {
  WakerRegistry& r = registry();
  std::lock_guard lock(r.mutex);
  r.wakers[registryIndex_].reset();
  r.freeIndices.push_back(registryIndex_);
}

void UringWaker::arm() {
  if (stopping_) return;
  io_uring_sqe* sqe = loop_.nextSqe();
  io_uring_prep_read(sqe, eventFd_.get(), &counter_, sizeof counter_, 0);
  loop_.track(sqe, OpKind::WakeRead, shared_from_this());
}

void UringWaker::onCompletion(OpKind /*kind*/, const Completion& completion) {
  // Whatever woke us (a write, or an error), the loop is awake now: anyone who
  // queues a task from here on must send a wake-up of their own.
  woken();
  if (stopping_) return;
  if (completion.res < 0 && completion.res != -ECANCELED && completion.res != -EAGAIN) {
    DUET_LOG(Error) << "eventfd read: " << std::strerror(-completion.res);
  }
  arm();
}

void UringWaker::wake() {
  if (pending_.exchange(true, std::memory_order_acq_rel)) return;  // one is on its way already

  UringLoop* caller = UringLoop::current();
  if (caller == &loop_) {
    // Our own thread (core does not do this today, but it is cheap to allow):
    // a NOP completes at the next enter, so that enter will not block.
    loop_.wakeSelf();
    return;
  }
  if (mode_ == UringWakeup::MsgRing && caller) {
    const int targetRing = failMsgRingForTesting_.load() ? eventFd_.get() : loop_.ringFd();
    int error = 0;
    if (caller->sendWake(targetRing, registryIndex_, loop_.stats(), &error)) return;
    if (error != 0) logMsgRingFailure(error);
  }
  writeEventFd(true);
}

void UringWaker::writeEventFd(bool countIt) {
  if (countIt) {
    loop_.sys().wakeupWriteShared(eventFd_.get());  // other threads: the shared add
  } else {
    UringSyscalls::wakeupWriteUncounted(eventFd_.get());
  }
  eventFdWrites_.fetch_add(1, std::memory_order_relaxed);
}

void UringWaker::msgRingFailed(std::uint32_t registryIndex, int error) {
  std::shared_ptr<UringWaker> target;
  {
    WakerRegistry& r = registry();
    std::lock_guard lock(r.mutex);
    if (registryIndex < r.wakers.size()) target = r.wakers[registryIndex].lock();
  }
  if (!target) return;  // that loop is gone: nobody left to wake
  logMsgRingFailure(error);
  target->writeEventFd(false);
}

void UringWaker::logMsgRingFailure(int error) {
  static std::once_flag logged;
  std::call_once(logged, [error] {
    DUET_LOG(Warn) << "IORING_OP_MSG_RING wake-up failed (" << std::strerror(-error)
                   << "); falling back to the eventfd for such wake-ups";
  });
}

}  // namespace duet
