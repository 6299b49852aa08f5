#include "tests/support/send_while_held.h"

#include <linux/sockios.h>
#include <sys/ioctl.h>

#include <atomic>
#include <memory>

#include "tests/conformance/conformance_fixture.h"

namespace duet::test {
namespace {

// Bytes written on `fd` that its peer has not acknowledged yet (sent or not):
// 0 means they all sit in the peer's receive queue. -1 if the kernel won't say.
int unacknowledgedBytes(int fd) {
  int n = 0;
  return ::ioctl(fd, SIOCOUTQ, &n) == 0 ? n : -1;
}

}  // namespace

bool sendAllWhileLoopHeld(ServerHarness& server, std::vector<RawClient>& clients,
                          const std::vector<std::string>& payloads, std::string* why) {
  auto fail = [&](std::string reason) {
    if (why) *why = std::move(reason);
    return false;
  };
  // Two loop iterations first: every accepted connection's first read has
  // been handed to the kernel (io_uring) or registered (reactor).
  server.runSync([] {});
  server.runSync([] {});

  // Shared with the task, which may outlive this call if the loop is slow
  // to pick it up after a failure.
  struct Hold {
    std::atomic<bool> held{false};
    std::atomic<bool> release{false};
  };
  auto hold = std::make_shared<Hold>();
  server.loop().queueInLoop([hold] {
    hold->held = true;
    eventually([&] { return hold->release.load(); }, 20000);
  });
  if (!eventually([&] { return hold->held.load(); })) {
    hold->release = true;
    return fail("the loop never ran the holding task");
  }

  std::string problem;
  for (std::size_t i = 0; i < clients.size() && problem.empty(); ++i) {
    if (!clients[i].sendAll(payloads[i]))
      problem = "client " + std::to_string(i) + " could not send while the loop was held";
  }
  if (problem.empty()) {
    const bool allInServerSockets = eventually([&] {
      for (const RawClient& c : clients) {
        if (unacknowledgedBytes(c.fd()) != 0) return false;
      }
      return true;
    });
    if (!allInServerSockets)
      problem = "the server's sockets did not acknowledge every byte while the loop was held";
  }
  hold->release = true;
  return problem.empty() || fail(problem);
}

}  // namespace duet::test
