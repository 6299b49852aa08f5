// The loop's table of operations in flight, and the user_data that names them.
//
// Why a table rather than a pointer in user_data: a completion can arrive
// after the object that asked for it decided to go away (a cancelled recv, a
// multishot accept's last CQE). A raw pointer would then point at freed memory.
// Instead user_data holds
//
//     63      56 55          32 31                 0
//     +---------+--------------+--------------------+
//     |  kind   |  generation  |     slot index     |
//     +---------+--------------+--------------------+
//
// and the slot holds a shared_ptr to the handler. A slot is freed only by the
// operation's final completion (no IORING_CQE_F_MORE), and its generation is
// bumped then, so a completion whose generation or kind does not match the
// slot is recognised as stale and dropped instead of reaching the wrong object.
//
// Loop thread only. A slot is 24 bytes; an idle connection uses one (its recv).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "proactor/completion.h"

namespace duet {

namespace user_data {

inline constexpr std::uint32_t kGenerationMask = 0xFFFFFF;

constexpr std::uint64_t encode(OpKind kind, std::uint32_t generation, std::uint32_t index) {
  return (std::uint64_t{static_cast<std::uint8_t>(kind)} << 56) |
         (std::uint64_t{generation & kGenerationMask} << 32) | index;
}
constexpr OpKind kindOf(std::uint64_t data) { return static_cast<OpKind>(data >> 56); }
constexpr std::uint32_t generationOf(std::uint64_t data) {
  return static_cast<std::uint32_t>(data >> 32) & kGenerationMask;
}
constexpr std::uint32_t indexOf(std::uint64_t data) { return static_cast<std::uint32_t>(data); }

// Operations whose result nobody needs (cancel requests). Zero on purpose.
inline constexpr std::uint64_t kUntracked = encode(OpKind::Untracked, 0, 0);
// What a wake-up CQE carries: a MSG_RING from another ring or our own NOP.
inline constexpr std::uint64_t kWake = encode(OpKind::Wake, 0, 0);
// What the close of a direct socket's slot carries (UringLoop::closeSlot).
inline constexpr std::uint64_t kSlotClosed = encode(OpKind::SlotClosed, 0, 0);

}  // namespace user_data

class OpTable {
 public:
  // Reserves a slot for an operation about to be submitted; returns the
  // user_data to put in its SQE.
  std::uint64_t add(OpKind kind, std::shared_ptr<CompletionHandler> handler);

  // The handler of a live operation, or nullptr when `userData` is stale.
  CompletionHandler* find(std::uint64_t userData) const;

  // The operation's final completion arrived: frees the slot and hands back
  // the handler reference, so the caller can keep the object alive for the
  // duration of the callback. Empty when `userData` is stale.
  std::shared_ptr<CompletionHandler> release(std::uint64_t userData);

  std::size_t inFlight() const { return inFlight_; }

  // The user_data of every operation in flight.
  std::vector<std::uint64_t> liveOperations() const;
  // The user_data of the operation in slot `index` if it is still the one of
  // `generation`, else 0 (it ended and the slot moved on).
  std::uint64_t liveOperation(std::uint32_t generation, std::uint32_t index) const;

  // Loop teardown: drops every handler reference (objects may die here).
  void clear();

 private:
  struct Slot {
    std::shared_ptr<CompletionHandler> handler;  // empty when free
    std::uint32_t generation = 0;
    OpKind kind = OpKind::Untracked;
  };

  const Slot* live(std::uint64_t userData) const;
  // Debug builds: the free list and the live slots account for every slot.
  void assertConsistent() const;

  std::vector<Slot> slots_;
  std::vector<std::uint32_t> free_;
  std::size_t inFlight_ = 0;
};

}  // namespace duet
