// UringFileRead: one EventLoop::readFile on the proactor, as IORING_OP_READ.
//
// This is where the two models differ most. A reactor cannot wait for a
// file (it is always "ready"), so it needs threads; a proactor hands the
// kernel the whole read and is told when it is done. The kernel serves it
// from the page cache inline, or, on a miss, in its own io-wq workers (or
// by polling, for a pipe or FIFO, which it reads without blocking); either
// way this loop's thread never waits for the disk.
//
// Lifetime: the object owns everything the kernel and the caller need until
// the last completion: the buffer the kernel writes into, the descriptor
// (SharedFd: it cannot be closed and reused under the read) and the
// callback. The loop's OpTable keeps it alive while an SQE is in flight, so
// a caller that went away meanwhile changes nothing here: its callback is
// still called, and decides for itself (e.g. through a weak_ptr) that there
// is nobody left to tell. At loop teardown the read is cancelled with
// everything else and destroyed uncalled (UringLoop::drainInFlight).
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "core/file_read.h"
#include "proactor/completion.h"

namespace duet {

class UringLoop;

class UringFileRead final : public CompletionHandler,
                            public std::enable_shared_from_this<UringFileRead> {
 public:
  static void start(UringLoop& loop, SharedFd file, std::uint64_t offset, std::size_t length,
                    FileReadCallback done);

  UringFileRead(UringLoop& loop, SharedFd file, std::uint64_t offset, std::size_t length,
                FileReadCallback done);
  void onCompletion(OpKind kind, const Completion& completion) override;

 private:
  // Reads what is still missing: the kernel may return fewer bytes than
  // asked (a pipe, a signal), and the contract is "all of it, or the end".
  void submitRest();
  void finish(int error);

  UringLoop& loop_;
  const SharedFd file_;
  const std::uint64_t offset_;
  std::string bytes_;       // sized to the request; the kernel writes here
  std::size_t filled_ = 0;  // bytes read so far
  FileReadCallback done_;
};

}  // namespace duet
