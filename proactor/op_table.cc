#include "proactor/op_table.h"

#include <cassert>
#include <utility>

namespace duet {

const char* opKindName(OpKind kind) {
  switch (kind) {
    case OpKind::Untracked:
      return "untracked";
    case OpKind::Wake:
      return "wake";
    case OpKind::WakeRead:
      return "wake-read";
    case OpKind::MsgRingSent:
      return "msg-ring";
    case OpKind::LostCheck:
      return "lost-check";
    case OpKind::Accept:
      return "accept";
    case OpKind::AcceptReady:
      return "accept-ready";
    case OpKind::Recv:
      return "recv";
    case OpKind::Send:
      return "send";
    case OpKind::Connect:
      return "connect";
    case OpKind::SocketHandedIn:
      return "socket-handed-in";
    case OpKind::SocketHandoffSent:
      return "socket-handoff";
    case OpKind::FileRead:
      return "file-read";
    case OpKind::AcceptDirect:
      return "accept-direct";
    case OpKind::SlotHandedIn:
      return "slot-handed-in";
    case OpKind::SlotHandoffSent:
      return "slot-handoff";
    case OpKind::SlotHandoffClosed:
      return "slot-handoff-close";
    case OpKind::Shutdown:
      return "shutdown";
    case OpKind::SlotClosed:
      return "slot-close";
  }
  return "?";
}

std::uint64_t OpTable::add(OpKind kind, std::shared_ptr<CompletionHandler> handler) {
  std::uint32_t index;
  if (!free_.empty()) {
    index = free_.back();
    free_.pop_back();
    // A free slot holds no handler: handing it out twice would route one
    // operation's completions to another's handler.
    assert(index < slots_.size() && !slots_[index].handler &&
           slots_[index].kind == OpKind::Untracked);
  } else {
    index = static_cast<std::uint32_t>(slots_.size());
    slots_.emplace_back();
  }
  Slot& slot = slots_[index];
  assert(handler && "an operation in flight must keep its handler alive");
  assert(kind != OpKind::Untracked);
  slot.handler = std::move(handler);
  slot.kind = kind;
  ++inFlight_;
  assertConsistent();
  return user_data::encode(kind, slot.generation, index);
}

const OpTable::Slot* OpTable::live(std::uint64_t userData) const {
  const std::uint32_t index = user_data::indexOf(userData);
  if (index >= slots_.size()) return nullptr;
  const Slot& slot = slots_[index];
  if (!slot.handler || slot.generation != user_data::generationOf(userData) ||
      slot.kind != user_data::kindOf(userData)) {
    return nullptr;
  }
  return &slot;
}

CompletionHandler* OpTable::find(std::uint64_t userData) const {
  const Slot* slot = live(userData);
  return slot ? slot->handler.get() : nullptr;
}

std::shared_ptr<CompletionHandler> OpTable::release(std::uint64_t userData) {
  if (!live(userData)) return {};
  const std::uint32_t index = user_data::indexOf(userData);
  Slot& slot = slots_[index];
  // A new generation makes any late completion carrying the old user_data stale.
  slot.generation = (slot.generation + 1) & user_data::kGenerationMask;
  slot.kind = OpKind::Untracked;
  assert(inFlight_ > 0);
  free_.push_back(index);
  --inFlight_;
  std::shared_ptr<CompletionHandler> handler = std::move(slot.handler);
  assertConsistent();
  return handler;
}

std::vector<std::uint64_t> OpTable::liveOperations() const {
  std::vector<std::uint64_t> live;
  live.reserve(inFlight_);
  for (std::uint32_t index = 0; index < slots_.size(); ++index) {
    const Slot& slot = slots_[index];
    if (slot.handler) live.push_back(user_data::encode(slot.kind, slot.generation, index));
  }
  return live;
}

std::uint64_t OpTable::liveOperation(std::uint32_t generation, std::uint32_t index) const {
  if (index >= slots_.size()) return 0;
  const Slot& slot = slots_[index];
  if (!slot.handler || slot.generation != generation) return 0;
  return user_data::encode(slot.kind, slot.generation, index);
}

void OpTable::assertConsistent() const {
  // Every slot is either in flight or on the free list, never both.
  assert(inFlight_ + free_.size() == slots_.size());
#ifndef NDEBUG
  // The full check walks the table: only while it is small, so debug builds
  // of busy tests stay fast. The cheap check above runs every time.
  if (slots_.size() <= 64) {
    std::size_t live = 0;
    for (const Slot& slot : slots_) live += slot.handler ? 1 : 0;
    assert(live == inFlight_);
    for (std::uint32_t index : free_) assert(index < slots_.size() && !slots_[index].handler);
  }
#endif
}

void OpTable::clear() {
  // Move the references out first: a handler's destructor must not find the
  // table half-cleared.
  std::vector<Slot> dying;
  dying.swap(slots_);
  free_.clear();
  inFlight_ = 0;
}

}  // namespace duet
