// A provided-buffer ring: a pool of receive buffers the kernel picks from.
//
// Why: with readiness I/O a recv needs a buffer only once data is there. A
// completion-based recv needs its buffer when it is *submitted*, so giving
// every idle connection its own buffer would cost bufferSize bytes per
// connection. Instead each loop registers one pool (IORING_REGISTER_PBUF_RING):
// a recv submitted with IOSQE_BUFFER_SELECT takes a buffer only when bytes
// arrive, and the completion says which (IORING_CQE_F_BUFFER + buffer id).
// We copy the bytes into the connection's input Buffer and put the buffer back
// at once, so the pool only has to cover the completions of one batch.
//
// Layout: a ring of `count` io_uring_buf descriptors {addr, len, bid} that we
// produce into (tail) and the kernel consumes from (head), plus one block of
// count * size bytes for the buffers themselves. liburing 2.3 has no
// io_uring_setup_buf_ring(), so this does the mmap + register by hand.
//
// Growing on demand: the kernel takes buffers in ring order, so with all
// `count` buffers handed out at once a quiet server would still cycle through
// every one of them and make the whole block resident (16 MiB by default),
// which shows up as memory per idle connection. So we start with a few
// buffers and add more only when a recv finds the ring empty (ENOBUFS): the
// resident set then follows the largest burst actually seen.
//
// Loop thread only.
#pragma once

#include <liburing.h>

#include <cstddef>
#include <cstdint>

namespace duet {

class BufferRing {
 public:
  // Registers `count` (rounded up to a power of two, at most 32768) buffers of
  // `size` bytes as buffer group `groupId`. Throws BackendUnavailable if the
  // kernel has no buffer rings (before 5.19), std::system_error if memory fails.
  BufferRing(io_uring& ring, unsigned count, unsigned size, std::uint16_t groupId);
  ~BufferRing();
  BufferRing(const BufferRing&) = delete;
  BufferRing& operator=(const BufferRing&) = delete;

  std::uint16_t groupId() const { return groupId_; }
  unsigned count() const { return count_; }
  // Buffers handed to the kernel so far (grows up to count()).
  unsigned provided() const { return provided_; }
  unsigned bufferSize() const { return size_; }

  const char* data(std::uint16_t id) const { return buffers_ + std::size_t{id} * size_; }

  // Gives buffer `id` back to the kernel; it may be picked again right away.
  void recycle(std::uint16_t id);

  // The ring ran dry: hand the kernel more buffers (doubling), if any are
  // left. False when all count() buffers are already in use.
  bool grow();

 private:
  io_uring& ring_;
  io_uring_buf_ring* descriptors_ = nullptr;
  std::size_t descriptorBytes_ = 0;
  char* buffers_ = nullptr;
  std::size_t bufferBytes_ = 0;
  unsigned count_;
  unsigned provided_ = 0;
  unsigned size_;
  unsigned mask_;
  std::uint16_t groupId_;
  bool registered_ = false;
};

}  // namespace duet
