// OutputChain: a connection's unsent output as a list of chunks that one
// vectored send (writev-style) hands to the kernel without copying them
// together first (UringOptions::vectoredSend).
//
// Without it, output the application sends while a send is in flight is
// copied into one Buffer behind it (uring_connection.h). With it, each chunk
// keeps its own storage:
//   - a Buffer the application gave up (send(Buffer&&)) becomes a chunk as it
//     is: its storage changes hands, its bytes are not copied;
//   - small sends (and small given-up Buffers) are copied onto the end of the
//     last chunk, as long as the kernel does not hold that chunk: copying a few
//     bytes costs less than another iovec and another storage to recycle.
// Off by default (core/loop_options.h has the numbers): a Buffer taken
// uncopied leaves its owner without storage (an echo's input Buffer then needs
// new storage for the next recv) and its storage reaches the loop's spares
// only when its send completes, so large output in transit outgrows the
// spares and storage goes through malloc, where freed pages are faulted back.
//
// There is still one send in flight per connection (two could complete out of
// order), but it covers up to kMaxIov chunks from the front. When it
// completes, fully sent chunks go (their storage back to the loop's spares)
// and a short send resumes in the middle of the chunk where it stopped.
//
// What the kernel reads until the send completes (the chunks' bytes, the iovec
// array, the msghdr for IORING_OP_SENDMSG) lives in this object, so it must
// not move or change while a send is in flight: chunks are appended behind
// the in-flight ones, never into them. A connection borrows a chain from its
// loop's OutputChainPool while it has output and gives it back when the output
// drains, so an idle connection holds no chain and no output storage.
//
// Loop thread only.
#pragma once

#include <sys/socket.h>
#include <sys/uio.h>

#include <array>
#include <cstddef>
#include <memory>
#include <span>
#include <string_view>
#include <vector>

#include "core/buffer.h"
#include "core/spare_buffers.h"

namespace duet {

class OutputChain {
 public:
  // iovecs per send. The kernel copies up to 8 on its stack (UIO_FASTIOV) and
  // allocates for more; 32 keeps a deep queue to one send without large copies.
  static constexpr std::size_t kMaxIov = 32;
  // Given-up Buffers smaller than this are copied onto the last chunk when it
  // is ours to append to (see above).
  static constexpr std::size_t kCopyBelow = 512;

  std::size_t bytes() const { return bytes_; }
  bool empty() const { return bytes_ == 0; }
  // Chunks the kernel holds (the send in flight), 0 when none.
  std::size_t chunksInFlight() const { return inFlight_; }
  std::size_t chunkCount() const { return chunks_.size() - head_; }

  // Queues a copy of `data` at the end.
  void append(std::string_view data, SpareBuffers& spares);
  // Queues `data`'s bytes at the end, taking its storage when that saves a
  // copy; `data` is left empty (and usually without storage).
  void appendOwned(Buffer& data);

  // The next send: iovecs over the chunks from the front, at most kMaxIov and
  // `maxBytes` in all, which the kernel holds until sent() (never empty when
  // the chain is not). message() is the same as a msghdr for IORING_OP_SENDMSG.
  std::span<const iovec> prepareSend(std::size_t maxBytes);
  const msghdr* message() const { return &message_; }

  // The send in flight completed and the kernel took `bytes` (0 when it was
  // cancelled): those bytes leave the front, emptied chunks give their storage
  // to `spares`, and nothing is in flight any more.
  void sent(std::size_t bytes, SpareBuffers& spares);

  // The connection closed: drops every chunk the kernel does not hold.
  void dropUnsent();
  // Drops everything; only when no send is in flight.
  void clear();

 private:
  Buffer& tail() { return chunks_.back(); }
  // The last chunk exists and is not held by the kernel, so it may grow.
  bool tailIsOurs() const { return chunks_.size() > head_ + inFlight_; }

  std::vector<Buffer> chunks_;  // [head_, size()): the output, front first
  std::size_t head_ = 0;        // chunks before it are sent and empty
  std::size_t inFlight_ = 0;    // chunks from head_ on that the kernel holds
  std::size_t bytes_ = 0;       // readable bytes in all chunks
  std::array<iovec, kMaxIov> iov_{};
  msghdr message_{};
};

// Idle chains a loop keeps for its connections, so that borrowing one for a
// reply and giving it back when the reply is out allocates nothing in steady
// state. Bounded, like SpareBuffers.
class OutputChainPool {
 public:
  std::unique_ptr<OutputChain> take();
  // `chain` must be empty with nothing in flight.
  void give(std::unique_ptr<OutputChain> chain);

 private:
  static constexpr std::size_t kMaxSpare = 256;
  std::vector<std::unique_ptr<OutputChain>> spare_;
};

}  // namespace duet
