#include "proactor/uring_acceptor.h"

#include <poll.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>
#include <utility>

#include "core/accept_shedding.h"
#include "core/log.h"
#include "proactor/completion.h"
#include "proactor/uring_loop.h"

namespace duet {

namespace {

// After an error we cannot act on (or EMFILE with no spare descriptor to
// shed through), wait this long before accepting again: retrying at once
// would spin on an error that only time cures.
constexpr auto kBackOff = std::chrono::milliseconds(50);

// Errors that concern one connection attempt, not the listener: carry on.
bool isTransient(int err) {
  return err == ECONNABORTED || err == EINTR || err == EAGAIN || err == EPROTO || err == EPERM ||
         err == ENETDOWN || err == ENOPROTOOPT || err == EHOSTDOWN || err == ENONET ||
         err == EHOSTUNREACH || err == EOPNOTSUPP || err == ENETUNREACH;
}

}  // namespace

class UringAcceptor::Stream final : public CompletionHandler,
                                    public std::enable_shared_from_this<Stream> {
 public:
  Stream(UringLoop& loop, UniqueFd listener, AcceptCallback onAccept)
      : loop_(loop),
        listener_(std::move(listener)),
        onAccept_(std::move(onAccept)),
        direct_(loop.directDescriptors()) {}

  void start() {
    started_ = true;
    armAccept();
  }

  void stop() {
    if (stopped_) return;
    stopped_ = true;
    if (retry_) {
      loop_.cancel(retry_);
      retry_ = TimerId{};
    }
    if (op_ != 0) {
      loop_.cancelOp(op_);  // the listener closes when the final completion arrives
    } else {
      closeListener();
    }
  }

  void onCompletion(OpKind kind, const Completion& c) override {
    const bool finished = !c.more();
    if (finished) op_ = 0;
    if (kind == OpKind::AcceptReady) {
      // A connection is waiting (or the poll failed): try the accept again.
      // Still out of descriptors, it fails at once and sheds that connection.
      if (c.res < 0 && c.res != -ECANCELED) next_ = Next::BackOff;
    } else {
      onAccepted(c);
    }
    if (!finished) return;
    if (stopped_) {
      closeListener();
      return;
    }
    const Next next = std::exchange(next_, Next::Accept);
    switch (next) {
      case Next::Accept:
        armAccept();
        break;  // the multishot accept ended (e.g. the CQ was full)
      case Next::WaitForConnection:
        armPoll();
        break;
      case Next::BackOff:
        backOff();
        break;
    }
  }

 private:
  // What to arm once the current operation has ended.
  enum class Next { Accept, WaitForConnection, BackOff };

  void onAccepted(const Completion& c) {
    const bool finished = !c.more();
    if (c.res >= 0) {
      SocketHandle socket = direct_ ? loop_.adoptSlot(static_cast<std::uint32_t>(c.res))
                                    : SocketHandle(UniqueFd(c.res));
      if (stopped_) {
        loop_.sys().close(socket);  // accepted just before the cancel landed
        return;
      }
      inErrorBurst_ = false;
      shedding_.noteAccepted();
      const InetAddress peer = acceptedPeer(socket);
      onAccept_(std::move(socket), peer);
    } else if (c.res == -ECANCELED) {
      // stop(), or our own cancel after an error: handled by the caller.
    } else if (direct_ && c.res == -ENFILE) {
      // The fixed-file table is full: the kernel accepted the connection,
      // found no slot and closed it. Shed already; the next accept waits for
      // the next connection, so re-arming cannot spin.
      shedding_.noteShedByKernel(-c.res, loop_.stats());
    } else if (isTransient(-c.res)) {
      DUET_LOG(Debug) << "accept: " << std::strerror(-c.res);
    } else if (AcceptShedding::isOutOfDescriptors(-c.res) && !stopped_) {
      // The connection is still in the backlog: shed it, as the reactor does,
      // so its client is told at once (core/accept_shedding.h). An accept
      // armed now would fail again at once, even with nobody waiting (the
      // kernel wants a descriptor before it looks at the backlog), so wait for
      // the next connection with a poll, which needs none.
      shedding_.noteOutOfDescriptors(-c.res, loop_.stats());
      const AcceptShedding::Shed shed = shedding_.shedOne(listener_.get(), loop_.stats());
      next_ = shed == AcceptShedding::Shed::Failed ? Next::BackOff : Next::WaitForConnection;
      if (!finished) loop_.cancelOp(op_);
    } else {
      loop_.stats().acceptErrors.add();
      if (!inErrorBurst_) {
        inErrorBurst_ = true;
        DUET_LOG(Warn) << "accept: " << std::strerror(-c.res) << "; pausing accepts for "
                       << std::chrono::milliseconds(kBackOff).count()
                       << " ms at a time (logged once per burst)";
      }
      next_ = Next::BackOff;
      if (!finished) loop_.cancelOp(op_);  // do not let it keep failing at full speed
    }
  }

  void armAccept() {
    if (!started_ || stopped_ || op_ != 0 || !listener_) return;
    io_uring_sqe* sqe = loop_.nextSqe();
    if (direct_) {
      // One accept at a time, each with the address buffer below. (No
      // SOCK_CLOEXEC: a slot is no descriptor, and the kernel refuses it.)
      peerLength_ = sizeof peer_;
      io_uring_prep_accept_direct(sqe, listener_.get(), reinterpret_cast<sockaddr*>(&peer_),
                                  &peerLength_, SOCK_NONBLOCK,
                                  IORING_FILE_INDEX_ALLOC - 1);  // liburing adds the 1 back
      op_ = loop_.track(sqe, OpKind::AcceptDirect, shared_from_this());
      return;
    }
    io_uring_prep_multishot_accept(sqe, listener_.get(), nullptr, nullptr,
                                   SOCK_NONBLOCK | SOCK_CLOEXEC);
    op_ = loop_.track(sqe, OpKind::Accept, shared_from_this());
  }

  InetAddress acceptedPeer(const SocketHandle& socket) {
    if (direct_) {
      // Written by the accept that just completed (one in flight at a time).
      if (peer_.ss_family == AF_INET6)
        return InetAddress(*reinterpret_cast<const sockaddr_in6*>(&peer_));
      return InetAddress(*reinterpret_cast<const sockaddr_in*>(&peer_));
    }
    // The multishot form has no per-connection address buffer (one buffer
    // would be overwritten by the next accept), so ask the socket.
    return loop_.sys().peerAddress(socket.fd());
  }

  // Out of descriptors: completes once a connection is waiting in the backlog.
  void armPoll() {
    if (!started_ || stopped_ || op_ != 0 || !listener_) return;
    io_uring_sqe* sqe = loop_.nextSqe();
    io_uring_prep_poll_add(sqe, listener_.get(), POLLIN);
    op_ = loop_.track(sqe, OpKind::AcceptReady, shared_from_this());
  }

  // No way to make progress now (no spare descriptor to shed through, or an
  // unknown error): try again a little later instead of spinning.
  void backOff() {
    retry_ = loop_.runAfter(kBackOff, [weak = weak_from_this()] {
      if (auto stream = weak.lock()) {
        stream->retry_ = TimerId{};
        stream->shedding_.reopenSpareIfMissing();
        stream->armAccept();
      }
    });
  }

  void closeListener() {
    if (!listener_) return;
    loop_.sys().close(std::move(listener_));
  }

  UringLoop& loop_;
  UniqueFd listener_;
  AcceptCallback onAccept_;
  std::uint64_t op_ = 0;  // the accept or the poll in flight, 0 if none
  TimerId retry_;
  AcceptShedding shedding_;
  Next next_ = Next::Accept;
  bool started_ = false;
  bool stopped_ = false;
  bool inErrorBurst_ = false;  // other accept errors: logged once per burst
  const bool direct_;          // accepts go into the ring's fixed-file table
  sockaddr_storage peer_{};    // direct_: the peer of the accept in flight
  socklen_t peerLength_ = 0;
};

UringAcceptor::UringAcceptor(UringLoop& loop, UniqueFd listenSocket, AcceptCallback onAccept)
    : stream_(std::make_shared<Stream>(loop, std::move(listenSocket), std::move(onAccept))) {}

UringAcceptor::~UringAcceptor() { stream_->stop(); }

void UringAcceptor::start() { stream_->start(); }

void UringAcceptor::stop() { stream_->stop(); }

}  // namespace duet
