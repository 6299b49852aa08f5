// UringConnector: one asynchronous connect (IORING_OP_CONNECT).
//
// It owns what the operation needs for as long as it is in flight (the
// socket, the address the kernel reads, the callback) and is itself kept
// alive by the loop's OpTable until the completion. `done` therefore always
// runs later, on the loop, never inside UringLoop::connect().
#pragma once

#include <memory>

#include "core/event_loop.h"
#include "proactor/completion.h"

namespace duet {

class UringLoop;

class UringConnector final : public CompletionHandler,
                             public std::enable_shared_from_this<UringConnector> {
 public:
  static void start(UringLoop& loop, UniqueFd socket, const InetAddress& server,
                    ConnectCallback done);

  UringConnector(UringLoop& loop, UniqueFd socket, const InetAddress& server, ConnectCallback done);
  void onCompletion(OpKind kind, const Completion& completion) override;

 private:
  void submitConnect();
  void finish(int error);

  UringLoop& loop_;
  UniqueFd socket_;
  const InetAddress server_;
  ConnectCallback done_;
  bool polling_ = false;  // waiting for writability after EINPROGRESS
};

}  // namespace duet
