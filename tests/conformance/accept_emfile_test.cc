// Out of descriptors, accept fails with EMFILE and the connection stays in the
// backlog: a level-triggered reactor would spin on the readable listener, a
// proactor whose accept only backs off would leave the client hanging. Every
// backend must do the same thing (core/accept_shedding.h): shed the pending
// connection (the client sees it closed at once), count the error and the
// connection shed, log once per burst, not spin, and accept normally once
// descriptors are back.
//
// RLIMIT_NOFILE is per process, so the server runs in a forked child; the
// parent plays the clients and reads the verdict from the child's exit status.
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "core/acceptor.h"
#include "core/backend.h"
#include "core/socket_ops.h"
#include "tests/conformance/conformance_fixture.h"

namespace duet::test {
namespace {

constexpr int kClients = 5;

// Child exit codes, so a failure says what went wrong.
enum ChildResult {
  kOk = 0,
  kSetupFailed = 10,
  kAcceptedWhileOut = 11,
  kNotShed = 12,
  kSpun = 13,
  kLoggedTooOften = 14,
  kNotRecovered = 15,
  kNotCounted = 16,
};

struct Pipes {
  int port[2];  // child -> parent: the listening port
  int back[2];  // child -> parent: every client was shed and descriptors are free again
};

int runServerChild(const LoopOptions& options, int portPipe, int backPipe) {
  const int logFd = ::memfd_create("emfile-log", MFD_CLOEXEC);
  if (logFd < 0 || ::dup2(logFd, STDERR_FILENO) < 0) return kSetupFailed;

  auto loop = makeEventLoop(options);
  std::string error;
  UniqueFd listener = sockets::listenTcp(InetAddress(0, /*loopbackOnly=*/true), false, &error);
  if (!listener) return kSetupFailed;
  const std::uint16_t port = sockets::localAddress(listener.get()).port();

  std::vector<SocketHandle> accepted;
  auto acceptor = loop->createAcceptor(
      std::move(listener),
      [&](SocketHandle s, const InetAddress&) { accepted.push_back(std::move(s)); });
  acceptor->start();

  // Use up every descriptor the (lowered) limit allows.
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

  // Run until every client was shed, then 200 ms more: an acceptor that spins
  // would keep failing during that time.
  std::uint64_t errorsAtShed = 0;
  bool shed = false;
  const auto giveUp = Clock::now() + std::chrono::seconds(10);
  loop->runEvery(std::chrono::milliseconds(5), [&] {
    if (!shed && loop->stats().acceptShed.get() >= kClients) {
      shed = true;
      errorsAtShed = loop->stats().acceptErrors.get();
      loop->runAfter(std::chrono::milliseconds(200), [&] { loop->quit(); });
    }
    if (Clock::now() > giveUp) loop->quit();
  });
  loop->run();
  const std::uint64_t errorsAfter = loop->stats().acceptErrors.get();
  const std::uint64_t shedCount = loop->stats().acceptShed.get();
  const bool acceptedWhileOut = !accepted.empty();

  // Descriptors back: the next client must be accepted as usual.
  fillers.clear();
  const char back = 1;
  if (::write(backPipe, &back, 1) != 1) return kSetupFailed;
  const auto giveUpAgain = Clock::now() + std::chrono::seconds(10);
  loop->runEvery(std::chrono::milliseconds(5), [&] {
    if (!accepted.empty() || Clock::now() > giveUpAgain) loop->quit();
  });
  loop->run();
  const bool recovered = !accepted.empty();
  acceptor->stop();
  acceptor.reset();

  if (acceptedWhileOut) return kAcceptedWhileOut;
  if (!shed || shedCount != kClients) return kNotShed;
  if (errorsAtShed < kClients) return kNotCounted;
  if (errorsAfter != errorsAtShed) return kSpun;
  if (!recovered) return kNotRecovered;

  std::string log(1 << 16, '\0');
  const ssize_t n = ::pread(logFd, log.data(), log.size(), 0);
  log.resize(n > 0 ? static_cast<std::size_t>(n) : 0);
  std::size_t lines = 0;
  for (auto at = log.find("Too many open files"); at != std::string::npos;
       at = log.find("Too many open files", at + 1)) {
    ++lines;
  }
  if (lines != 1) return kLoggedTooOften;  // one line when the burst starts
  return kOk;
}

class AcceptOutOfDescriptorsTest : public BackendTest {};

TEST_P(AcceptOutOfDescriptorsTest, ShedsPendingConnectionsLogsOnceDoesNotSpinAndRecovers) {
  // (UBSan's vptr check needs free descriptors; the sanitizer build turns it
  // off, see the top-level CMakeLists.txt, so this runs under ASan too.)
  if (loopOptions().uring.directDescriptors == KernelFeature::On) {
    GTEST_SKIP()
        << "direct descriptors need no process descriptor, so EMFILE cannot stop their accepts; "
           "their own limit, a full table, is tested in tests/proactor/direct_descriptors_test.cc";
  }
  Pipes p{};
  ASSERT_EQ(::pipe2(p.port, O_CLOEXEC), 0);
  ASSERT_EQ(::pipe2(p.back, O_CLOEXEC), 0);
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    ::close(p.port[0]);
    ::close(p.back[0]);
    ::_exit(runServerChild(loopOptions(), p.port[1], p.back[1]));
  }
  ::close(p.port[1]);
  ::close(p.back[1]);
  std::uint16_t port = 0;
  const bool gotPort = ::read(p.port[0], &port, sizeof port) == sizeof port;
  ::close(p.port[0]);

  if (gotPort) {
    std::vector<RawClient> clients;
    for (int i = 0; i < kClients; ++i) {
      clients.emplace_back();
      EXPECT_TRUE(clients.back().connect(
          InetAddress(port, /*loopbackOnly=*/true)));  // the kernel completes the handshake
    }
    for (auto& client : clients) {
      EXPECT_TRUE(client.waitClosed(5000))
          << "a connection that cannot be accepted must be closed, not left waiting";
    }
    char back = 0;
    if (::read(p.back[0], &back, 1) == 1) {
      RawClient late;
      EXPECT_TRUE(late.connect(InetAddress(port, true)));
    }
  }
  ::close(p.back[0]);
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  ASSERT_TRUE(gotPort);
  ASSERT_TRUE(WIFEXITED(status)) << "the server child crashed";
  EXPECT_EQ(WEXITSTATUS(status), kOk) << "see ChildResult in this file";
}

DUET_INSTANTIATE_FOR_EVERY_BACKEND(AcceptOutOfDescriptorsTest);

}  // namespace
}  // namespace duet::test
