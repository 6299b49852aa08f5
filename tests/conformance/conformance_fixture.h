// The base of every conformance test: one parameter per backend configuration
// (tests/support/test_backends.h), a skip where the backend cannot run, and a
// check at the end that every descriptor and Connection the test caused is gone.
#pragma once

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <thread>
#include <tuple>

#include "apps/common/api_style.h"
#include "core/connection.h"
#include "core/coro/serve.h"
#include "core/coro/spawn.h"
#include "core/tcp_server.h"
#include "tests/support/eventually.h"
#include "tests/support/fd_count.h"
#include "tests/support/raw_client.h"
#include "tests/support/server_harness.h"
#include "tests/support/test_backends.h"

namespace duet::test {

inline ServerOptions testServerOptions(int ioThreads = 0, AcceptMode mode = AcceptMode::MainLoop) {
  ServerOptions o;
  o.listen = InetAddress(0, /*loopbackOnly=*/true);
  o.ioThreads = ioThreads;
  o.acceptMode = mode;
  o.drainTimeout = std::chrono::seconds(3);
  o.name = "test";
  return o;
}

// Echo with backpressure, as duet-echo does it.
inline ConnectionCallbacks echoCallbacks() {
  ConnectionCallbacks cb;
  cb.onMessage = [](const ConnectionPtr& conn, Buffer& in) {
    conn->send(in.view());
    in.retrieveAll();
  };
  cb.onHighWaterMark = [](const ConnectionPtr& conn, std::size_t) { conn->stopReading(); };
  cb.onWriteComplete = [](const ConnectionPtr& conn) {
    if (!conn->isReading()) conn->startReading();
  };
  return cb;
}

// The same echo as a coroutine (apps/echo/echo_coroutine.h is duet-echo's).
inline coro::Task<void> coroutineEcho(coro::Stream conn) {
  for (;;) {
    const coro::IoStatus got = co_await conn.read();
    if (got != coro::IoStatus::Ok) break;
    const coro::IoStatus sent = co_await conn.write(std::move(conn.input()));
    if (sent != coro::IoStatus::Ok) break;
  }
}

// The echo written with either application API.
inline ConnectionCallbacks echoCallbacks(app::ApiStyle api) {
  return api == app::ApiStyle::Callbacks ? echoCallbacks() : coro::serve(coroutineEcho);
}

// Checks cleanup at the end of each test: the harness is gone by then.
// Descriptors, Connection objects, and spawned coroutine frames (a frame left
// suspended forever would hold its connection too).
class CleanupChecker {
 public:
  void begin() { baselineFds_ = openFdCount(); }
  void end() {
    EXPECT_TRUE(waitForCleanup(baselineFds_))
        << "descriptors open: " << openFdCount() << " (baseline " << baselineFds_
        << "), live connections: " << Connection::liveCount();
    EXPECT_TRUE(eventually([] { return coro::liveSpawnedCount() == 0; }))
        << "coroutines not ended: " << coro::liveSpawnedCount();
  }

 private:
  int baselineFds_ = 0;
};

class BackendTest : public testing::TestWithParam<BackendConfig> {
 protected:
  void SetUp() override {
    DUET_SKIP_IF_UNAVAILABLE(GetParam());
    cleanup_.begin();
  }
  void TearDown() override {
    if (!IsSkipped()) cleanup_.end();
  }
  const LoopOptions& loopOptions() const { return GetParam().loop; }
  std::unique_ptr<ServerHarness> startServer(ConnectionCallbacks cb,
                                             ServerOptions o = testServerOptions()) {
    auto h = std::make_unique<ServerHarness>(loopOptions(), std::move(o), std::move(cb));
    EXPECT_TRUE(h->ok()) << h->error();
    return h;
  }

 private:
  CleanupChecker cleanup_;
};

using BackendAndModel = std::tuple<BackendConfig, ThreadingModel>;

class BackendModelTest : public testing::TestWithParam<BackendAndModel> {
 protected:
  void SetUp() override {
    DUET_SKIP_IF_UNAVAILABLE(backend());
    if (const auto refusal = modelRefusal(backend(), model())) GTEST_SKIP() << *refusal;
    cleanup_.begin();
  }
  void TearDown() override {
    if (!IsSkipped()) cleanup_.end();
  }
  const BackendConfig& backend() const { return std::get<0>(GetParam()); }
  const ThreadingModel& model() const { return std::get<1>(GetParam()); }
  ServerOptions options() const { return testServerOptions(model().ioThreads, model().acceptMode); }
  std::unique_ptr<ServerHarness> startServer(ConnectionCallbacks cb, ServerOptions o) {
    auto h = std::make_unique<ServerHarness>(backend().loop, std::move(o), std::move(cb));
    EXPECT_TRUE(h->ok()) << h->error();
    return h;
  }

 private:
  CleanupChecker cleanup_;
};

// For the tests that hold for both application APIs (callbacks and
// coroutines): every backend, each API.
using BackendAndApi = std::tuple<BackendConfig, app::ApiStyle>;

class BackendApiTest : public testing::TestWithParam<BackendAndApi> {
 protected:
  void SetUp() override {
    DUET_SKIP_IF_UNAVAILABLE(backend());
    cleanup_.begin();
  }
  void TearDown() override {
    if (!IsSkipped()) cleanup_.end();
  }
  const BackendConfig& backend() const { return std::get<0>(GetParam()); }
  app::ApiStyle api() const { return std::get<1>(GetParam()); }
  // The echo, in this test's API.
  ConnectionCallbacks echo() const { return echoCallbacks(api()); }
  std::unique_ptr<ServerHarness> startServer(ConnectionCallbacks cb,
                                             ServerOptions o = testServerOptions()) {
    auto h = std::make_unique<ServerHarness>(backend().loop, std::move(o), std::move(cb));
    EXPECT_TRUE(h->ok()) << h->error();
    return h;
  }

 private:
  CleanupChecker cleanup_;
};

inline std::string backendApiName(const testing::TestParamInfo<BackendAndApi>& info) {
  return std::get<0>(info.param).name + "_" +
         std::string(app::apiStyleName(std::get<1>(info.param)));
}

inline std::string backendModelName(const testing::TestParamInfo<BackendAndModel>& info) {
  return std::get<0>(info.param).name + "_" + std::get<1>(info.param).name;
}

#define DUET_INSTANTIATE_FOR_EVERY_BACKEND(Suite)                                            \
  INSTANTIATE_TEST_SUITE_P(Backends, Suite, testing::ValuesIn(::duet::test::testBackends()), \
                           ::duet::test::backendParamName)

#define DUET_INSTANTIATE_FOR_EVERY_BACKEND_AND_API(Suite)                                        \
  INSTANTIATE_TEST_SUITE_P(BackendsAndApis, Suite,                                               \
                           testing::Combine(testing::ValuesIn(::duet::test::testBackends()),     \
                                            testing::Values(::duet::app::ApiStyle::Callbacks,    \
                                                            ::duet::app::ApiStyle::Coroutines)), \
                           ::duet::test::backendApiName)

#define DUET_INSTANTIATE_FOR_EVERY_BACKEND_AND_MODEL(Suite)                     \
  INSTANTIATE_TEST_SUITE_P(                                                     \
      BackendsAndModels, Suite,                                                 \
      testing::Combine(testing::ValuesIn(::duet::test::testBackends()),         \
                       testing::ValuesIn(::duet::test::testThreadingModels())), \
      ::duet::test::backendModelName)

}  // namespace duet::test
