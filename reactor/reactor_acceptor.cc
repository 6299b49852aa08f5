#include "reactor/reactor_acceptor.h"

#include <fcntl.h>
#include <sys/socket.h>

#include <cerrno>
#include <chrono>
#include <cstring>

#include "core/log.h"
#include "reactor/reactor_loop.h"

namespace duet {

namespace {

constexpr int kMaxAcceptsPerReport = 64;
constexpr auto kBackOff = std::chrono::milliseconds(100);

// Errors that belong to one pending connection (it died in the backlog, or a
// signal interrupted us): skip it and accept the next.
bool isTransient(int error) {
  return error == EINTR || error == ECONNABORTED || error == EPROTO || error == EPERM || error == ENETDOWN ||
         error == ENOPROTOOPT || error == EHOSTDOWN || error == ENONET || error == EHOSTUNREACH ||
         error == EOPNOTSUPP || error == ENETUNREACH;
}

bool isOutOfDescriptors(int error) { return error == EMFILE || error == ENFILE || error == ENOBUFS || error == ENOMEM; }

}  // namespace

ReactorAcceptor::ReactorAcceptor(ReactorLoop& loop, UniqueFd listenSocket, AcceptCallback onAccept)
    : loop_(loop), listen_(std::move(listenSocket)), channel_(loop, listen_.get(), *this), onAccept_(std::move(onAccept)) {
  openSpare();
}

ReactorAcceptor::~ReactorAcceptor() {
  if (destroyedFlag_) *destroyedFlag_ = true;
  stop();
}

void ReactorAcceptor::openSpare() { spare_ = UniqueFd(::open("/dev/null", O_RDONLY | O_CLOEXEC)); }

void ReactorAcceptor::start() {
  if (started_ || !listen_) return;
  started_ = true;
  if (!channel_.enableReading()) {
    DUET_LOG(Error) << loop_.mode() << " backend cannot watch listening fd " << listen_.get()
                    << " (>= FD_SETSIZE); not accepting on it";
  }
}

void ReactorAcceptor::stop() {
  if (resumeTimer_) {
    loop_.cancel(resumeTimer_);
    resumeTimer_ = TimerId{};
  }
  if (!listen_) return;
  channel_.remove();  // before close, as always
  listen_.reset();
  loop_.stats().count(Syscall::Close);
}

void ReactorAcceptor::handleReady(unsigned /*ready*/) {
  bool destroyed = false;
  destroyedFlag_ = &destroyed;
  for (int i = 0; i < kMaxAcceptsPerReport && listen_; ++i) {
    sockaddr_in6 address{};  // large enough for IPv4 and IPv6
    socklen_t length = sizeof address;
    loop_.stats().count(Syscall::Accept);
    const int fd = ::accept4(listen_.get(), reinterpret_cast<sockaddr*>(&address), &length,
                             SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd >= 0) {
      if (inErrorBurst_) {
        DUET_LOG(Warn) << "accept recovered: " << shedInBurst_ << " connection(s) were shed while out of descriptors";
        inErrorBurst_ = false;
        shedInBurst_ = 0;
      }
      const auto peer = InetAddress::fromSockaddr(reinterpret_cast<sockaddr*>(&address), length);
      onAccept_(UniqueFd(fd), peer.value_or(InetAddress()));
      if (destroyed) return;  // the callback destroyed us: touch nothing
      continue;
    }
    const int error = errno;
    if (error == EAGAIN || error == EWOULDBLOCK) break;  // backlog empty
    if (isTransient(error)) continue;
    loop_.stats().acceptErrors.add();
    if (isOutOfDescriptors(error)) {
      noteOutOfDescriptors(error);
      if (shedOneConnection()) continue;
      backOff();
      break;
    }
    DUET_LOG(Error) << "accept on fd " << listen_.get() << " failed: " << std::strerror(error);
    backOff();  // unknown error: do not spin on it either
    break;
  }
  destroyedFlag_ = nullptr;
}

void ReactorAcceptor::noteOutOfDescriptors(int error) {
  if (inErrorBurst_) return;
  inErrorBurst_ = true;
  DUET_LOG(Warn) << "accept: " << std::strerror(error)
                 << "; closing new connections at once until descriptors free up (raise the limit with ulimit -n)";
}

bool ReactorAcceptor::shedOneConnection() {
  if (!spare_) return false;
  spare_.reset();
  loop_.stats().count(Syscall::Close);
  loop_.stats().count(Syscall::Accept);
  const int fd = ::accept4(listen_.get(), nullptr, nullptr, SOCK_CLOEXEC);
  const int error = fd < 0 ? errno : 0;
  if (fd >= 0) {
    ::close(fd);
    loop_.stats().count(Syscall::Close);
    ++shedInBurst_;
  }
  openSpare();  // may fail if another thread took the slot; backOff() covers that next time
  // EAGAIN: the backlog emptied meanwhile, nothing left to shed. Anything
  // else (still EMFILE: another thread took the freed slot) is a failure.
  return fd >= 0 || error == EAGAIN || error == EWOULDBLOCK;
}

void ReactorAcceptor::backOff() {
  if (resumeTimer_ || !listen_) return;
  channel_.disableReading();
  resumeTimer_ = loop_.runAfter(kBackOff, [this] {
    // Cancelled in stop()/the destructor, so `this` is alive here.
    resumeTimer_ = TimerId{};
    if (!listen_) return;
    if (!spare_) openSpare();
    channel_.enableReading();
  });
}

}  // namespace duet
