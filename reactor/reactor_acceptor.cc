#include "reactor/reactor_acceptor.h"

#include <sys/socket.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <utility>

#include "core/log.h"
#include "reactor/reactor_loop.h"

namespace duet {

namespace {

constexpr int kMaxAcceptsPerReport = 64;
constexpr auto kBackOff = std::chrono::milliseconds(100);

// Errors that belong to one pending connection (it died in the backlog, or a
// signal interrupted us): skip it and accept the next.
bool isTransient(int error) {
  return error == EINTR || error == ECONNABORTED || error == EPROTO || error == EPERM ||
         error == ENETDOWN || error == ENOPROTOOPT || error == EHOSTDOWN || error == ENONET ||
         error == EHOSTUNREACH || error == EOPNOTSUPP || error == ENETUNREACH;
}

}  // namespace

ReactorAcceptor::ReactorAcceptor(ReactorLoop& loop, UniqueFd listenSocket, AcceptCallback onAccept)
    : loop_(loop),
      listen_(std::move(listenSocket)),
      channel_(loop, listen_.get(), *this),
      onAccept_(std::move(onAccept)) {}

ReactorAcceptor::~ReactorAcceptor() {
  if (destroyedFlag_) *destroyedFlag_ = true;
  stop();
}

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
  loop_.sys().close(std::move(listen_));
}

void ReactorAcceptor::handleReady(unsigned /*ready*/) {
  bool destroyed = false;
  destroyedFlag_ = &destroyed;
  for (int i = 0; i < kMaxAcceptsPerReport && listen_; ++i) {
    sockaddr_in6 address{};  // large enough for IPv4 and IPv6
    socklen_t length = sizeof address;
    const int fd = loop_.sys().accept4(listen_.get(), reinterpret_cast<sockaddr*>(&address),
                                       &length, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd >= 0) {
      shedding_.noteAccepted();
      const auto peer = InetAddress::fromSockaddr(reinterpret_cast<sockaddr*>(&address), length);
      onAccept_(UniqueFd(fd), peer.value_or(InetAddress()));
      if (destroyed) return;  // the callback destroyed us: touch nothing
      continue;
    }
    const int error = errno;
    if (error == EAGAIN || error == EWOULDBLOCK) break;  // backlog empty
    if (isTransient(error)) continue;
    if (AcceptShedding::isOutOfDescriptors(error)) {
      shedding_.noteOutOfDescriptors(error, loop_.stats());
      const AcceptShedding::Shed shed = shedding_.shedOne(listen_.get(), loop_.stats());
      if (shed == AcceptShedding::Shed::One) continue;
      // BacklogEmpty: the listener reports the next connection as usual.
      if (shed == AcceptShedding::Shed::Failed) backOff();
      break;
    }
    loop_.stats().acceptErrors.add();
    DUET_LOG(Error) << "accept on fd " << listen_.get() << " failed: " << std::strerror(error);
    backOff();  // unknown error: do not spin on it either
    break;
  }
  destroyedFlag_ = nullptr;
}

void ReactorAcceptor::backOff() {
  if (resumeTimer_ || !listen_) return;
  channel_.disableReading();
  resumeTimer_ = loop_.runAfter(kBackOff, [this] {
    // Cancelled in stop()/the destructor, so `this` is alive here.
    resumeTimer_ = TimerId{};
    if (!listen_) return;
    shedding_.reopenSpareIfMissing();
    channel_.enableReading();
  });
}

}  // namespace duet
