// The kernel's state of one TCP connection, found by its two addresses in
// /proc/net/tcp{,6} rather than through a descriptor: tests use it for server
// sockets they cannot reach by descriptor (io_uring direct descriptors live
// only in the ring's table), and so for every backend alike.
#pragma once

#include "core/inet_address.h"

namespace duet::test {

// TCP_ESTABLISHED, TCP_CLOSE_WAIT... (netinet/tcp.h numbering) of the socket
// whose local address is `local` and whose peer is `peer`, matched by port
// (a test's connections are all on the loopback). TCP_CLOSE when no such
// socket is listed: the kernel unlists a socket as it enters CLOSE (after a
// reset, or once it is closed and done).
int tcpStateByAddress(const InetAddress& local, const InetAddress& peer);

}  // namespace duet::test
