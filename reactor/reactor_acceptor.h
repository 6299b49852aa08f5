// ReactorAcceptor: accepts on a listening socket when the poller reports it
// readable (a completed handshake is waiting in the backlog).
//
// Batching: one readiness report can stand for many queued connections, so
// each report accepts in a loop until EAGAIN, at most kMaxAcceptsPerReport so
// a connection storm cannot starve the connections already being served
// (level-triggered polling brings us back for the rest).
//
// Running out of descriptors (EMFILE/ENFILE) is the classic reactor trap: the
// pending connection stays in the backlog, the listener stays readable, and a
// level-triggered loop spins at 100% CPU without making progress. The fix
// (as in libev and muduo) is a spare descriptor kept open on /dev/null: on
// EMFILE close it, accept the connection into the freed slot, close that at
// once (the client sees a clean close instead of hanging), and reopen the
// spare. If even that fails, stop watching the listener for a moment.
#pragma once

#include "core/acceptor.h"
#include "core/event_loop.h"
#include "core/socket_ops.h"
#include "reactor/channel.h"

namespace duet {

class ReactorLoop;

class ReactorAcceptor final : public Acceptor, private ChannelHandler {
 public:
  ReactorAcceptor(ReactorLoop& loop, UniqueFd listenSocket, AcceptCallback onAccept);
  ~ReactorAcceptor() override;

  void start() override;
  void stop() override;

 private:
  void handleReady(unsigned ready) override;
  // EMFILE/ENFILE: counted; logged once per burst (not per connection).
  void noteOutOfDescriptors(int error);
  // Sheds one pending connection through the spare descriptor; false if there is no spare.
  bool shedOneConnection();
  // No spare either: stop watching the listener briefly instead of spinning.
  void backOff();
  void openSpare();

  ReactorLoop& loop_;
  UniqueFd listen_;
  Channel channel_;
  AcceptCallback onAccept_;
  UniqueFd spare_;
  TimerId resumeTimer_;
  bool started_ = false;
  bool inErrorBurst_ = false;      // between the first EMFILE and the next successful accept
  unsigned shedInBurst_ = 0;
  // Set while handleReady runs: the accept callback may destroy this acceptor
  // (a server shutting down from its onConnection), and the loop must notice.
  bool* destroyedFlag_ = nullptr;
};

}  // namespace duet
