#include "proactor/uring_connector.h"

#include <poll.h>

#include <cerrno>
#include <memory>

#include "proactor/uring_loop.h"

namespace duet {

void UringConnector::start(UringLoop& loop, UniqueFd socket, const InetAddress& server,
                           ConnectCallback done) {
  auto connector =
      std::make_shared<UringConnector>(loop, std::move(socket), server, std::move(done));
  connector->submitConnect();
}

void UringConnector::submitConnect() {
  polling_ = false;
  io_uring_sqe* sqe = loop_.nextSqe();
  io_uring_prep_connect(sqe, socket_.get(), server_.sockaddrPtr(), server_.length());
  loop_.track(sqe, OpKind::Connect, shared_from_this());
}

UringConnector::UringConnector(UringLoop& loop, UniqueFd socket, const InetAddress& server,
                               ConnectCallback done)
    : loop_(loop), socket_(std::move(socket)), server_(server), done_(std::move(done)) {}

void UringConnector::onCompletion(OpKind /*kind*/, const Completion& c) {
  if (c.res == -ECANCELED) {
    // Only the loop cancels a connect, or ends one whose completion the kernel
    // dropped (UringLoop::reconcileAfterDroppedCompletions): either way we do
    // not know where it got to, so connect again and let the kernel tell us
    // (EALREADY: still in progress; EISCONN: done; or the attempt's result).
    submitConnect();
    return;
  }
  if (c.res == -EISCONN) {
    finish(0);  // the earlier attempt connected
    return;
  }
  if (polling_) {
    // Writable (or failed): SO_ERROR says how the connect ended.
    finish(c.res < 0 ? -c.res : sockets::socketError(socket_.get()));
    return;
  }
  if (c.res == -EINPROGRESS || c.res == -EALREADY) {
    // The kernel normally waits for the handshake itself; should it hand the
    // non-blocking connect's EINPROGRESS back instead, wait for writability.
    polling_ = true;
    io_uring_sqe* sqe = loop_.nextSqe();
    io_uring_prep_poll_add(sqe, socket_.get(), POLLOUT);
    loop_.track(sqe, OpKind::Connect, shared_from_this());
    return;
  }
  finish(c.res < 0 ? -c.res : 0);
}

void UringConnector::finish(int error) {
  ConnectCallback done = std::move(done_);
  if (error == 0) {
    done(std::move(socket_), 0);
  } else {
    socket_.reset();
    done(UniqueFd(), error);
  }
}

}  // namespace duet
