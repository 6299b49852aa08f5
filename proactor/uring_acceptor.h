// UringAcceptor: accepts with one multishot IORING_OP_ACCEPT.
//
// One SQE keeps producing a completion per new connection until it ends (a
// completion without IORING_CQE_F_MORE), after which we arm it again.
//
// Out of descriptors, the accept completes with EMFILE and the connection
// stays in the backlog: it is shed through a spare descriptor, the same
// policy as the reactor's (core/accept_shedding.h).
//
// With direct descriptors (UringLoop::directDescriptors()) each accept puts
// the socket straight into a free slot of the ring's fixed-file table, and
// the process never sees a descriptor. Then the accept is single-shot, with
// an address buffer: the multishot form has nowhere to put each peer's
// address, and with no descriptor there is no getpeername(2) to ask. A full
// table completes the accept with ENFILE after the kernel took the
// connection and closed it: it was shed already; counted and logged the same
// way, and the next accept simply waits for the next connection.
//
// The accept operation can outlive this object: stop() only *asks* the kernel
// to cancel it, and TcpServer destroys the acceptor right after stop(). So
// the state the kernel's completions need lives in a separate, shared object
// (Stream, in the .cc) that the loop's OpTable keeps alive until the final
// completion, which is also when the listening socket is closed.
#pragma once

#include <memory>

#include "core/acceptor.h"
#include "core/event_loop.h"

namespace duet {

class UringLoop;

class UringAcceptor final : public Acceptor {
 public:
  UringAcceptor(UringLoop& loop, UniqueFd listenSocket, AcceptCallback onAccept);
  ~UringAcceptor() override;

  void start() override;
  void stop() override;

  class Stream;

 private:
  std::shared_ptr<Stream> stream_;
};

}  // namespace duet
