// Where duet-load's client sockets come from: with a loopback target, each new
// socket is bound to the next of many loopback source addresses.
//
// Why: the side that closes a TCP connection first keeps its 4-tuple in
// TIME_WAIT for 60 s. In churn mode (connect, one request, close) and when
// connections are reopened every slice, duet-load closes first, so every
// cycle leaves one TIME_WAIT on the client side. One source address gives
// about 28,000 ephemeral ports per server port (net.ipv4.ip_local_port_range);
// at tens of thousands of cycles a second they run out unless the kernel may
// reuse a TIME_WAIT tuple (tcp_tw_reuse, loopback only, after 1 s). Spread
// over 254 source addresses the tuples number ~7 million, more than the
// kernel keeps in TIME_WAIT at all (net.ipv4.tcp_max_tw_buckets; past it a
// closing socket skips TIME_WAIT), so the ports cannot run out whatever the
// sysctls say. The close stays a normal FIN: the server sees what a real
// client's close looks like (see README, "Connection churn").
//
// All of 127.0.0.0/8 is routed to `lo` on Linux, so 127.42.0.1 ... 127.42.0.254
// need no configuration. IP_BIND_ADDRESS_NO_PORT makes bind() fix only the
// address and leave the port to connect(), which picks it by the whole
// 4-tuple (bind() alone would pick a port unique to the address).
#pragma once

#include <netinet/in.h>

#include <cstdint>

namespace duetload {

class SourceAddresses {
 public:
  // Spreads only if `target` is a loopback address; otherwise bindNext()
  // does nothing and the kernel picks the source as usual.
  explicit SourceAddresses(in_addr target);

  // Binds `fd` (a new, unconnected TCP socket) to the next source address.
  // If the first bind fails (an unusual network setup), says so once on
  // stderr and stops spreading; the connect then goes ahead unbound.
  void bindNext(int fd);

  bool spreading() const { return spreading_; }

 private:
  static constexpr uint32_t kCount = 254;
  bool spreading_ = false;
  uint32_t next_ = 0;
};

}  // namespace duetload
