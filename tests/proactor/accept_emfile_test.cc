// Out of descriptors, the multishot accept completes with EMFILE. The
// acceptor must count it, log once per burst, wait a little before arming the
// accept again (never spin), and accept the waiting connections once
// descriptors are free again.
//
// RLIMIT_NOFILE is per process, so the server runs in a forked child; the
// parent plays the clients and reads the verdict from the exit status.
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "core/acceptor.h"
#include "core/socket_ops.h"
#include "tests/proactor/uring_test_fixture.h"
#include "tests/support/raw_client.h"

namespace duet::test {
namespace {

constexpr int kClients = 5;

enum ChildResult {
  kOk = 0,
  kSetupFailed = 10,
  kNoErrors = 11,
  kSpun = 12,
  kLoggedTooOften = 13,
  kNotRecovered = 14,
  kAcceptedWhileOut = 15,
};

int runServerChild(int portPipe, int goPipe) {
  const int logFd = ::memfd_create("emfile-log", MFD_CLOEXEC);
  if (logFd < 0 || ::dup2(logFd, STDERR_FILENO) < 0) return kSetupFailed;

  auto loop = makeEventLoop(uringOptions());
  std::string error;
  UniqueFd listener = sockets::listenTcp(InetAddress(0, true), false, &error);
  if (!listener) return kSetupFailed;
  const std::uint16_t port = sockets::localAddress(listener.get()).port();

  std::vector<UniqueFd> accepted;
  auto acceptor = loop->createAcceptor(std::move(listener),
                                       [&](UniqueFd fd, const InetAddress&) { accepted.push_back(std::move(fd)); });
  acceptor->start();

  rlimit hard{};
  ::getrlimit(RLIMIT_NOFILE, &hard);
  rlimit limit{64, hard.rlim_max};
  if (::setrlimit(RLIMIT_NOFILE, &limit) != 0) return kSetupFailed;
  std::vector<UniqueFd> fillers;
  for (;;) {
    UniqueFd fd(::open("/dev/null", O_RDONLY | O_CLOEXEC));
    if (!fd) break;
    fillers.push_back(std::move(fd));
  }
  if (::write(portPipe, &port, sizeof port) != sizeof port) return kSetupFailed;
  char go = 0;
  if (::read(goPipe, &go, 1) != 1) return kSetupFailed;  // the clients are connected

  // Out of descriptors for 300 ms: a spinning acceptor would fail thousands of
  // times; one that backs off fails a few times (one per back-off period).
  loop->runAfter(std::chrono::milliseconds(300), [&] { loop->quit(); });
  loop->run();
  const std::uint64_t errors = loop->stats().acceptErrors.get();
  const bool acceptedWhileOut = !accepted.empty();

  // Descriptors back: the waiting connections must now be accepted.
  fillers.clear();
  const auto giveUp = Clock::now() + std::chrono::seconds(10);
  loop->runEvery(std::chrono::milliseconds(5), [&] {
    if (accepted.size() >= kClients || Clock::now() > giveUp) loop->quit();
  });
  loop->run();

  acceptor->stop();
  acceptor.reset();
  if (errors == 0) return kNoErrors;
  if (errors > 100) return kSpun;
  if (acceptedWhileOut) return kAcceptedWhileOut;
  if (accepted.size() < kClients) return kNotRecovered;

  std::string log(1 << 16, '\0');
  const ssize_t n = ::pread(logFd, log.data(), log.size(), 0);
  log.resize(n > 0 ? static_cast<std::size_t>(n) : 0);
  std::size_t lines = 0;
  for (auto at = log.find("Too many open files"); at != std::string::npos; at = log.find("Too many open files", at + 1)) {
    ++lines;
  }
  if (lines != 1) return kLoggedTooOften;
  return kOk;
}

TEST(UringAcceptOutOfDescriptors, BacksOffLogsOnceAndRecovers) {
  DUET_SKIP_WITHOUT_URING(uringOptions());
  // (UBSan's vptr check needs free descriptors; the sanitizer build turns it
  // off, see the top-level CMakeLists.txt, so this runs under ASan too.)
  int ports[2];
  int gos[2];
  ASSERT_EQ(::pipe2(ports, O_CLOEXEC), 0);
  ASSERT_EQ(::pipe2(gos, O_CLOEXEC), 0);
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    ::close(ports[0]);
    ::close(gos[1]);
    ::_exit(runServerChild(ports[1], gos[0]));
  }
  ::close(ports[1]);
  ::close(gos[0]);
  std::uint16_t port = 0;
  const bool gotPort = ::read(ports[0], &port, sizeof port) == sizeof port;
  ::close(ports[0]);

  std::vector<RawClient> clients;
  if (gotPort) {
    for (int i = 0; i < kClients; ++i) {
      clients.emplace_back();
      EXPECT_TRUE(clients.back().connect(InetAddress(port, true), 2000));  // the kernel completes the handshake
    }
  }
  const char go = 1;
  EXPECT_EQ(::write(gos[1], &go, 1), 1);
  ::close(gos[1]);

  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  ASSERT_TRUE(gotPort);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), kOk) << "see ChildResult";
}

}  // namespace
}  // namespace duet::test
