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
// Bundles (IORING_RECVSEND_BUNDLE, Linux 6.10): one completion may fill
// several buffers. The CQE names only the first; the others are the ring
// entries that followed it, in ring order. So for every buffer we remember
// which one we put into the ring right after it (next_), and walk on from the
// first. Why not a table of ring slots: completions are not always handled
// in the order the kernel filled their buffers, and a slot is written again
// as soon as a buffer is recycled into it, possibly before an older
// completion that used that slot is handled. A buffer's successor, on the
// other hand, changes only once the buffer itself is put back, which happens
// when its own completion is handled.
//
// Incremental consumption (IOU_PBUF_RING_INC, Linux 6.12): the kernel takes a
// buffer in pieces, each completion continuing where the previous one in that
// buffer ended, and flags IORING_CQE_F_BUF_MORE while the buffer has room
// left. Such a buffer is still the kernel's: it goes back to the ring only on
// the completion without BUF_MORE. consumed_ says where the next piece starts.
// This relies on completions for one buffer arriving in the order the kernel
// filled it, which holds for the multishot recvs duet uses (each posts its
// completion as it consumes), also when a full CQ ends a multishot recv
// mid-buffer: its final completion waits in the kernel's overflow list, and
// every later one queues behind it (tests/proactor/recv_under_overflow_test).
// A completion the kernel drops breaks it; reclaimLost() repairs that.
//
// Loop thread only.
#pragma once

#include <liburing.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <vector>

namespace duet {

class BufferRing {
 public:
  // Registers `count` (rounded up to a power of two, at most 32768) buffers of
  // `size` bytes as buffer group `groupId`, consumed incrementally if
  // `incremental`. Throws BackendUnavailable if the kernel has no buffer rings
  // (before 5.19) or, when `incremental`, no incremental ones (before 6.12);
  // std::system_error if memory fails.
  BufferRing(io_uring& ring, unsigned count, unsigned size, std::uint16_t groupId,
             bool incremental = false);
  ~BufferRing();
  BufferRing(const BufferRing&) = delete;
  BufferRing& operator=(const BufferRing&) = delete;

  std::uint16_t groupId() const { return groupId_; }
  unsigned count() const { return count_; }
  // Buffers handed to the kernel so far (grows up to count()).
  unsigned provided() const { return provided_; }
  unsigned bufferSize() const { return size_; }
  bool incremental() const { return incremental_; }

  const char* data(std::uint16_t id) const { return buffers_ + std::size_t{id} * size_; }

  // A recv completion's bytes: `bytes` in all, starting in buffer `firstId`
  // (where the last piece of it ended, if incremental) and going on through
  // the buffers that followed it in the ring (a bundle). Calls
  // take(const char* data, std::size_t size) for each piece in order, then
  // gives back every buffer the kernel is done with: all of them, except a
  // last one the completion flagged IORING_CQE_F_BUF_MORE (`bufferMore`).
  // Returns true if the bytes ended exactly at the end of a buffer: the
  // kernel stopped for want of room, so the socket may hold more.
  template <typename Take>
  bool consume(std::uint16_t firstId, std::size_t bytes, bool bufferMore, Take&& take);

  // Gives buffer `id` back to the kernel whole; it may be picked again right away.
  void recycle(std::uint16_t id);
  // Buffers given back so far (tests: an incremental buffer goes back only
  // once the kernel is done with it).
  std::uint64_t recycled() const { return recycled_; }

  // The ring ran dry: hand the kernel more buffers (doubling), if any are
  // left. False when all count() buffers are already in use.
  bool grow();

  // Buffers the kernel can still pick: its ring from its head (asked with
  // IORING_REGISTER_PBUF_STATUS, Linux 6.8) to our tail. nullopt where the
  // kernel cannot say. Once every completion is handled this is provided():
  // each buffer taken came back (tests check that).
  std::optional<unsigned> buffersInRing() const;

  // Completions were dropped (see UringLoop::reconcileAfterDroppedCompletions):
  // a recv completion the loop never saw took its buffers with it, and an
  // incremental one the bytes it accounted for. Call only when every
  // completion the kernel has posted has been handled and none can be posted
  // half-way (DEFER_TASKRUN, between io_uring_enter calls, the CQ and its
  // overflow list empty): then every buffer outside the kernel's ring is one
  // whose completion was lost, and the kernel's descriptor of a part-filled
  // buffer at its head says where the next piece starts. Puts the lost
  // buffers back and moves consumed_ to the kernel's offset. nullopt where
  // the kernel cannot say where its head is (before 6.8).
  struct Reclaimed {
    unsigned buffers = 0;     // put back into the ring
    std::size_t skipped = 0;  // bytes of the head buffer that no completion we saw accounted for
  };
  std::optional<Reclaimed> reclaimLost();
  std::uint64_t reclaimed() const { return reclaimed_; }

 private:
  // Writes buffer `id` (whole, from its start) into the slot `offset` past
  // the tail; publish() then hands that many slots to the kernel at once.
  void place(std::uint16_t id, unsigned offset);
  void publish(unsigned added);
  std::optional<std::uint16_t> kernelHead() const;

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
  bool incremental_;
  bool registered_ = false;
  std::uint64_t recycled_ = 0;
  std::uint64_t reclaimed_ = 0;
  std::vector<std::uint16_t> next_;      // buffer -> the buffer put into the ring right after it
  std::vector<std::uint32_t> consumed_;  // buffer -> bytes the kernel has filled (incremental only)
  std::uint16_t lastPlaced_ = 0;         // the buffer at the ring's tail end
  bool placedAny_ = false;
};

template <typename Take>
bool BufferRing::consume(std::uint16_t firstId, std::size_t bytes, bool bufferMore, Take&& take) {
  std::uint16_t id = firstId;
  for (;;) {
    const std::size_t offset = consumed_[id];
    const std::size_t room = size_ - offset;
    const std::size_t piece = std::min(bytes, room);
    if (piece > 0) take(data(id) + offset, piece);
    bytes -= piece;
    const bool last = bytes == 0;
    if (last && incremental_ && bufferMore) {
      consumed_[id] = static_cast<std::uint32_t>(offset + piece);  // the kernel goes on filling it
      return false;
    }
    // Read the successor before recycling: recycling gives this buffer a new one.
    const std::uint16_t next = next_[id];
    recycle(id);
    if (last) return piece == room;
    id = next;
  }
}

}  // namespace duet
