// What a connection's flow-control callbacks reported, for the tests of a
// reader slower than the writer (tests/conformance flow_control, file_send):
// how often onHighWaterMark and onWriteComplete fired, and what the mark saw.
// Atomics: the callbacks run on the server's loop thread, the test reads here.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>

#include "core/connection.h"
#include "core/event_loop.h"
#include "tests/support/server_harness.h"

namespace duet::test {

struct FlowCounts {
  std::atomic<int> highWater{0};
  std::atomic<int> writeComplete{0};
  std::atomic<std::size_t> pendingAtMark{0};  // bytes pending when the mark fired
  std::atomic<int> writeCompleteAtMark{-1};   // writeComplete when the mark fired

  // Sets cb's onHighWaterMark and onWriteComplete to count here; this object
  // must outlive the server.
  void countInto(ConnectionCallbacks& cb) {
    cb.onHighWaterMark = [this](const ConnectionPtr&, std::size_t pending) {
      pendingAtMark = pending;
      writeCompleteAtMark = writeComplete.load();
      ++highWater;
    };
    cb.onWriteComplete = [this](const ConnectionPtr&) { ++writeComplete; };
  }
};

// Connections cut off at the output cap (LoopStats::outputOverflows), summed
// over every loop of the server; read on the server's loop thread.
inline std::uint64_t outputOverflows(ServerHarness& server) {
  std::uint64_t overflows = 0;
  server.runSync([&] {
    for (EventLoop* l : server.server().loops()) overflows += l->stats().outputOverflows.get();
  });
  return overflows;
}

}  // namespace duet::test
