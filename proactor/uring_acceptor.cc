#include "proactor/uring_acceptor.h"

#include <sys/socket.h>

#include <cerrno>
#include <cstring>

#include "core/log.h"
#include "proactor/completion.h"
#include "proactor/uring_loop.h"

namespace duet {

namespace {

// After EMFILE/ENFILE and the like, wait this long before accepting again:
// retrying at once would spin on an error that only time (closed fds) cures.
constexpr auto kBackOff = std::chrono::milliseconds(50);

// Errors that concern one connection attempt, not the listener: carry on.
bool isTransient(int err) {
  return err == ECONNABORTED || err == EINTR || err == EAGAIN || err == EPROTO || err == EPERM ||
         err == ENETDOWN || err == ENOPROTOOPT || err == EHOSTDOWN || err == ENONET || err == EHOSTUNREACH ||
         err == EOPNOTSUPP || err == ENETUNREACH;
}

}  // namespace

class UringAcceptor::Stream final : public CompletionHandler, public std::enable_shared_from_this<Stream> {
 public:
  Stream(UringLoop& loop, UniqueFd listener, AcceptCallback onAccept)
      : loop_(loop), listener_(std::move(listener)), onAccept_(std::move(onAccept)) {}

  void start() {
    started_ = true;
    arm();
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

  void onCompletion(OpKind /*kind*/, const Completion& c) override {
    const bool finished = !c.more();
    if (finished) op_ = 0;

    if (c.res >= 0) {
      UniqueFd socket(c.res);
      if (stopped_) {
        socket.reset();  // accepted just before the cancel landed
        loop_.stats().count(Syscall::Close);
      } else {
        inErrorBurst_ = false;
        // The multishot form has no per-connection address buffer (one buffer
        // would be overwritten by the next accept), so ask the socket.
        const InetAddress peer = sockets::peerAddress(socket.get());
        loop_.stats().count(Syscall::Control);
        onAccept_(std::move(socket), peer);
      }
    } else if (c.res == -ECANCELED) {
      // stop(), or our own cancel after an error: handled below.
    } else if (isTransient(-c.res)) {
      DUET_LOG(Debug) << "accept: " << std::strerror(-c.res);
    } else {
      loop_.stats().acceptErrors.add();
      if (!inErrorBurst_) {
        inErrorBurst_ = true;
        DUET_LOG(Warn) << "accept: " << std::strerror(-c.res) << "; pausing accepts for "
                       << std::chrono::milliseconds(kBackOff).count() << " ms at a time (logged once per burst)";
      }
      backOffWanted_ = true;
      if (!finished) loop_.cancelOp(op_);  // do not let it keep failing at full speed
    }

    if (!finished) return;
    if (stopped_) {
      closeListener();
    } else if (backOffWanted_) {
      backOffWanted_ = false;
      retry_ = loop_.runAfter(kBackOff, [weak = weak_from_this()] {
        if (auto stream = weak.lock()) {
          stream->retry_ = TimerId{};
          stream->arm();
        }
      });
    } else {
      arm();  // the multishot accept ended (e.g. the CQ was full): arm it again
    }
  }

 private:
  void arm() {
    if (!started_ || stopped_ || op_ != 0 || !listener_) return;
    io_uring_sqe* sqe = loop_.nextSqe();
    io_uring_prep_multishot_accept(sqe, listener_.get(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    op_ = loop_.track(sqe, OpKind::Accept, shared_from_this());
  }

  void closeListener() {
    if (!listener_) return;
    listener_.reset();
    loop_.stats().count(Syscall::Close);
  }

  UringLoop& loop_;
  UniqueFd listener_;
  AcceptCallback onAccept_;
  std::uint64_t op_ = 0;
  TimerId retry_;
  bool started_ = false;
  bool stopped_ = false;
  bool inErrorBurst_ = false;
  bool backOffWanted_ = false;
};

UringAcceptor::UringAcceptor(UringLoop& loop, UniqueFd listenSocket, AcceptCallback onAccept)
    : stream_(std::make_shared<Stream>(loop, std::move(listenSocket), std::move(onAccept))) {}

UringAcceptor::~UringAcceptor() { stream_->stop(); }

void UringAcceptor::start() { stream_->start(); }

void UringAcceptor::stop() { stream_->stop(); }

}  // namespace duet
