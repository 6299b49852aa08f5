#include "reactor/reactor_syscalls.h"

#include <sys/sendfile.h>
#include <sys/timerfd.h>
#include <unistd.h>

namespace duet {

int ReactorSyscalls::epollWait(int epollFd, epoll_event* events, int maxEvents, int timeoutMs) {
  stats_.count(Syscall::Wait);
  return ::epoll_wait(epollFd, events, maxEvents, timeoutMs);
}

int ReactorSyscalls::poll(pollfd* fds, nfds_t count, int timeoutMs) {
  stats_.count(Syscall::Wait);
  return ::poll(fds, count, timeoutMs);
}

int ReactorSyscalls::select(int fdLimit, fd_set* readable, fd_set* writable, timeval* timeout) {
  stats_.count(Syscall::Wait);
  return ::select(fdLimit, readable, writable, nullptr, timeout);
}

int ReactorSyscalls::epollCtl(int epollFd, int op, int fd, epoll_event* event) {
  stats_.count(Syscall::Control);
  return ::epoll_ctl(epollFd, op, fd, event);
}

int ReactorSyscalls::timerfdSetAbsolute(int timerFd, const itimerspec& expiry) {
  stats_.count(Syscall::Control);
  return ::timerfd_settime(timerFd, TFD_TIMER_ABSTIME, &expiry, nullptr);
}

ssize_t ReactorSyscalls::read(int fd, void* data, std::size_t length) {
  stats_.count(Syscall::Read);
  return ::read(fd, data, length);
}

ssize_t ReactorSyscalls::readInto(Buffer& buffer, int fd, int* error) {
  stats_.count(Syscall::Read);
  return buffer.readFd(fd, error);
}

ssize_t ReactorSyscalls::send(int socket, const void* data, std::size_t length) {
  stats_.count(Syscall::Write);
  stats_.sendOps.add();
  return ::send(socket, data, length, MSG_NOSIGNAL);
}

ssize_t ReactorSyscalls::sendfile(int socket, int file, off_t* offset, std::size_t length) {
  stats_.count(Syscall::Write);
  stats_.sendOps.add();
  return ::sendfile(socket, file, offset, length);
}

int ReactorSyscalls::accept4(int listenFd, sockaddr* address, socklen_t* length, int flags) {
  stats_.count(Syscall::Accept);
  return ::accept4(listenFd, address, length, flags);
}

void ReactorSyscalls::close(UniqueFd fd) {
  stats_.count(Syscall::Close);
  fd.reset();
}

int ReactorSyscalls::shutdownWrite(int socket) {
  stats_.count(Syscall::Close);
  return ::shutdown(socket, SHUT_WR);
}

ssize_t ReactorSyscalls::wakeupWriteShared(int eventFd) {
  stats_.syscalls[static_cast<int>(Syscall::Wakeup)].addShared();
  const std::uint64_t one = 1;
  return ::write(eventFd, &one, sizeof one);
}

ssize_t ReactorSyscalls::wakeupReadShared(int eventFd, std::uint64_t* counter) {
  stats_.syscalls[static_cast<int>(Syscall::Wakeup)].addShared();
  return ::read(eventFd, counter, sizeof *counter);
}

}  // namespace duet
