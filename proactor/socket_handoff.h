// How an accepted socket travels from the accepting loop's ring to an I/O
// loop's ring in one IORING_OP_MSG_RING (UringOptions::msgRingHandoff).
//
// A MSG_RING posts a completion into the target ring that the target never
// asked for: its `res` is a 32-bit value and its `user_data` a 64-bit value,
// both chosen by the sender. So one message carries the whole hand-off:
//
//   res        the socket's descriptor number (one process, one fd table)
//   user_data  63      56 55   49 48  47        32 31            0
//              +---------+-------+---+------------+--------------+
//              |  kind   |   0   | 4 | peer port  | peer IPv4    |
//              +---------+-------+---+------------+--------------+
//              bit 48 ("4") says the peer fits (IPv4); an IPv6 peer does not,
//              and the target asks the socket (getpeername) instead.
//
// Compared with the default (a task in the target's queue, then a wake-up):
// no mutex, no queued std::function, and the message *is* the wake-up. The
// sender does not submit it on its own: it rides on the sender's next
// io_uring_enter, and gets a completion only if it failed (CQE_SKIP_SUCCESS);
// then the socket is still the sender's, and goes by the task queue instead.
#pragma once

#include <netinet/in.h>

#include <cstdint>
#include <optional>

#include "core/inet_address.h"
#include "proactor/op_table.h"

namespace duet::socket_handoff {

inline constexpr std::uint64_t kHasIpv4Peer = std::uint64_t{1} << 48;

// The user_data the target's completion carries.
inline std::uint64_t encode(const InetAddress& peer) {
  std::uint64_t data = user_data::encode(OpKind::SocketHandedIn, 0, 0);
  if (peer.isIpv6()) return data;
  const auto* in = reinterpret_cast<const sockaddr_in*>(peer.sockaddrPtr());
  return data | kHasIpv4Peer | (std::uint64_t{in->sin_port} << 32) | in->sin_addr.s_addr;
}

// The peer, if it travelled in `data`.
inline std::optional<InetAddress> decodePeer(std::uint64_t data) {
  if (!(data & kHasIpv4Peer)) return std::nullopt;
  sockaddr_in in{};
  in.sin_family = AF_INET;
  in.sin_port = static_cast<std::uint16_t>(data >> 32);  // network order, as sent
  in.sin_addr.s_addr = static_cast<std::uint32_t>(data);
  return InetAddress(in);
}

// The sender's own user_data for the MSG_RING: it names the socket, so a
// failure completion says which socket did not go.
inline std::uint64_t senderData(int fd) {
  return user_data::encode(OpKind::SocketHandoffSent, 0, static_cast<std::uint32_t>(fd));
}
inline int fdOfSenderData(std::uint64_t data) { return static_cast<int>(user_data::indexOf(data)); }

}  // namespace duet::socket_handoff
