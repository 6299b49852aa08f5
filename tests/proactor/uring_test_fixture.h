// Shared pieces of the proactor's own tests: io_uring loop options, a skip
// where io_uring cannot run (with the backend's one-line reason), and the
// descriptor/Connection cleanup check every test ends with.
#pragma once

#include <gtest/gtest.h>

#include <optional>
#include <string>

#include "core/backend.h"
#include "core/connection.h"
#include "core/event_loop.h"
#include "tests/conformance/conformance_fixture.h"
#include "tests/support/fd_count.h"

namespace duet::test {

inline LoopOptions uringOptions() {
  LoopOptions o;
  o.backend = Backend::IoUring;
  return o;
}

// Why a UringLoop with `options` cannot be made here, or nullopt.
inline std::optional<std::string> uringUnavailable(const LoopOptions& options = uringOptions()) {
  try {
    makeEventLoop(options);
  } catch (const BackendUnavailable& e) {
    return std::string(e.what());
  }
  return std::nullopt;
}

#define DUET_SKIP_WITHOUT_URING(options)                                 \
  if (const auto whyNoUring = ::duet::test::uringUnavailable(options)) { \
    GTEST_SKIP() << *whyNoUring;                                         \
  }

class UringTest : public testing::Test {
 protected:
  void SetUp() override {
    DUET_SKIP_WITHOUT_URING(uringOptions());
    baselineFds_ = openFdCount();
  }
  void TearDown() override {
    if (IsSkipped()) return;
    EXPECT_TRUE(waitForCleanup(baselineFds_))
        << "descriptors open: " << openFdCount() << " (baseline " << baselineFds_
        << "), live connections: " << Connection::liveCount();
  }

 private:
  int baselineFds_ = 0;
};

}  // namespace duet::test
