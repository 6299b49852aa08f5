// Small helpers for the reactor-specific tests: loop options per reactor
// backend, a plain server to run on them, and a way to tell whether a loop
// has gone quiet by its counters.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "core/connection.h"
#include "core/event_loop.h"
#include "core/loop_options.h"
#include "core/tcp_server.h"
#include "tests/support/eventually.h"

namespace duet::reactor_test {

struct ReactorConfig {
  std::string name;
  LoopOptions loop;
};

inline std::vector<ReactorConfig> reactorConfigs() {
  LoopOptions epollLt;
  epollLt.backend = Backend::Epoll;
  LoopOptions epollEt = epollLt;
  epollEt.reactor.edgeTriggered = true;
  LoopOptions poll;
  poll.backend = Backend::Poll;
  LoopOptions select;
  select.backend = Backend::Select;
  return {{"epoll", epollLt}, {"epoll_et", epollEt}, {"poll", poll}, {"select", select}};
}

// A server on 127.0.0.1 at a port the kernel picks; every other option at
// its default.
inline ServerOptions loopbackServer() {
  ServerOptions options;
  options.listen = InetAddress(0, /*loopbackOnly=*/true);
  return options;
}

// Echo that never stops reading (no backpressure, unlike the conformance
// suite's echoCallbacks): what the peer does not take yet waits in the
// connection's output buffer, with write interest on.
inline ConnectionCallbacks plainEchoCallbacks() {
  ConnectionCallbacks cb;
  cb.onMessage = [](const ConnectionPtr& conn, Buffer& in) {
    conn->send(in.view());
    in.retrieveAll();
  };
  return cb;
}

// Waits (bounded) until the loop's system-call count stops moving for a
// while, and returns it. A loop that spins never settles; the caller then
// sees the count move again and fails.
inline std::uint64_t settledSyscalls(const EventLoop& loop) {
  std::uint64_t last = loop.stats().totalSyscalls();
  for (int i = 0; i < 100; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    const std::uint64_t now = loop.stats().totalSyscalls();
    if (now == last) return now;
    last = now;
  }
  return last;
}

using test::eventually;

}  // namespace duet::reactor_test
