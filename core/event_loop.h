// EventLoop: one per thread ("one loop per thread"). Owns the loop's timers,
// its queue of functors from other threads, and its counters; a backend
// (reactor/ or proactor/) supplies the waiting and the I/O.
//
// The iteration is the same for every backend and lives here, once:
//
//     while (!quit) {
//       poll(...)          backend: wait for I/O, dispatch it to connections
//       expire timers      core: TimerQueue
//       run queued tasks   core: functors from queueInLoop / other threads
//     }
//
// A backend overrides poll(), wakeup() and, if it arms a kernel timer,
// timerDeadlineChanged(); and it is the factory of its own acceptors and
// connections, so TcpServer never names a backend.
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "core/file_read.h"
#include "core/inet_address.h"
#include "core/loop_options.h"
#include "core/loop_stats.h"
#include "core/socket_handle.h"
#include "core/socket_ops.h"
#include "core/spare_buffers.h"
#include "core/timer_queue.h"

namespace duet {

class Acceptor;
class Connection;
class FileReadPool;
using ConnectionPtr = std::shared_ptr<Connection>;

// A new connection's socket, handed from an Acceptor to whoever owns connections:
// a descriptor, or a slot in the backend's own table (socket_handle.h).
using AcceptCallback = std::function<void(SocketHandle socket, const InetAddress& peer)>;
// Result of an asynchronous connect: error 0 and the connected socket, or an errno.
using ConnectCallback = std::function<void(UniqueFd socket, int error)>;

class EventLoop {
 public:
  // Must be constructed on the thread that will run it (io_uring's SINGLE_ISSUER
  // binds the ring to its creator).
  EventLoop(const LoopOptions& options, std::string mode);
  virtual ~EventLoop();
  EventLoop(const EventLoop&) = delete;
  EventLoop& operator=(const EventLoop&) = delete;

  // Runs until quit(). Loop thread only. May be called again after it returns.
  // A quit() requested before run() starts is not lost: run() then returns at
  // once, without an iteration (a thread that hands its loop out before
  // running it can be stopped in between). run() clears the request as it
  // returns, so the next run() runs until the next quit().
  void run();
  // Any thread. The current iteration finishes, then run() returns; if run()
  // has not started yet, it returns as soon as it does.
  void quit();

  // Runs `task` now if called on the loop thread, else queues it.
  void runInLoop(Task task);
  // Queues `task` to run after the current iteration's I/O; any thread; wakes the loop.
  void queueInLoop(Task task);

  // Timers. Any thread (they hop to the loop). Callbacks run on the loop thread.
  TimerId runAt(TimePoint when, Task task);
  TimerId runAfter(Duration delay, Task task);
  TimerId runEvery(Duration interval, Task task);
  void cancel(TimerId id);

  bool isInLoopThread() const { return std::this_thread::get_id() == threadId_; }
  void assertInLoopThread() const;

  // The time this iteration woke up: cheap, and good enough for idle tracking.
  TimePoint now() const { return iterationTime_; }

  Backend backend() const { return options_.backend; }
  const LoopOptions& options() const { return options_; }
  // How the backend was set up, e.g. "epoll-lt" or "uring-defer": shown by --stats.
  const std::string& mode() const { return mode_; }
  // The highest descriptor number + 1 this loop can watch, if its backend has
  // such a limit (select: FD_SETSIZE); none for epoll, poll and io_uring.
  virtual std::optional<int> descriptorLimit() const { return std::nullopt; }
  const std::string& name() const { return name_; }
  void setName(std::string name) { name_ = std::move(name); }
  LoopStats& stats() { return stats_; }
  const LoopStats& stats() const { return stats_; }
  // Loop thread: Buffer storage recycled between this loop's connections.
  SpareBuffers& spareBuffers() { return spareBuffers_; }

  // ---- Backend factories, loop thread only ----

  // Starts accepting on a listening socket; `onAccept` runs on this loop.
  virtual std::unique_ptr<Acceptor> createAcceptor(UniqueFd listenSocket,
                                                   AcceptCallback onAccept) = 0;
  // Wraps a connected socket. The caller sets callbacks, then calls start().
  virtual ConnectionPtr createConnection(SocketHandle socket, const InetAddress& local,
                                         const InetAddress& peer) = 0;
  // Connects `socket` (non-blocking, fresh) to `server`; `done` runs on this loop
  // exactly once, unless the loop is destroyed first.
  virtual void connect(UniqueFd socket, const InetAddress& server, ConnectCallback done) = 0;
  // A new loop of the same backend and options, for another thread. Callable from
  // any thread: it only reads options. The new loop belongs to the calling thread.
  virtual std::unique_ptr<EventLoop> createSibling() const = 0;

