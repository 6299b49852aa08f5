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
// A direct descriptor (LoopOptions::directDescriptors) is no descriptor: it
// is a slot of the sender's fixed-file table, which no other ring can see.
// IORING_MSG_SEND_FD (Linux 6.0) puts the socket in that slot into a free
// slot of the target's table (IORING_FILE_INDEX_ALLOC), and the same
// completion tells the target:
//
//   res        the slot its table gave the socket
//   user_data  kind SlotHandedIn; an IPv4 peer as above; an IPv6 peer (which
//              does not fit, and a slot has no getpeername) by pointer:
//              63      56 55   49 48 47                        0
//              +---------+-------+---+---------------------------+
//              |  kind   |   0   | 0 | InetAddress* (heap; owner: |
//              |         |       |   | the target, or the sender  |
//              |         |       |   | if the message failed)     |
//              +---------+-------+---+---------------------------+
//
// The message copies (there is no "move" flag): the sender still holds its
// slot, and closes it with an IORING_OP_CLOSE hard-linked behind the message,
// so it closes whether the message went or not.
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
inline std::uint64_t encode(const InetAddress& peer, OpKind kind = OpKind::SocketHandedIn) {
  std::uint64_t data = user_data::encode(kind, 0, 0);
  if (peer.isIpv6()) return data;
  const auto* in = reinterpret_cast<const sockaddr_in*>(peer.sockaddrPtr());
  return data | kHasIpv4Peer | (std::uint64_t{in->sin_port} << 32) | in->sin_addr.s_addr;
}

// A slot's hand-off: the IPv4 peer in the message, or `ipv6Peer` (heap) by pointer.
inline std::uint64_t encodeSlot(const InetAddress& peer, const InetAddress* ipv6Peer) {
  if (!ipv6Peer) return encode(peer, OpKind::SlotHandedIn);
  return user_data::encode(OpKind::SlotHandedIn, 0, 0) | reinterpret_cast<std::uintptr_t>(ipv6Peer);
}
// The IPv6 peer a slot's hand-off carried by pointer, or nullptr.
inline InetAddress* ipv6PeerOf(std::uint64_t data) {
  if (data & kHasIpv4Peer) return nullptr;
  return reinterpret_cast<InetAddress*>(
      static_cast<std::uintptr_t>(data & ((std::uint64_t{1} << 48) - 1)));
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

// The same for a slot's hand-off (the slot, in the sender's table).
inline std::uint64_t slotSenderData(std::uint32_t slot) {
  return user_data::encode(OpKind::SlotHandoffSent, 0, slot);
}
// The close hard-linked behind it: always completes, so the sender knows when
// the kernel let go of its slot.
inline constexpr std::uint64_t kSlotHandoffClosed =
    user_data::encode(OpKind::SlotHandoffClosed, 0, 0);

}  // namespace duet::socket_handoff
