// Buffer storage a proactor loop recycles between its connections.
//
// Why: on the proactor a message's bytes live from its recv completion until
// its send completion, while the loop serves other connections. Freeing each
// Buffer's storage after its send interleaves thousands of 16 KiB
// malloc/free pairs from different connections; glibc then trims the top of
// the heap and the next allocations fault fresh pages in again. Measured with
// 10,000 connections echoing 16 KiB: ~3 page faults per message and 1.5x
// epoll's CPU per message (epoll frees in LIFO order and barely faults).
//
// So a loop keeps a small, bounded stack of spare storages: a drained send
// buffer gives its storage here, and a connection about to receive into an
// empty Buffer borrows one. Idle connections still hold no storage at all,
// so memory per idle connection does not change.
#pragma once

#include <cstddef>
#include <vector>

#include "core/buffer.h"

namespace duet {

class SpareBuffers {
 public:
  // At most `maxCount` storages and `maxBytes` in all, none above `maxOne`.
  // The count matters for small buffers: 10,000 connections that each did
  // one small round trip must not leave 10,000 spares resident. A loop needs
  // about as many as it has messages between recv and send completion at once
  // (one batch), so 256 is plenty.
  explicit SpareBuffers(std::size_t maxCount = 256, std::size_t maxBytes = std::size_t{4} << 20,
                        std::size_t maxOne = std::size_t{256} << 10)
      : maxCount_(maxCount), maxBytes_(maxBytes), maxOne_(maxOne) {}

  // A Buffer without storage gets a spare one, if any (it stays empty).
  void lendTo(Buffer& buffer);
  // An empty Buffer's storage is kept for later if it fits, freed otherwise;
  // the Buffer is left without storage either way. A Buffer holding bytes is
  // left alone.
  void takeFrom(Buffer& buffer);

  std::size_t count() const { return spare_.size(); }
  std::size_t bytes() const { return bytes_; }

 private:
  std::vector<Buffer> spare_;
  std::size_t bytes_ = 0;
  std::size_t maxCount_;
  std::size_t maxBytes_;
  std::size_t maxOne_;
};

}  // namespace duet
