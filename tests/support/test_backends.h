// The backend configurations every conformance test runs on. A new backend
// joins the whole suite by adding one entry to testBackends().
#pragma once

#include <gtest/gtest.h>

#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "core/loop_options.h"
#include "core/tcp_server.h"

namespace duet::test {

struct BackendConfig {
  std::string name;  // test-name suffix: "epoll", "epoll_et", "poll", "select", "uring"
  LoopOptions loop;
};

const std::vector<BackendConfig>& testBackends();
// So gtest prints "epoll" rather than the struct's bytes.
inline void PrintTo(const BackendConfig& c, std::ostream* os) { *os << c.name; }

// A threading model for the tests that run across models.
struct ThreadingModel {
  std::string name;  // "single", "main2", "reuseport2"
  int ioThreads;
  AcceptMode acceptMode;
};
const std::vector<ThreadingModel>& testThreadingModels();
inline void PrintTo(const ThreadingModel& m, std::ostream* os) { *os << m.name; }

// How many concurrent client connections a test may open against this backend:
// select watches only descriptors below FD_SETSIZE, and in these tests client
// and server share one process, so both ends count.
int connectionBudget(const BackendConfig& backend, int wanted);

// Why the backend cannot run on this machine (io_uring disabled by sysctl or
// seccomp...), or nullopt if it can. Probed once per configuration.
std::optional<std::string> unavailableReason(const BackendConfig& backend);

// In a test body: skip (not fail) on a machine where the backend cannot run.
#define DUET_SKIP_IF_UNAVAILABLE(config)                                         \
  if (const auto duetWhyUnavailable = ::duet::test::unavailableReason(config)) { \
    GTEST_SKIP() << *duetWhyUnavailable;                                         \
  }

// Why TcpServer refuses `model` on `backend` (EventLoop::handOffRefusal():
// sockets the main acceptor cannot hand to I/O loops), or nullopt if it runs.
// Tests skip such combinations with the reason. No configuration here is
// refused today: io_uring direct descriptors travel by MSG_RING (the
// "uring_direct" config runs every model, main2 included).
std::optional<std::string> modelRefusal(const BackendConfig& backend, const ThreadingModel& model);

std::string backendParamName(const testing::TestParamInfo<BackendConfig>& info);

}  // namespace duet::test