  // ---- Files ----

  // Loop thread. Reads `length` bytes of `file` at `offset` without blocking
  // this loop (core/file_read.h says how each backend does it). `done` runs
  // on this loop, later (never inside readFile), exactly once, unless the
  // loop is destroyed first; then it is destroyed uncalled. The read keeps
  // `file` open until it completes, so the caller may drop its own reference
  // (a connection that closed meanwhile) at any time.
  // Here: the loop's FileReadPool (worker threads). A backend that can read
  // files asynchronously itself overrides it (the proactor: ring reads).
  virtual void readFile(SharedFd file, std::uint64_t offset, std::size_t length,
                        FileReadCallback done);

  // ---- Handing accepted sockets to another loop (TcpServer's main acceptor) ----

  // Loop thread, before any socket is handed to this loop: who takes them.
  // Sockets that arrive with no receiver set are closed. An empty socket says
  // a hand-off to this loop failed on its way (the socket is closed already).
  void setSocketReceiver(AcceptCallback receiver) { socketReceiver_ = std::move(receiver); }
  // Loop thread: passes `socket` to `target`'s receiver, which runs on the
  // target's thread. Here: a queued task and a wake-up. A backend may carry it
  // in one message instead (io_uring: MSG_RING, UringOptions::msgRingHandoff).
  // The target must outlive the hand-off (TcpServer stops accepting before it
  // ends its I/O loops).
  virtual void handOff(EventLoop& target, SocketHandle socket, const InetAddress& peer);
  // Why the sockets this loop accepts cannot be handed to another loop, in
  // one line for the user; empty when they can. (io_uring direct descriptors
  // live in the accepting ring's own table.) TcpServer refuses the main
  // acceptor with I/O threads when this is not empty.
  virtual std::string handOffRefusal() const { return {}; }
  // Loop thread: hand-offs started here are on their way when this returns (a
  // backend that sends them with its next wait sends them now). Owners call
  // it before they end the target loops.
  virtual void flushHandOffs() {}

 protected:
  // Loop thread: a socket handed to this loop arrived: to the receiver, or closed.
  void receiveSocket(SocketHandle socket, const InetAddress& peer);

  // Waits for I/O and dispatches it. If `mayBlock` is false, must not block.
  // Otherwise may block until I/O, a wakeup(), or `timerDeadline` if set.
  virtual void poll(bool mayBlock, std::optional<TimePoint> timerDeadline) = 0;
  // Any thread: makes a blocked poll() return soon.
  virtual void wakeup() = 0;
  // Loop thread: the earliest timer deadline changed (a reactor re-arms its timerfd).
  virtual void timerDeadlineChanged(std::optional<TimePoint> /*deadline*/) {}
  // Destroys every queued task and timer without running it. A backend's
  // destructor calls this first: what a task or timer holds (a connection, an
  // acceptor) unregisters from the backend's poller or ring as it dies, so it
  // must die while they still exist. ~EventLoop would be too late.
  // It first stops the file-read workers, which queue tasks from their threads.
  void dropPendingWork();

 private:
  TimerId addTimer(TimePoint when, Duration interval, Task task);
  void runQueuedTasks();
  void runExpiredTimers();
  void noteTimersChanged();

  const LoopOptions options_;
  const std::string mode_;
  std::string name_ = "loop";
  const std::thread::id threadId_;
  std::atomic<bool> quit_{false};
  TimePoint iterationTime_;

  TimerQueue timers_;
  std::optional<TimePoint> armedDeadline_;
  SpareBuffers spareBuffers_;

  mutable std::mutex queueMutex_;
  std::vector<Task> queue_;  // guarded by queueMutex_
  // queue_ is not empty: set and cleared under queueMutex_, read without it,
  // so an iteration with nothing queued (the common case) takes no lock. A
  // task queued just after the loop read false comes with a wakeup().
  std::atomic<bool> tasksQueued_{false};
  std::vector<Task> runningQueue_;

  LoopStats stats_;
  AcceptCallback socketReceiver_;               // loop thread
  std::unique_ptr<FileReadPool> fileReadPool_;  // made by the first readFile() that needs it
};

// Makes a loop for `options.backend` on the calling thread. Declared in core/,
// defined in backends/ (the one place that knows every backend). Throws
// BackendUnavailable with a one-line reason if the backend cannot run here.
std::unique_ptr<EventLoop> makeEventLoop(const LoopOptions& options);

}  // namespace duet
