// Reading files without blocking a loop: the types EventLoop::readFile uses.
//
// Why a loop cannot simply read a file: a regular file is always "ready" to
// epoll, poll and select (readiness says nothing about the page cache), so
// a pread on the loop thread that misses the cache puts the whole loop to
// sleep until the disk answers, and every connection of that loop waits with
// it. EventLoop::readFile sends the read where it may block instead:
//
//   proactor (io_uring)  an IORING_OP_READ on the loop's own ring: the kernel
//                        completes it from the page cache at once, or later
//                        from its io-wq workers, and the loop reaps the
//                        completion like any other (proactor/uring_file_read.h).
//   reactor              a worker thread of the loop's FileReadPool does the
//                        pread, and posts the result back with queueInLoop
//                        (core/file_read_pool.h). The pool's queue is
//                        bounded: a read it cannot take fails with EBUSY at
//                        once instead of queueing without limit.
//
// Either way the callback runs on the loop thread, later (never inside
// readFile()), exactly once, unless the loop is destroyed first.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "core/socket_ops.h"  // UniqueFd

namespace duet {

// An open file shared by everyone who uses it. A read in flight holds one
// reference, so the descriptor cannot be closed under it (its number could
// otherwise be reused by another file or a socket, and the read would take
// someone else's bytes) even when the connection that asked has gone.
using SharedFd = std::shared_ptr<const UniqueFd>;
inline SharedFd shareFd(UniqueFd fd) { return std::make_shared<const UniqueFd>(std::move(fd)); }

struct FileReadResult {
  // 0, or the errno of the failed read (EIO, EISDIR, EBADF...). EBUSY: the
  // reader refused the read (its queue is full); nothing was attempted.
  int error = 0;
  // On success: the `length` bytes asked for, fewer only where the file ended
  // (empty at or past the end). On error: empty.
  std::string bytes;
};
using FileReadCallback = std::function<void(FileReadResult result)>;

// The blocking read itself, for a thread that may block (a FileReadPool
// worker, or a loop that chose to: duet-http --file-io loop). pread until
// `length` bytes, the end of the file or an error; EINTR is retried. A
// descriptor that has no positions (a pipe or FIFO: pread says ESPIPE) is
// read from where it stands and `offset` is ignored, as io_uring does.
FileReadResult readFileBlocking(int fd, std::uint64_t offset, std::size_t length);

}  // namespace duet
