// The resource limits as a user sets them: duet-echo's flags
// (--max-connections, --idle-timeout, --max-output-bytes) on every backend,
// each enforced and each counted in the --stats lines printed at exit.
#include <signal.h>
#include <sys/socket.h>

#include <string>
#include <vector>

#include "tests/conformance/conformance_fixture.h"
#include "tests/support/app_command.h"
#include "tests/support/subprocess.h"

#ifndef DUET_ECHO_PATH
#error "DUET_ECHO_PATH must name the duet-echo binary"
#endif

namespace duet::test {
namespace {

// duet-echo as the tests here run it: quiet but for errors, then `extra`.
std::vector<std::string> echoCommand(const BackendConfig& backend, std::vector<std::string> extra) {
  std::vector<std::string> flags = {"--log-level", "error"};
  flags.insert(flags.end(), extra.begin(), extra.end());
  return appCommand(DUET_ECHO_PATH, backend, flags);
}

// Sum of `key=N` over every "stats loop=..." line.
std::uint64_t statSum(const std::string& out, const std::string& key) {
  std::uint64_t sum = 0;
  const std::string needle = " " + key + "=";
  for (std::size_t at = 0; (at = out.find(needle, at)) != std::string::npos; at += needle.size()) {
    sum += std::strtoull(out.c_str() + at + needle.size(), nullptr, 10);
  }
  return sum;
}

class ResourcePolicyTest : public BackendTest {
 protected:
  InetAddress start(Subprocess& server) {
    const int port = portFromListeningLine(server.waitForLine("listening on"));
    EXPECT_GT(port, 0) << server.err();
    return InetAddress(static_cast<std::uint16_t>(port), true);
  }
  std::string stop(Subprocess& server) {
    server.signal(SIGTERM);
    EXPECT_EQ(server.wait(), 0) << server.err();
    EXPECT_NE(server.out().find("stats loop=main"), std::string::npos) << server.out();
    return server.out();
  }
};

TEST_P(ResourcePolicyTest, MaxConnectionsFlagRefusesAndCounts) {
  Subprocess server(echoCommand(GetParam(), {"--max-connections", "2", "--threads", "2"}));
  const InetAddress addr = start(server);
  RawClient a(addr), b(addr);
  ASSERT_TRUE(a.echo("a"));
  ASSERT_TRUE(b.echo("b"));
  RawClient extra(addr);
  EXPECT_TRUE(extra.waitClosed(5000)) << "the third connection must be closed";
  EXPECT_TRUE(a.echo("still served"));
  a.close();
  b.close();
  extra.close();
  const std::string out = stop(server);
  EXPECT_EQ(statSum(out, "refused"), 1u) << out;
  EXPECT_EQ(statSum(out, "accepted"), 2u) << out;
  EXPECT_EQ(statSum(out, "closed"), 2u) << out;
}

TEST_P(ResourcePolicyTest, IdleTimeoutFlagEvictsAndCounts) {
  Subprocess server(echoCommand(GetParam(), {"--idle-timeout", "0.2"}));
  const InetAddress addr = start(server);
  RawClient idle(addr);
  ASSERT_TRUE(idle.echo("then silence"));
  bool eof = false;
  idle.recvUntilClosed(10000, &eof);
  EXPECT_TRUE(eof) << "an idle connection is closed with a FIN";
  const std::string out = stop(server);
  EXPECT_EQ(statSum(out, "idle_evictions"), 1u) << out;
}

TEST_P(ResourcePolicyTest, MaxOutputBytesFlagDisconnectsANonReaderAndCounts) {
  // 1 MiB cap, below the echo's 4 MiB high-water mark: a client that sends and
  // never reads fills its socket buffers, then the server's output passes the cap.
  Subprocess server(echoCommand(GetParam(), {"--max-output-bytes", "1048576"}));
  const InetAddress addr = start(server);
  RawClient hog(addr);
  const std::string chunk = patternBytes(1 << 20, 3);
  bool cut = false;
  for (int i = 0; i < 256 && !cut; ++i)
    cut = !hog.sendAll(chunk, 2000);  // fails once the server resets us
  EXPECT_TRUE(cut || hog.waitClosed(10000))
      << "the server never disconnected a client that does not read";
  hog.close();
  // Others are unaffected.
  RawClient polite(addr);
  EXPECT_TRUE(polite.echo(patternBytes(200000, 4)));
  polite.close();
  const std::string out = stop(server);
  EXPECT_EQ(statSum(out, "output_overflows"), 1u) << out;
}

TEST_P(ResourcePolicyTest, DefaultOutputCapLeavesAFastEchoAlone) {
  // The 64 MiB default must not cut a client that reads: 16 MiB echoed in full.
  Subprocess server(echoCommand(GetParam(), {}));
  const InetAddress addr = start(server);
  RawClient c(addr);
  EXPECT_TRUE(c.echo(patternBytes(16 << 20, 5), 60000));
  c.close();
  const std::string out = stop(server);
  EXPECT_EQ(statSum(out, "output_overflows"), 0u) << out;
}

DUET_INSTANTIATE_FOR_EVERY_BACKEND(ResourcePolicyTest);

TEST(ResourcePolicyFlags, BadMaxOutputBytesIsOneLineAndExitTwo) {
  Subprocess echo({DUET_ECHO_PATH, "--max-output-bytes", "lots"});
  EXPECT_EQ(echo.wait(), 2);
  EXPECT_NE(echo.err().find("--max-output-bytes"), std::string::npos) << echo.err();
}

}  // namespace
}  // namespace duet::test
