// Closing a connection while a SEND_ZC's notification is still to come
// (issue 11, 2.9). The notification says the kernel let go of our pages; it
// comes only once the peer has acknowledged the bytes, so for a peer that
// stopped reading (or died) it may never come. The socket must still get
// closed within a bound, and the send's Buffer kept until the notification.
//
// Deterministic: the client has a tiny receive buffer and never reads, so the
// server's 8 MiB zero-copy send stays in its socket, unacknowledged. The
// client asks for the close only after bytes arrived, so the send is in the
// kernel by then. Nothing here reads the client's socket: reading would let
// the bytes flow and the notification come.
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <string>

#include "proactor/uring_connection.h"
#include "tests/proactor/uring_test_fixture.h"

namespace duet::test {
namespace {

// Run with plain and with direct descriptors: a direct one has no fd to set
// SO_LINGER on, so its reset goes through the ring (SOCKET_URING_OP_SETSOCKOPT).
class ZeroCopyCloseTest : public UringTest, public testing::WithParamInterface<bool> {
 protected:
  LoopOptions options() const {
    LoopOptions o = uringOptions();
    if (GetParam()) o.uring.directDescriptors = KernelFeature::On;
    return o;
  }
  void TearDown() override {
    UringConnection::setZeroCopyLingerForTesting(UringConnection::kZeroCopyLinger);
    UringTest::TearDown();
  }
};

TEST_P(ZeroCopyCloseTest, ClosingWithANotificationOutstandingClosesTheSocketWithinABound) {
  LoopOptions o = options();
  DUET_SKIP_WITHOUT_URING(o);
  UringConnection::setZeroCopyLingerForTesting(std::chrono::milliseconds(200));
  o.uring.sendZeroCopyThreshold = 4096;
  ConnectionCallbacks cb;
  cb.onConnection = [](const ConnectionPtr& c) {
    if (c->connected()) c->send(std::string(8 << 20, 'z'));
  };
  cb.onMessage = [](const ConnectionPtr& c, Buffer& in) {
    in.retrieveAll();
    c->forceClose();
  };
  {
    ServerHarness server(o, testServerOptions(), cb);
    ASSERT_TRUE(server.ok()) << server.error();

    UniqueFd client(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    ASSERT_TRUE(client);
    const int small = 4096;
    ASSERT_EQ(::setsockopt(client.get(), SOL_SOCKET, SO_RCVBUF, &small, sizeof small), 0);
    ASSERT_EQ(::connect(client.get(), server.address().sockaddrPtr(), server.address().length()),
              0);

    // The send is in the kernel once its first bytes are here (peeked, not read).
    pollfd in{client.get(), POLLIN, 0};
    ASSERT_EQ(::poll(&in, 1, 5000), 1);
    ASSERT_EQ(::send(client.get(), "x", 1, MSG_NOSIGNAL), 1);  // "close now"

    // The server must let go of the socket (an abortive close once the bound
    // has passed: the bytes could never be delivered): we see a reset.
    pollfd hup{client.get(), POLLRDHUP, 0};
    int ready = 0;
    EXPECT_TRUE(eventually(
        [&] {
          ready = ::poll(&hup, 1, 0);
          return ready == 1 && (hup.revents & (POLLHUP | POLLERR | POLLRDHUP));
        },
        10000))
        << "the socket stayed open, waiting for a notification that cannot come";
    EXPECT_TRUE(eventually([] { return Connection::liveCount() == 0; }, 5000))
        << "the connection was not released after its notification";
  }
}

INSTANTIATE_TEST_SUITE_P(Descriptors, ZeroCopyCloseTest, testing::Bool(),
                         [](const testing::TestParamInfo<bool>& p) {
                           return p.param ? "direct" : "plain";
                         });

}  // namespace
}  // namespace duet::test
