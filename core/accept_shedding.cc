#include "core/accept_shedding.h"

#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "core/log.h"

namespace duet {

AcceptShedding::AcceptShedding() { openSpare(); }

void AcceptShedding::openSpare() { spare_ = UniqueFd(::open("/dev/null", O_RDONLY | O_CLOEXEC)); }

void AcceptShedding::reopenSpareIfMissing() {
  if (!spare_) openSpare();
}

bool AcceptShedding::isOutOfDescriptors(int error) {
  return error == EMFILE || error == ENFILE || error == ENOBUFS || error == ENOMEM;
}

void AcceptShedding::noteOutOfDescriptors(int error, LoopStats& stats) {
  stats.acceptErrors.add();
  if (inBurst_) return;
  inBurst_ = true;
  DUET_LOG(Warn) << "accept: " << std::strerror(error)
                 << "; closing new connections at once until descriptors free up (raise the limit "
                    "with ulimit -n)";
}

AcceptShedding::Shed AcceptShedding::shedOne(int listenFd, LoopStats& stats) {
  if (!spare_) return Shed::Failed;
  spare_.reset();
  stats.count(Syscall::Close);
  stats.count(Syscall::Accept);
  // The listener is non-blocking: an empty backlog is EAGAIN, never a wait.
  const int fd = ::accept4(listenFd, nullptr, nullptr, SOCK_CLOEXEC);
  const int error = fd < 0 ? errno : 0;
  if (fd >= 0) {
    ::close(fd);
    stats.count(Syscall::Close);
    stats.acceptShed.add();
    ++shedInBurst_;
  }
  openSpare();  // may fail if another thread took the slot; reopenSpareIfMissing() later
  if (fd >= 0) return Shed::One;
  if (error == EAGAIN || error == EWOULDBLOCK) return Shed::BacklogEmpty;
  return Shed::Failed;  // still EMFILE: another thread took the freed slot
}

void AcceptShedding::noteShedByKernel(int error, LoopStats& stats) {
  noteOutOfDescriptors(error, stats);
  stats.acceptShed.add();
  ++shedInBurst_;
}

void AcceptShedding::noteAccepted() {
  if (!inBurst_) return;
  DUET_LOG(Warn) << "accept recovered: " << shedInBurst_
                 << " connection(s) were shed while out of descriptors";
  inBurst_ = false;
  shedInBurst_ = 0;
}

}  // namespace duet
