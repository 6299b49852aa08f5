// The raw baselines (bench/baselines) echo every byte exactly, in every mode
// duet-compare can start them in, and so does the thread-per-connection one. duet-load checks each
// echoed byte; a baseline that loses, reorders or corrupts data shows up as a mismatch. Counts
// only, never speed: the machine is shared.
#include <gtest/gtest.h>
#include <signal.h>

#include <optional>
#include <string>
#include <vector>

#include "tests/baselines/load_output.h"
#include "tests/baselines/load_shapes.h"
#include "tests/support/subprocess.h"

#ifndef DUET_LOAD_PATH
#error "DUET_LOAD_PATH must name the duet-load binary"
#endif
#ifndef DUET_RAW_EPOLL_PATH
#error "DUET_RAW_EPOLL_PATH must name the duet-raw-epoll binary"
#endif
#ifndef DUET_RAW_URING_PATH
#error "DUET_RAW_URING_PATH must name the duet-raw-uring binary"
#endif
#ifndef DUET_THREAD_ECHO_PATH
#error "DUET_THREAD_ECHO_PATH must name the duet-thread-echo binary"
#endif

namespace duet::test {
namespace {

struct Mode {
  std::string name;
  const char* binary;
  std::vector<std::string> flags;
};

std::ostream& operator<<(std::ostream& os, const Mode& m) { return os << m.name; }

class RawBaseline : public ::testing::TestWithParam<Mode> {};

// The shapes the benchmark measures, scaled down: one connection ping-pong,
// many small connections, pipelined 16 KiB, 256 KiB messages (larger than a
// provided buffer, so they span several buffers and partial sends), and
// connection churn.
TEST_P(RawBaseline, EchoesEveryByteUnderLoad) {
  const Mode& mode = GetParam();
  std::vector<std::string> argv = {mode.binary, "--port", "0", "--stats"};
  argv.insert(argv.end(), mode.flags.begin(), mode.flags.end());
  Subprocess server(argv);
  const std::string listening = server.waitForLine("listening on", 10000);
  if (listening.empty()) {
    // Exit status 2 with one line: the kernel lacks what this mode needs.
    const int status = server.wait(5000);
    if (status == 2) GTEST_SKIP() << server.err();
    FAIL() << "server did not start (status " << status << "): " << server.err();
  }
  const std::string port = listening.substr(listening.find_last_of(' ') + 1);

  const std::vector<LoadShape> shapes = {
      {"-c", "1", "-s", "128"},
      {"-c", "200", "-s", "128", "-k", "2"},
      {"-c", "8", "-s", "16384", "-k", "16"},
      {"-c", "3", "-s", "262144", "-k", "2"},
      {"-c", "4", "-s", "128", "--churn"},  // connect, one echo, close: accept and close paths
  };
  ASSERT_NO_FATAL_FAILURE(
      runEachShape(port, {}, shapes, [](const LoadShape& shape, const std::string& line) {
        // Not "messages > 0": on a busy machine a 0.1 s window may close before a
        // 256 KiB round trip does. The drain below still has every echo answered.
        if (shape.back() != "--churn") {
          EXPECT_EQ(num(line, "connected"), std::stod(shape[1])) << line;
        }
        EXPECT_EQ(num(line, "mismatches"), 0) << line;
        EXPECT_EQ(num(line, "errors"), 0) << line;
        EXPECT_EQ(num(line, "connect_errors"), 0) << line;
        EXPECT_EQ(num(line, "drain_timeouts"), 0) << line;
      }));
  server.signal(SIGTERM);
  EXPECT_EQ(server.wait(10000), 0) << server.err();
  // duet-load waited for every echo before closing: the server sent back
  // exactly what it received, and that was something.
  const std::string& stats = server.out();
  ASSERT_NE(stats.find("stats loop=raw"), std::string::npos) << stats;
  const double in = statsNumber(stats, "bytes_in"), out = statsNumber(stats, "bytes_out");
  EXPECT_GT(in, 0) << stats;
  EXPECT_EQ(in, out) << stats;
  EXPECT_GT(statsNumber(stats, "accepted"), 0) << stats;  // duet-compare counts churn by it
}

// The default and each switch flipped from it (so both sides of every
// switch run; the default is incremental buffers, vectored send and no-iowait
// on; bundles replace incremental buffers when those are off), plus
// tiny buffer rings that run out under the
// 16 KiB and 256 KiB shapes: the recv re-arms after ENOBUFS, and a peer with
// more queued than its share (an eighth of the ring) is paused and resumed.
INSTANTIATE_TEST_SUITE_P(
    Modes, RawBaseline,
    ::testing::Values(
        Mode{"epoll", DUET_RAW_EPOLL_PATH, {}},
        Mode{"thread", DUET_THREAD_ECHO_PATH, {}},  // one blocking thread per connection
        Mode{"uring", DUET_RAW_URING_PATH, {}},
        Mode{"uring_coop", DUET_RAW_URING_PATH, {"--taskrun", "coop"}},
        Mode{"uring_plain", DUET_RAW_URING_PATH, {"--taskrun", "plain"}},
        Mode{"uring_bundle",
             DUET_RAW_URING_PATH,
             {"--recv-bundle", "on"}},  // turns incremental buffers off
        Mode{"uring_noinc",
             DUET_RAW_URING_PATH,
             {"--buffer-ring-inc", "off"}},  // 16 KiB buffers, bundles
        Mode{"uring_novectored", DUET_RAW_URING_PATH, {"--vectored-send", "off"}},
        Mode{"uring_direct", DUET_RAW_URING_PATH, {"--direct-fds", "on"}},
        Mode{"uring_ringfd", DUET_RAW_URING_PATH, {"--register-ring-fd", "on"}},
        Mode{"uring_iowait", DUET_RAW_URING_PATH, {"--no-iowait", "off"}},
        Mode{"uring_tinyring",
             DUET_RAW_URING_PATH,
             {"--recv-bundle", "off", "--buffer-ring-inc", "off", "--buf-count", "8"}},
        Mode{"uring_tinyring_bundle",
             DUET_RAW_URING_PATH,
             {"--recv-bundle", "on", "--buffer-ring-inc", "off", "--buf-count", "8",
              "--vectored-send", "on"}},
        Mode{"uring_tinyring_inc",
             DUET_RAW_URING_PATH,
             {"--recv-bundle", "off", "--buffer-ring-inc", "on", "--buf-count", "4", "--buf-size",
              "32768"}}),
    [](const ::testing::TestParamInfo<Mode>& p) { return p.param.name; });

// Two switches that exclude each other, or a bad value, are refused with one
// line and exit status 2, before anything listens.
TEST(RawUringFlags, RefusesBundleWithIncrementalBuffers) {
  Subprocess server(
      {DUET_RAW_URING_PATH, "--port", "0", "--recv-bundle", "on", "--buffer-ring-inc", "on"});
  const int status = server.wait(5000);
  EXPECT_EQ(status, 2) << server.err();
  EXPECT_EQ(server.out().find("listening"), std::string::npos) << server.out();
  EXPECT_NE(server.err().find("raw-uring: "), std::string::npos) << server.err();
}

}  // namespace
}  // namespace duet::test
