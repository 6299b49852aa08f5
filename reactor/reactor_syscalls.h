// ReactorSyscalls: every system call a reactor loop makes on its hot path,
// made and counted in one place.
//
// The compare runner reports a loop's system calls per request by kind
// (LoopStats::syscalls, printed as sys_wait=, sys_read=, ...), and the tests
// assert those counts. When each call site counted by hand, the I/O code
// carried a counter line beside every call, and a call added without its line
// would silently go missing from the report. Here each function makes one
// system call (sendfile, read, epoll_wait, ...) and adds it to its kind, so
// the callers read like the bare loop in bench/baselines/raw_epoll.cc:
// `sys_.read(fd, &n, sizeof n)`, `sys_.epollWait(...)`, `sys_.close(...)`.
//
// The functions return what the system call returns (-1 with errno set on
// failure) and decide nothing: retrying on EINTR, EAGAIN, logging, all stay
// with the caller, who knows what the call was for.
//
// Bound to one loop's LoopStats; a copy is a reference, cheap to hold. Loop
// thread only, except wakeupWriteShared (see below).
#pragma once

#include <poll.h>
#include <sys/epoll.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <sys/types.h>

#include <cstddef>
#include <cstdint>

#include "core/buffer.h"
#include "core/loop_stats.h"
#include "core/socket_ops.h"

struct itimerspec;

namespace duet {

class ReactorSyscalls {
 public:
  explicit ReactorSyscalls(LoopStats& stats) : stats_(stats) {}

  // ---- Waiting for readiness: sys_wait ----
  int epollWait(int epollFd, epoll_event* events, int maxEvents, int timeoutMs);
  int poll(pollfd* fds, nfds_t count, int timeoutMs);
  int select(int fdLimit, fd_set* readable, fd_set* writable, timeval* timeout);

  // ---- Telling the kernel what to watch or when to fire: sys_control ----
  int epollCtl(int epollFd, int op, int fd, epoll_event* event);
  // timerfd_settime with an absolute expiry (TFD_TIMER_ABSTIME).
  int timerfdSetAbsolute(int timerFd, const itimerspec& expiry);

  // ---- Reading: sys_read ----
  ssize_t read(int fd, void* data, std::size_t length);
  // Buffer::readFd: one readv(2) into `buffer` (plus its stack spill area).
  ssize_t readInto(Buffer& buffer, int fd, int* error);

  // ---- Writing: sys_write, and one send op each (LoopStats::sendOps) ----
  // send(2) with MSG_NOSIGNAL: a peer that reset gives EPIPE instead of a
  // process-killing SIGPIPE.
  ssize_t send(int socket, const void* data, std::size_t length);
  ssize_t sendfile(int socket, int file, off_t* offset, std::size_t length);

  // ---- Accepting: sys_accept ----
  int accept4(int listenFd, sockaddr* address, socklen_t* length, int flags);

  // ---- Closing: sys_close ----
  // Closes the descriptor `fd` owns (take it with std::move or
  // SocketHandle::takeDescriptor()).
  void close(UniqueFd fd);
  // shutdown(SHUT_WR): our FIN.
  int shutdownWrite(int socket);

  // ---- Cross-thread wake-ups: sys_wakeup, the one counter with several writers ----
  // A wake-up is charged to the loop it wakes, by whichever thread sends it,
  // so these take the shared (atomic) add: a plain add would lose counts to
  // a load+store race (core/loop_stats.h). wakeupWriteShared may run on any thread.
  ssize_t wakeupWriteShared(int eventFd);                         // write(2) of 1
  ssize_t wakeupReadShared(int eventFd, std::uint64_t* counter);  // read(2), drains it

 private:
  LoopStats& stats_;
};

}  // namespace duet
