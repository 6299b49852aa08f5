// Ring::open(): setting a ring up, probing the task-run mode, and saying
// clearly why io_uring is unavailable when it is.
//
// Task-run modes, best first (this is the biggest single factor in the
// proactor's CPU cost, see docs/measuring.md):
//   defer  SINGLE_ISSUER | DEFER_TASKRUN (Linux 6.1): the kernel queues the
//          completion work and runs it only when we call io_uring_enter with
//          GETEVENTS, i.e. once per loop iteration, on our own terms.
//   coop   COOP_TASKRUN (5.19): completion work still runs on our thread but
//          without an inter-processor interrupt; TASKRUN_FLAG makes the kernel
//          raise IORING_SQ_TASKRUN so we know when to enter.
//   plain  neither: the kernel interrupts the thread for each completion.
// The kernel answers EINVAL to flags it does not know, which is how we probe.
//
// DUET_DISABLE_URING=1 in the environment makes open() fail as if io_uring were
// disabled, so the BackendUnavailable path can be tested (and demonstrated) on
// a machine that has io_uring.
#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

#include "core/backend.h"
#include "proactor/ring.h"
#include "proactor/uring_compat.h"

namespace duet {

namespace {

struct SetupAttempt {
  unsigned flags;
  const char* mode;  // "defer", "coop", "plain"
};

std::vector<SetupAttempt> attemptsFor(UringTaskRun taskRun) {
  const SetupAttempt defer[] = {
      {IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN | IORING_SETUP_TASKRUN_FLAG,
       "defer"},
      {IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN, "defer"},
  };
  const SetupAttempt coop[] = {
      {IORING_SETUP_COOP_TASKRUN | IORING_SETUP_TASKRUN_FLAG, "coop"},
      {IORING_SETUP_COOP_TASKRUN, "coop"},
  };
  const SetupAttempt plain[] = {{0, "plain"}};
  std::vector<SetupAttempt> out;
  if (taskRun == UringTaskRun::Auto || taskRun == UringTaskRun::Defer)
    out.insert(out.end(), std::begin(defer), std::end(defer));
  if (taskRun == UringTaskRun::Auto || taskRun == UringTaskRun::Coop)
    out.insert(out.end(), std::begin(coop), std::end(coop));
  if (taskRun == UringTaskRun::Auto || taskRun == UringTaskRun::Plain)
    out.insert(out.end(), std::begin(plain), std::end(plain));
  return out;
}

const char* taskRunName(UringTaskRun taskRun) {
  switch (taskRun) {
    case UringTaskRun::Auto:
      return "auto";
    case UringTaskRun::Defer:
      return "defer";
    case UringTaskRun::Coop:
      return "coop";
    case UringTaskRun::Plain:
      return "plain";
  }
  return "?";
}

// A guess at why setup failed, in words a person can act on.
std::string hintFor(int err) {
  switch (err) {
    case ENOSYS:
      return " (the kernel was built without io_uring)";
    case EPERM:
    case EACCES: {
      std::ifstream sysctl("/proc/sys/kernel/io_uring_disabled");
      int disabled = 0;
      if (sysctl >> disabled && disabled != 0) {
        return " (kernel.io_uring_disabled=" + std::to_string(disabled) + ")";
      }
      return " (blocked by seccomp or a container policy?)";
    }
    case ENOMEM:
      return " (RLIMIT_MEMLOCK too low for this kernel?)";
    default:
      return "";
  }
}

[[noreturn]] void unavailable(const std::string& what) {
  throw BackendUnavailable("io_uring is unavailable: " + what + "; run with --backend epoll");
}

// An option asked for something this kernel lacks: one sentence naming the
// kernel that has it and the flag that turns it off.
[[noreturn]] void featureMissing(const std::string& what, const char* flag) {
  throw BackendUnavailable("io_uring here cannot do " + what + "; run with " + flag + " off");
}

[[noreturn]] void unavailable(const std::string& call, int err) {
  unavailable(call + ": " + std::strerror(err) + hintFor(err));
}

}  // namespace

std::unique_ptr<Ring> Ring::open(const LoopOptions& options) {
  if (const char* env = std::getenv("DUET_DISABLE_URING");
      env && *env && std::strcmp(env, "0") != 0) {
    unavailable(std::string("disabled by DUET_DISABLE_URING=") + env);
  }

  std::unique_ptr<Ring> ring(new Ring());
  const unsigned entries = std::max(options.uring.ringEntries, 2u);
  const unsigned cqFactor = std::max(options.uring.cqFactor, 1u);
  // CQSIZE: multishot operations produce many completions per submission, so
  // the CQ must be much larger than the SQ. SUBMIT_ALL: one bad SQE must not
  // stop the rest of the batch. CLAMP: an oversized request is capped, not refused.
  unsigned common = IORING_SETUP_CQSIZE | IORING_SETUP_SUBMIT_ALL | IORING_SETUP_CLAMP;
  if (options.uring.sqpoll) common |= IORING_SETUP_SQPOLL;

  int lastError = EINVAL;
  for (const SetupAttempt& attempt : attemptsFor(options.uring.taskRun)) {
    io_uring_params params{};
    params.flags = common | attempt.flags;
    params.cq_entries = entries * cqFactor;
    if (options.uring.sqpoll)
      params.sq_thread_idle = 1000;  // ms the SQ thread spins before it sleeps
    const int ret = io_uring_queue_init_params(entries, &ring->ring_, &params);
    if (ret == 0) {
      ring->initialised_ = true;
      ring->features_ = params.features;
      ring->sqpoll_ = options.uring.sqpoll;
      ring->deferTaskRun_ = (attempt.flags & IORING_SETUP_DEFER_TASKRUN) != 0;
      ring->mode_ = std::string("uring-") + attempt.mode + (options.uring.sqpoll ? "+sqpoll" : "");
      break;
    }
    lastError = -ret;
    // EINVAL: this kernel does not know one of the flags; try the next mode.
    // Anything else (ENOSYS, EPERM, ENOMEM) will not get better by retrying.
    if (lastError != EINVAL) unavailable("io_uring_queue_init_params", lastError);
  }
  if (!ring->initialised_) {
    if (options.uring.taskRun == UringTaskRun::Auto)
      unavailable("io_uring_queue_init_params", lastError);
    unavailable(std::string("the kernel refused task-run mode '") +
                taskRunName(options.uring.taskRun) +
                (options.uring.sqpoll ? "' with SQPOLL" : "'") + ": io_uring_queue_init_params: " +
                std::strerror(lastError) + " (DEFER_TASKRUN needs Linux 6.1, COOP_TASKRUN 5.19)");
  }
  // EXT_ARG (5.11) carries the wait timeout in io_uring_enter itself; NODROP
  // (5.5) keeps completions when the CQ is full instead of losing them.
  if (!ring->hasFeature(IORING_FEAT_EXT_ARG) || !ring->hasFeature(IORING_FEAT_NODROP)) {
    unavailable("the kernel lacks IORING_FEAT_EXT_ARG/NODROP (Linux 5.19 or newer is needed)");
  }
  ring->owner_ = pthread_self();
  if (options.uring.registerRingFd) ring->registerRingFd();
  ring->chooseIowait(options.uring.noIowait);
  if (options.uring.vectoredSend && sendVectorizedAllowed_.load())
    ring->sendVectorized_ = ring->probeSendVectorized();
  return ring;
}

// Registered ring fd (Linux 5.18): io_uring_enter(2) normally turns the ring's
// descriptor into its file on every call (fdget/fdput, which costs atomics when
// the process's fd table is shared between threads). Registered, the ring sits
// in a small per-thread table and each enter names it by index. We register it
// with the raw call rather than io_uring_register_ring_fd(): liburing would then
// also unregister it at io_uring_queue_exit, on whatever thread that runs, and
// an index taken back on the wrong thread names another ring. Offset -1: the
// kernel picks a free slot and writes it back.
void Ring::registerRingFd() {
  io_uring_rsrc_update update{};
  update.offset = ~0U;
  update.data = static_cast<std::uint64_t>(ring_.ring_fd);
  const int ret =
      io_uring_register(static_cast<unsigned>(ring_.ring_fd), IORING_REGISTER_RING_FDS, &update, 1);
  if (ret != 1) {
    featureMissing(
        std::string("a registered ring fd: it needs Linux 5.18 (IORING_REGISTER_RING_FDS: ") +
            std::strerror(ret < 0 ? -ret : EINVAL) + ")",
        "--register-ring-fd");
  }
  registeredIndex_ = static_cast<int>(update.offset);
}

// NO_IOWAIT waits (Linux 6.15, announced by IORING_FEAT_NO_IOWAIT): see enter().
void Ring::chooseIowait(KernelFeature noIowait) {
  const bool available = hasFeature(IORING_FEAT_NO_IOWAIT);
  if (noIowait == KernelFeature::On && !available) {
    featureMissing("waits without iowait: they need Linux 6.15 (IORING_FEAT_NO_IOWAIT)",
                   "--no-iowait");
  }
  noIowait_ = available && noIowait != KernelFeature::Off;
}

// IORING_SEND_VECTORIZED (Linux 6.17) has no feature bit. A kernel that does
// not know the flag refuses the SQE when preparing it (EINVAL), before it looks
// at the descriptor; one that knows it goes on and finds descriptor -1 bad
// (EBADF). One NOP-like send answers the question, once per loop.
bool Ring::probeSendVectorized() {
  io_uring_sqe* sqe = nextSqe();
  io_uring_prep_send(sqe, -1, nullptr, 0, 0);
  sqe->ioprio |= IORING_SEND_VECTORIZED;
  io_uring_sqe_set_data64(sqe, 0);
  const __kernel_timespec limit{1, 0};
  enter(1, &limit, 0, Syscall::Control);
  io_uring_cqe* cqe = nullptr;
  if (io_uring_peek_cqe(&ring_, &cqe) != 0 || !cqe) return false;  // no answer: take the older way
  const int res = cqe->res;
  io_uring_cqe_seen(&ring_, cqe);
  return res == -EBADF;
}

}  // namespace duet
