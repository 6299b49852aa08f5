#include "proactor/ring.h"

#include <cerrno>
#include <cstring>

#include "core/log.h"
#include "proactor/uring_compat.h"

namespace duet {

Ring::~Ring() {
  if (!initialised_) return;
  // Only the thread that registered the index can take it back (loops die on
  // their own thread). Were we elsewhere, the entry would go when that thread
  // exits; liburing does not know about it either way (we registered it ourselves).
  if (registeredIndex_ >= 0 && pthread_equal(pthread_self(), owner_)) {
    io_uring_rsrc_update update{};
    update.offset = static_cast<unsigned>(registeredIndex_);
    io_uring_register(static_cast<unsigned>(ring_.ring_fd), IORING_UNREGISTER_RING_FDS, &update, 1);
  }
  io_uring_queue_exit(&ring_);
}

int Ring::sysEnter(unsigned toSubmit, unsigned minComplete, unsigned flags, const void* arg,
                   std::size_t argSize, Syscall purpose) {
  // A wake-up sent to another loop is not work for this one: enterToWake()
  // charges it to the loop it wakes.
  if (purpose != Syscall::Wakeup) {
    stats_->uring.enterCalls.add();
    stats_->count(purpose);
  }
  // A registered index lives in the registering thread's io_uring context: on
  // any other thread (a loop torn down elsewhere) it names nothing, or worse,
  // another ring. There we fall back to the real descriptor.
  if (registeredIndex_ >= 0 && pthread_equal(pthread_self(), owner_)) {
    return io_uring_enter2(static_cast<unsigned>(registeredIndex_), toSubmit, minComplete,
                           flags | IORING_ENTER_REGISTERED_RING,
                           static_cast<sigset_t*>(const_cast<void*>(arg)), argSize);
  }
  return io_uring_enter2(static_cast<unsigned>(ring_.ring_fd), toSubmit, minComplete, flags,
                         static_cast<sigset_t*>(const_cast<void*>(arg)), argSize);
}

io_uring_sqe* Ring::nextSqe() {
  for (;;) {
    if (io_uring_sqe* sqe = io_uring_get_sqe(&ring_)) return sqe;
    // The SQ is full: a burst prepared more operations than ringEntries in one
    // iteration. Submit them now (without waiting) and take a fresh entry.
    enter(0, nullptr, 0);
    if (sqpoll_ && io_uring_sq_space_left(&ring_) == 0) {
      // The SQ thread has not caught up yet: sleep in the kernel until it has.
      sysEnter(0, 0, IORING_ENTER_SQ_WAIT, nullptr, 0, Syscall::Wait);
    }
  }
}

unsigned Ring::publishSubmissions() {
  // liburing's io_uring_get_sqe() only advances a private tail (sqe_tail). The
  // kernel sees new entries once the shared tail moves. liburing sets up the
  // SQ index array as the identity map, so moving the tail is all there is to
  // do; the release store orders the SQE contents before the new tail.
  io_uring_sq& sq = ring_.sq;
  const unsigned tail = sq.sqe_tail;
  if (sq.sqe_head != tail) {
    if (sqpoll_)
      stats_->uring.sqesSubmitted.add(tail - sq.sqe_head);  // the SQ thread takes them all
    sq.sqe_head = tail;
    io_uring_smp_store_release(sq.ktail, tail);
  }
  return tail - io_uring_smp_load_acquire(sq.khead);
}

bool Ring::completionsHeldBack() const {
  return IO_URING_READ_ONCE(*ring_.sq.kflags) & IORING_SQ_CQ_OVERFLOW;
}

int Ring::enter(unsigned waitFor, const __kernel_timespec* timeout, unsigned minWaitUsec,
                Syscall purpose) {
  const unsigned toSubmit = publishSubmissions();
  const unsigned sqFlags = IO_URING_READ_ONCE(*ring_.sq.kflags);
  unsigned flags = IORING_ENTER_EXT_ARG;
  bool needed = false;

  if (sqpoll_) {
    // The kernel's SQ thread submits on its own; we only have to wake it when
    // it went to sleep after sq_thread_idle.
    if (toSubmit > 0 && (sqFlags & IORING_SQ_NEED_WAKEUP)) {
      flags |= IORING_ENTER_SQ_WAKEUP;
      needed = true;
    }
  } else if (toSubmit > 0) {
    needed = true;
  }
  // GETEVENTS also runs pending task work: with DEFER_TASKRUN that is the only
  // moment completions are posted, with COOP_TASKRUN the kernel asks for it
  // through IORING_SQ_TASKRUN, and an overflowed CQ is flushed by it.
  if (waitFor > 0 || (sqFlags & (IORING_SQ_TASKRUN | IORING_SQ_CQ_OVERFLOW))) {
    flags |= IORING_ENTER_GETEVENTS;
    needed = true;
  }
  if (!needed) return 0;
  // NO_IOWAIT (6.15): while we sleep here the scheduler counts the thread as
  // idle rather than "waiting for I/O". A loop waiting for a socket is idle;
  // without the flag a quiet server shows 100% iowait on its CPU. liburing
  // 2.3's submit-and-wait helpers have no way to pass it (io_uring_set_iowait
  // is newer), one more reason this class calls io_uring_enter itself.
  if (waitFor > 0 && noIowait_) flags |= IORING_ENTER_NO_IOWAIT;

  // EXT_ARG lets the timeout travel with the call itself instead of needing a
  // TIMEOUT SQE: one system call both submits and waits with a deadline.
  io_uring_getevents_arg arg{};
  arg.ts = reinterpret_cast<std::uint64_t>(timeout);
  if (minWaitUsec > 0 && hasFeature(IORING_FEAT_MIN_TIMEOUT))
    arg.pad = minWaitUsec;  // min_wait_usec

  const int ret = sysEnter(sqpoll_ ? 0 : toSubmit, waitFor, flags, &arg, sizeof arg, purpose);
  if (ret > 0 && !sqpoll_) stats_->uring.sqesSubmitted.add(static_cast<unsigned>(ret));
  if (ret < 0) {
    switch (-ret) {
      case ETIME:   // the wait timed out: a timer is due
      case EINTR:   // a signal: the loop goes round and looks again
      case EAGAIN:  // the kernel was short of memory for a moment; retried next time
      case EBUSY:   // older kernels: CQ overflow must be reaped first
        break;
      case EBADR:
        // Reported once after the kernel dropped completions; the loop sees the
        // count grow (completionsDropped()) and reconciles (UringLoop::noteOverflow).
        break;
      default:
        DUET_LOG(Error) << "io_uring_enter: " << std::strerror(-ret);
    }
  }
  return ret;
}

int Ring::enterToWake(LoopStats& woken) {
  const int ret = enter(0, nullptr, 0, Syscall::Wakeup);
  woken.syscalls[static_cast<int>(Syscall::Wakeup)].addShared();
  return ret;
}

std::size_t Ring::reap(std::span<RawCompletion> out) {
  std::size_t n = 0;
  unsigned head;
  io_uring_cqe* cqe;
  io_uring_for_each_cqe(&ring_, head, cqe) {
    if (n == out.size()) break;
    out[n].userData = cqe->user_data;
    out[n].completion.res = cqe->res;
    out[n].completion.flags = cqe->flags;
    ++n;
  }
  // One store gives all these CQ slots back to the kernel.
  io_uring_cq_advance(&ring_, static_cast<unsigned>(n));
  return n;
}

std::optional<std::int32_t> Ring::takeReady(std::uint64_t userData, std::uint64_t handled) {
  unsigned head;
  io_uring_cqe* cqe;
  io_uring_for_each_cqe(&ring_, head, cqe) {
    if (cqe->user_data == userData) {
      cqe->user_data = handled;
      return cqe->res;
    }
  }
  return std::nullopt;
}

}  // namespace duet
