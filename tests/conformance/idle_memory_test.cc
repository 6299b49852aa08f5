// What an idle connection costs the server in memory, on every backend.
//
// The budget is 1 KiB of resident memory per idle connection (issue 12: a
// server holding 10,000 mostly idle connections should not need 10 MiB of
// user memory for them; the kernel's socket buffers are not ours to count).
// duet-compare measures it on the real apps with 10,000 connections ("RSS per
// idle connection"); this test holds the engine to it on every backend, the
// same way: the process's resident memory before and after a batch of
// connections that each made one round trip and then went quiet.
//
// Why a warm-up batch first: the first connections also warm what every later
// connection shares (the loop's spare Buffers, the server's connection table,
// malloc's arenas). The measured batch then adds only what each connection
// keeps for itself. The clients are plain descriptors (RawClient holds an int),
// so the delta is the server's.
#include <unistd.h>

#include <cstdio>
#include <vector>

#include "tests/conformance/conformance_fixture.h"

namespace duet::test {
namespace {

// Resident bytes of this process (/proc/self/statm's second field, in pages).
long residentBytes() {
  std::FILE* f = std::fopen("/proc/self/statm", "r");
  if (!f) return -1;
  long sizePages = 0, residentPages = 0;
  const int got = std::fscanf(f, "%ld %ld", &sizePages, &residentPages);
  std::fclose(f);
  return got == 2 ? residentPages * sysconf(_SC_PAGESIZE) : -1;
}

// Runs in the child of a death test: a fresh process, so memory other tests
// freed (still resident, reused without growing RSS) cannot hide the cost.
// Exits 0 within the budget, 1 over it, 2 if the server could not be set up.
[[noreturn]] void measureIdleConnectionsAndExit(const BackendConfig& config, long budgetBytes) {
  auto fail = [](const char* why) {
    std::fprintf(stderr, "set-up failed: %s\n", why);
    std::_Exit(2);
  };
  ServerHarness server(config.loop, testServerOptions(), echoCallbacks());
  if (!server.ok()) fail(server.error().c_str());
  // Two descriptors per connection in this process (client and server side),
  // and room for the loop's own: select stops at FD_SETSIZE.
  std::size_t measured = 1000;
  std::optional<int> limit;
  server.runSync([&] { limit = server.loop().descriptorLimit(); });
  if (limit) measured = std::min(measured, static_cast<std::size_t>((*limit - 128) / 2) * 4 / 5);
  const std::size_t warmup = measured / 4;

  std::vector<RawClient> clients;
  clients.reserve(warmup + measured);  // no growth of our own inside the window
  auto openIdle = [&](std::size_t n) {
    for (std::size_t i = 0; i < n; ++i) {
      clients.emplace_back(server.address());
      if (!clients.back().echo("one round trip, then quiet")) fail("an echo did not come back");
    }
    if (!eventually([&] { return server.server().connectionCount() == clients.size(); })) {
      fail("the server did not count every connection");
    }
  };
  openIdle(warmup);
  const long before = residentBytes();
  openIdle(measured);
  const long after = residentBytes();
  if (before <= 0 || after <= 0) fail("no /proc/self/statm");
  const long perConnection = (after - before) / static_cast<long>(measured);
  std::fprintf(stderr, "%ld resident bytes per idle connection (%zu connections, budget %ld)\n",
               perConnection, measured, budgetBytes);
  std::_Exit(perConnection <= budgetBytes ? 0 : 1);
}

class IdleMemoryTest : public BackendTest {};

TEST_P(IdleMemoryTest, AnIdleConnectionCostsTheServerAtMostOneKibOfResidentMemory) {
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
  GTEST_SKIP() << "a sanitizer's redzones and shadow memory are not the engine's memory";
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
  GTEST_SKIP() << "a sanitizer's redzones and shadow memory are not the engine's memory";
#endif
#endif
  GTEST_FLAG_SET(death_test_style, "threadsafe");  // the child re-runs this test alone
  EXPECT_EXIT(measureIdleConnectionsAndExit(GetParam(), 1024), testing::ExitedWithCode(0),
              "resident bytes per idle connection");
}

DUET_INSTANTIATE_FOR_EVERY_BACKEND(IdleMemoryTest);

}  // namespace
}  // namespace duet::test
