// PendingConnect: one non-blocking connect(2) that returned EINPROGRESS.
// The kernel reports the handshake's end as writability (or an error/hang-up);
// SO_ERROR then says whether it worked. Owned by ReactorLoop until then, so a
// loop destroyed first simply closes the socket without calling back.
#pragma once

#include "core/event_loop.h"
#include "core/socket_ops.h"
#include "reactor/channel.h"

namespace duet {

class ReactorLoop;

class PendingConnect final : private ChannelHandler {
 public:
  PendingConnect(ReactorLoop& loop, UniqueFd socket, ConnectCallback done);
  ~PendingConnect();
  PendingConnect(const PendingConnect&) = delete;
  PendingConnect& operator=(const PendingConnect&) = delete;

  // Waits for the socket to become writable, once.
  void start();

 private:
  void handleReady(unsigned ready) override;
  void finish(int error);

  ReactorLoop& loop_;
  UniqueFd socket_;
  Channel channel_;
  ConnectCallback done_;
};

}  // namespace duet
