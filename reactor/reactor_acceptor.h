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
// level-triggered loop spins at 100% CPU without making progress. So the
// pending connection is shed through a spare descriptor (core/accept_shedding.h,
// the policy every backend shares). If even that fails, stop watching the
// listener for a moment.
#pragma once

#include "core/accept_shedding.h"
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
  // No spare either: stop watching the listener briefly instead of spinning.
  void backOff();

  ReactorLoop& loop_;
  UniqueFd listen_;
  Channel channel_;
  AcceptCallback onAccept_;
  AcceptShedding shedding_;
  TimerId resumeTimer_;
  bool started_ = false;
  // Set while handleReady runs: the accept callback may destroy this acceptor
  // (a server shutting down from its onConnection), and the loop must notice.
  bool* destroyedFlag_ = nullptr;
};

}  // namespace duet
