// Buffer storage an event loop recycles between its connections.
//
// Connections give their Buffers' storage back when the Buffers empty, so an
// idle connection costs no heap memory. Freed straight to malloc, that storage
// churns: on the proactor a message's bytes live from its recv completion to
// its send completion while the loop serves others, and with 10,000
// connections echoing 16 KiB the interleaved malloc/free pairs made glibc trim
// the heap and fault pages back in (~3 page faults per message, 1.5x epoll's
// CPU). On the reactor a read into an empty Buffer lands in a stack spill area
// first and is then copied into freshly allocated storage.
//
// So each loop keeps a small, bounded stack of spare storages: a Buffer that
// empties gives its storage here, and a Buffer about to be filled borrows one
// (the reactor then reads straight into it). Idle connections still hold no
// storage at all.
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
  // 1 MiB in all, 64 KiB each: a server's memory must not drift up by more
  // than that per loop (the soak checks RSS across rounds).
  explicit SpareBuffers(std::size_t maxCount = 256, std::size_t maxBytes = std::size_t{1} << 20,
                        std::size_t maxOne = std::size_t{64} << 10)
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
