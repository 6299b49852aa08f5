#include "reactor/pending_connect.h"

#include <cerrno>

#include "reactor/reactor_loop.h"

namespace duet {

PendingConnect::PendingConnect(ReactorLoop& loop, UniqueFd socket, ConnectCallback done)
    : loop_(loop),
      socket_(std::move(socket)),
      channel_(loop, socket_.get(), *this),
      done_(std::move(done)) {}

PendingConnect::~PendingConnect() { channel_.remove(); }

void PendingConnect::start() {
  // ReactorLoop::connect() checked canWatch(), so this cannot be refused; if
  // it were, fail the connect rather than wait forever.
  if (!channel_.enableWriting()) finish(EMFILE);
}

void PendingConnect::handleReady(unsigned /*ready*/) {
  // Writable, error or hang-up all mean the handshake is over; SO_ERROR tells which way.
  finish(sockets::socketError(socket_.get()));
}

void PendingConnect::finish(int error) {
  // Unregister before the socket leaves us: the caller will wrap it in a
  // connection with its own channel.
  channel_.remove();
  UniqueFd socket = std::move(socket_);
  ConnectCallback done = std::move(done_);
  // Destroys *this: touch no member below.
  std::unique_ptr<PendingConnect> self = loop_.takeConnect(this);
  self.reset();
  if (error != 0) socket.reset();
  done(std::move(socket), error);
}

}  // namespace duet
