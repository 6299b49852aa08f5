#include "core/event_loop.h"

#include <cstdlib>

#include "core/file_read_pool.h"
#include "core/log.h"

namespace duet {

EventLoop::EventLoop(const LoopOptions& options, std::string mode)
    : options_(options),
      mode_(std::move(mode)),
      threadId_(std::this_thread::get_id()),
      iterationTime_(Clock::now()) {
  // Buffers on this thread grow from this loop's spares (the first loop on a
  // thread, if several share one), so storage circulates by size class.
  spareBuffers_.serveThisThread();
}

EventLoop::~EventLoop() {
  // Backends have called this already; anything left now may only touch core.
  dropPendingWork();
}

void EventLoop::dropPendingWork() {
  // Worker threads queue their results here: they stop first (joined), so
  // nothing is queued behind the sweep below.
  if (fileReadPool_) fileReadPool_->stop();
  // A dying task or timer may queue more work or cancel timers (a connection
  // closing as its last reference goes): take everything out before
  // destroying it, outside the lock, and repeat until nothing is left.
  for (;;) {
    std::vector<Task> tasks;
    {
      std::lock_guard lock(queueMutex_);
      tasks.swap(queue_);
      tasksQueued_.store(false, std::memory_order_relaxed);
    }
    std::vector<Task> timerTasks = timers_.takeAll();
    if (tasks.empty() && timerTasks.empty()) break;
  }
}

void EventLoop::assertInLoopThread() const {
  if (!isInLoopThread()) {
    DUET_LOG(Error) << "loop '" << name_ << "' used from a thread that does not own it";
    std::abort();
  }
}

void EventLoop::run() {
  assertInLoopThread();
  // quit_ is not cleared here: a quit() that came before run() must win (see
  // event_loop.h). It is cleared on the way out instead.
  while (!quit_.load(std::memory_order_acquire)) {
    // Do not block while functors are waiting: they were queued from this
    // thread (no wake-up was sent for them) or arrived while we were busy.
    const bool tasksWaiting = tasksQueued_.load(std::memory_order_acquire);
    poll(/*mayBlock=*/!tasksWaiting, timers_.nextDeadline());
    iterationTime_ = Clock::now();
    runExpiredTimers();
    runQueuedTasks();
  }
  quit_.store(false, std::memory_order_relaxed);
}

void EventLoop::quit() {
  quit_.store(true, std::memory_order_release);
  if (!isInLoopThread()) wakeup();
}

void EventLoop::runInLoop(Task task) {
  if (isInLoopThread()) {
    task();
  } else {
    queueInLoop(std::move(task));
  }
}

void EventLoop::queueInLoop(Task task) {
  bool wasEmpty;
  {
    std::lock_guard lock(queueMutex_);
    wasEmpty = queue_.empty();
    queue_.push_back(std::move(task));
    tasksQueued_.store(true, std::memory_order_release);
  }
  // One wake-up per batch: if the queue already held tasks, a wake-up for them
  // is on its way (the loop empties the queue in one swap). From the loop's own
  // thread none is needed: run() checks the queue before it blocks.
  if (wasEmpty && !isInLoopThread()) wakeup();
}

void EventLoop::readFile(SharedFd file, std::uint64_t offset, std::size_t length,
                         FileReadCallback done) {
  assertInLoopThread();
  if (!fileReadPool_) {
    fileReadPool_ =
        std::make_unique<FileReadPool>(*this, options_.fileReadThreads, options_.fileReadQueue);
  }
  fileReadPool_->read(std::move(file), offset, length, std::move(done));
}

void EventLoop::handOff(EventLoop& target, SocketHandle socket, const InetAddress& peer) {
  // std::function must be copyable; the descriptor travels in a shared holder
  // (and closes with it if the target's queue is dropped unrun).
  auto held = std::make_shared<SocketHandle>(std::move(socket));
  target.queueInLoop([&target, held, peer] { target.receiveSocket(std::move(*held), peer); });
}

void EventLoop::receiveSocket(SocketHandle socket, const InetAddress& peer) {
  assertInLoopThread();
  if (socketReceiver_) {
    socketReceiver_(std::move(socket), peer);
  } else {
    stats().count(Syscall::Close);  // nobody takes it: `socket` closes here
  }
}

void EventLoop::runQueuedTasks() {
  if (!tasksQueued_.load(std::memory_order_acquire)) return;  // no lock when nothing is queued
  {
    std::lock_guard lock(queueMutex_);
    runningQueue_.swap(queue_);
    tasksQueued_.store(false, std::memory_order_relaxed);
  }
  // Tasks queued by these tasks wait for the next iteration, so I/O is never
  // starved by a task that keeps queueing itself.
  for (Task& task : runningQueue_) task();
  stats_.tasks.add(runningQueue_.size());
  runningQueue_.clear();
}

void EventLoop::runExpiredTimers() {
  const auto next = timers_.nextDeadline();
  if (!next || *next > iterationTime_) return;
  stats_.timersFired.add(timers_.expire(iterationTime_));
  noteTimersChanged();
}

void EventLoop::noteTimersChanged() {
  const auto next = timers_.nextDeadline();
  if (next != armedDeadline_) {
    armedDeadline_ = next;
    timerDeadlineChanged(next);
  }
}

TimerId EventLoop::addTimer(TimePoint when, Duration interval, Task task) {
  // The id is reserved here, on the caller's thread, so a caller on another
  // thread can cancel the timer at once: its cancel() is queued behind the add.
  const TimerId id = timers_.reserveId();
  runInLoop([this, id, when, interval, task = std::move(task)]() mutable {
    timers_.insert(id, when, interval, std::move(task));
    noteTimersChanged();
  });
  return id;
}

TimerId EventLoop::runAt(TimePoint when, Task task) {
  return addTimer(when, Duration::zero(), std::move(task));
}

TimerId EventLoop::runAfter(Duration delay, Task task) {
  return addTimer(Clock::now() + delay, Duration::zero(), std::move(task));
}

TimerId EventLoop::runEvery(Duration interval, Task task) {
  if (interval <= Duration::zero())
    interval = std::chrono::milliseconds(1);  // never a zero-period spin
  return addTimer(Clock::now() + interval, interval, std::move(task));
}

void EventLoop::cancel(TimerId id) {
  if (!id) return;
  runInLoop([this, id] {
    timers_.cancel(id);
    noteTimersChanged();
  });
}

}  // namespace duet
