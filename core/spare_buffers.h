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
// So each loop keeps a small, bounded set of spare storages: a Buffer that
// empties gives its storage here, and a Buffer about to be filled borrows one
// (the reactor then reads straight into it). Idle connections still hold no
// storage at all.
//
// Size classes. Storage comes in classes whose writable area is a power of
// two: class k holds Buffer::kCheapPrepend + (1 KiB << k) bytes, from 1 KiB to
// 512 KiB. A Buffer that grows asks for the next class up, so storage given
// back by one Buffer fits the next one exactly, and big messages (256 KiB
// echoes) reuse warm storage instead of being freed and faulted back in:
// before the classes, every storage over 64 KiB went back to malloc, which
// trimmed or unmapped it, and a 256 KiB echo on the proactor cost ~64 page
// faults per message. The 64 KiB class is readFd()'s spill size, so a read
// into it goes straight into the Buffer, with no spill copy.
//
// A loop makes its spares the source Buffers on its thread grow from
// (serveThisThread): Buffer::makeSpace borrows the class it needs here and
// gives the outgrown storage back.
#pragma once

#include <algorithm>
#include <array>
#include <cstddef>
#include <vector>

#include "core/buffer.h"

namespace duet {

class SpareBuffers {
 public:
  static constexpr std::size_t kClassCount = 10;  // 1 KiB ... 512 KiB writable
  static constexpr std::size_t classCapacity(std::size_t k) {
    return Buffer::kCheapPrepend + (Buffer::kInitialSize << k);
  }
  // What a Buffer that needs `capacity` bytes of storage allocates: the
  // smallest class that holds it; above the largest class, `capacity` itself.
  static std::size_t capacityFor(std::size_t capacity);

  // At most `maxCount` storages and `maxBytes` in all, none above `maxOne`.
  // The count matters for small buffers: 10,000 connections that each did
  // one small round trip must not leave 10,000 spares resident. A loop needs
  // about as many as it has messages between recv and send completion at once
  // (one batch), so 256 is plenty.
  // 2 MiB in all, 512 KiB each (the largest class): enough for a few 256 KiB
  // messages in transit to reuse storage, and a server's memory must not
  // drift up by more than that per loop (the soak checks RSS across rounds).
  // While connections stream large messages the budget grows (see
  // streamingStarted), up to `maxStreamingBytes`.
  explicit SpareBuffers(std::size_t maxCount = 256, std::size_t maxBytes = std::size_t{2} << 20,
                        std::size_t maxOne = classCapacity(kClassCount - 1),
                        std::size_t maxStreamingBytes = std::size_t{16} << 20)
      : maxCount_(maxCount),
        maxBytes_(maxBytes),
        maxOne_(maxOne),
        maxStreamingBytes_(std::max(maxBytes, maxStreamingBytes)) {}
  ~SpareBuffers();
  SpareBuffers(const SpareBuffers&) = delete;
  SpareBuffers& operator=(const SpareBuffers&) = delete;

  // The class whose writable area is readFd()'s spill size (64 KiB).
  static constexpr std::size_t kReadClass = 6;
  // A Buffer without storage gets a spare, if any (it stays empty): the
  // smallest of the read class or above, else the largest below it. The
  // caller does not know how much is coming, and a reactor's read fills up to
  // the whole writable area: 64 KiB of it make the read as large as the
  // spill area, without the spill copy.
  void lendTo(Buffer& buffer);
  // A Buffer without storage gets storage for a read of up to `capacity`
  // bytes (a class capacity, from AdaptiveReadSize): the smallest spare that
  // holds it. If none does, `fresh` says whether to allocate it (a
  // connection whose reads have been filling their storage) or to fall back
  // to lendTo() (the first reads of a connection: an application that keeps
  // partial messages in its Buffer must not make every connection hold
  // fresh big storage).
  void lendForRead(Buffer& buffer, std::size_t capacity, bool fresh);
  // An empty Buffer's storage is kept for later if it fits, freed otherwise;
  // the Buffer is left without storage either way. A Buffer holding bytes is
  // left alone.
  void takeFrom(Buffer& buffer);
  // Empty storage of at least `capacity` bytes: the smallest spare that
  // holds it, or a Buffer without storage if none does.
  Buffer borrow(std::size_t capacity);

  // Buffers on the calling thread grow from these spares from now on (see
  // Buffer::makeSpace), until this object dies. A thread whose Buffers
  // already grow from another SpareBuffers keeps that one. Loop thread only.
  void serveThisThread();
  // The spares Buffers on the calling thread grow from, or null.
  static SpareBuffers* forThisThread();

  // Streaming connections. A proactor's large message holds its storage from
  // its recv to its send completion, and a streaming connection has a recv
  // and a send in flight at once: with 10 connections echoing 256 KiB, about
  // 20 storages of 512 KiB are busy, so most of the ones that empty do not fit
  // the 2 MiB budget, go back to malloc and are faulted back in for the next
  // message (duet-uring paid 1.25-1.48x epoll's CPU per message). A fixed
  // 8 MiB budget fixed that, but then a server that once streamed kept 8 MiB
  // per loop for good, which the soak cannot tell from a leak.
  //
  // So the budget follows the traffic: each connection that says it streams
  // adds kStreamingAllowance (room for its recv's and its send's storage),
  // up to maxStreamingBytes in all, and when it stops (or closes) the spares
  // beyond the smaller budget are freed at once. No timer: a loop whose
  // connections are gone holds the base budget again without waking up.
  static constexpr std::size_t kStreamingAllowance =
      2 * (Buffer::kCheapPrepend +
           (Buffer::kInitialSize << (kClassCount - 1)));  // two of the largest class
  void streamingStarted();
  void streamingStopped();
  std::size_t streamingConnections() const { return streaming_; }
  // How many bytes of spares may be kept now.
  std::size_t budget() const;

  std::size_t count() const { return count_; }
  std::size_t bytes() const { return bytes_; }

 private:
  // The largest class whose capacity `capacity` covers; kClassCount if none
  // (smaller than the smallest class).
  static std::size_t classHolding(std::size_t capacity);
  // Frees spares, largest first, until they fit budget().
  void trimToBudget();

  std::array<std::vector<Buffer>, kClassCount> byClass_;
  std::size_t count_ = 0;
  std::size_t bytes_ = 0;
  std::size_t maxCount_;
  std::size_t maxBytes_;
  std::size_t maxOne_;
  std::size_t maxStreamingBytes_;
  std::size_t streaming_ = 0;  // connections that said streamingStarted() and not yet stopped
};

}  // namespace duet
