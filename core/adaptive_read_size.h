// How much storage one connection's next read should get, learned from what
// its recent reads returned (the idea of netty's AdaptiveRecvByteBufAllocator).
//
// Why: a reactor reads at most the storage it offers. With 64 KiB of storage
// (SpareBuffers::kReadClass) a 256 KiB message that is already waiting whole
// takes four reads, four wake-ups on a level-triggered poller and four
// writes back, where a bare loop reading into a 256 KiB array takes one.
// Offering every connection 256 KiB instead would make each connection that
// keeps a partial message (an HTTP parser waiting for the rest) hold that much.
//
// The rule, in size classes (each doubles the last, see spare_buffers.h):
// - a read that fills the room it was offered means the socket probably held
//   more: the next read gets two classes more (four times the room) at once,
//   so a large-message connection learns in a read or two;
// - a read that would have fit in the class below, twice in a row, steps one
//   class down, so a connection whose traffic turned small gives the big
//   storage back to the spares instead of borrowing it for every read;
// - never below the read class (64 KiB, the stack spill area's size: what a
//   read got before) nor above the largest class the spares keep (512 KiB).
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>

#include "core/spare_buffers.h"

namespace duet {

class AdaptiveReadSize {
 public:
  static constexpr std::size_t kMinClass = SpareBuffers::kReadClass;
  static constexpr std::size_t kMaxClass = SpareBuffers::kClassCount - 1;

  // Storage (a SpareBuffers class capacity) the next read should have.
  std::size_t capacity() const { return SpareBuffers::classCapacity(class_); }
  // Whether that is more than the read class: only then is it worth fresh
  // storage when no spare is big enough (see SpareBuffers::lendForRead).
  bool grown() const { return class_ > kMinClass; }

  // A read returned `bytes` (> 0) having been offered `room` bytes.
  void recordRead(std::size_t bytes, std::size_t room) {
    if (bytes >= room) {
      class_ = static_cast<std::uint8_t>(std::min<std::size_t>(class_ + std::size_t{2}, kMaxClass));
      smallReads_ = 0;
      return;
    }
    if (class_ > kMinClass && bytes < writable(class_ - 1)) {
      if (++smallReads_ == 2) {
        --class_;
        smallReads_ = 0;
      }
      return;
    }
    smallReads_ = 0;
  }

 private:
  static constexpr std::size_t writable(std::size_t k) {
    return SpareBuffers::classCapacity(k) - Buffer::kCheapPrepend;
  }

  std::uint8_t class_ = kMinClass;
  std::uint8_t smallReads_ = 0;  // consecutive reads that would have fit one class down
};

}  // namespace duet
