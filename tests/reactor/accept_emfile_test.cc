// Out of descriptors, a level-triggered acceptor is the classic busy loop:
// accept fails with EMFILE, the connection stays in the backlog, the listener
// stays readable, forever. The acceptor must shed those connections through
// its spare descriptor, count the errors, log once per burst, and go quiet.
//
// The test lowers RLIMIT_NOFILE, which is per process, so the server runs in a
// forked child; the parent plays the clients and reads the verdict from the
// child's exit status.
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
#include "reactor/reactor_loop.h"
#include "tests/support/raw_client.h"

namespace duet::reactor_test {
namespace {

constexpr int kClients = 5;

// Child exit codes, so a failure says what went wrong.
enum ChildResult {
  kOk = 0,
  kSetupFailed = 10,
  kAcceptedSomething = 11,
  kTooFewErrors = 12,
  kSpunOnAccept = 13,
  kLoggedTooOften = 14,
};

int runServerChild(int portPipe) {
  const int logFd = ::memfd_create("emfile-log", MFD_CLOEXEC);
  if (logFd < 0 || ::dup2(logFd, STDERR_FILENO) < 0) return kSetupFailed;

  LoopOptions options;
  options.backend = Backend::Epoll;
  ReactorLoop loop(options);
  std::string error;
  UniqueFd listener = sockets::listenTcp(InetAddress(0, /*loopbackOnly=*/true), false, &error);
  if (!listener) return kSetupFailed;
  const std::uint16_t port = sockets::localAddress(listener.get()).port();

  int accepted = 0;
  auto acceptor = loop.createAcceptor(std::move(listener), [&](UniqueFd, const InetAddress&) { ++accepted; });
  acceptor->start();

  // Use up every descriptor the (lowered) limit allows.
  rlimit limit{64, 64};
  rlimit hard{};
  ::getrlimit(RLIMIT_NOFILE, &hard);
  limit.rlim_max = hard.rlim_max;
  if (::setrlimit(RLIMIT_NOFILE, &limit) != 0) return kSetupFailed;
  std::vector<UniqueFd> fillers;
  for (;;) {
    UniqueFd fd(::open("/dev/null", O_RDONLY | O_CLOEXEC));
    if (!fd) break;
    fillers.push_back(std::move(fd));
  }
  if (::write(portPipe, &port, sizeof port) != sizeof port) return kSetupFailed;

  // Run until every client was shed, then 200 ms more: a spinning acceptor
  // would keep calling accept4 during that time.
  std::uint64_t acceptsAtShed = 0;
  bool shed = false;
  const auto giveUp = Clock::now() + std::chrono::seconds(10);
  loop.runEvery(std::chrono::milliseconds(5), [&] {
    if (!shed && loop.stats().acceptErrors.get() >= kClients) {
      shed = true;
      acceptsAtShed = loop.stats().syscalls[static_cast<int>(Syscall::Accept)].get();
      loop.runAfter(std::chrono::milliseconds(200), [&] { loop.quit(); });
    }
    if (Clock::now() > giveUp) loop.quit();
  });
  loop.run();
  const std::uint64_t acceptsAfter = loop.stats().syscalls[static_cast<int>(Syscall::Accept)].get();
  fillers.clear();

  if (accepted != 0) return kAcceptedSomething;
  if (!shed) return kTooFewErrors;
  if (acceptsAfter != acceptsAtShed) return kSpunOnAccept;

  std::string log(1 << 16, '\0');
  const ssize_t n = ::pread(logFd, log.data(), log.size(), 0);
  log.resize(n > 0 ? static_cast<std::size_t>(n) : 0);
  std::size_t lines = 0;
  for (std::size_t at = log.find("Too many open files"); at != std::string::npos;
       at = log.find("Too many open files", at + 1)) {
    ++lines;
  }
  // One line when the burst starts; the recovery line needs a successful accept, which never comes.
  if (lines != 1) return kLoggedTooOften;
  return kOk;
}

TEST(AcceptOutOfDescriptors, ShedsPendingConnectionsLogsOnceAndDoesNotSpin) {
  int ports[2];
  ASSERT_EQ(::pipe2(ports, O_CLOEXEC), 0);
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    ::close(ports[0]);
    ::_exit(runServerChild(ports[1]));
  }
  ::close(ports[1]);
  std::uint16_t port = 0;
  const bool gotPort = ::read(ports[0], &port, sizeof port) == sizeof port;
  ::close(ports[0]);

  if (gotPort) {
    std::vector<test::RawClient> clients;
    for (int i = 0; i < kClients; ++i) {
      clients.emplace_back();
      ASSERT_TRUE(clients.back().connect(InetAddress(port, /*loopbackOnly=*/true)));
    }
    for (auto& client : clients) {
      EXPECT_TRUE(client.waitClosed(5000)) << "a connection that cannot be accepted must be closed, not left hanging";
    }
  }
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFEXITED(status)) << "the server child crashed";
  EXPECT_EQ(WEXITSTATUS(status), kOk) << "see ChildResult in this file";
}

}  // namespace
}  // namespace duet::reactor_test
