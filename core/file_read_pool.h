// FileReadPool: a loop's file reads done by worker threads, for backends
// that have no asynchronous file read of their own (the reactors: a regular
// file is always "ready", so there is nothing for epoll to wait on).
//
//   loop thread                     worker thread
//   read(file, offset, n, done) --> readFileBlocking()   (may sleep on the disk)
//        |  (queue full: done(EBUSY) is queued at once)
//   done(result) <-- queueInLoop -- result
//
// One pool per loop, made on the loop's first readFile(), so a loop that
// never reads a file starts no thread. Its threads and queue cap come from
// LoopOptions (fileReadThreads, fileReadQueue).
//
// Teardown (stop(), from the loop's destructor): reads not yet started are
// dropped, unread; a read a worker has started runs to its end (a disk read
// does end; nothing can interrupt a thread inside pread) and its result is
// queued to the loop, which destroys it unrun. Nothing leaks: what a read
// owns (its callback, its bytes, its SharedFd reference) lives in the job
// or the queued task, and both are destroyed.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>

#include "core/file_read.h"
#include "core/worker_pool.h"

namespace duet {

class EventLoop;

class FileReadPool {
 public:
  FileReadPool(EventLoop& loop, std::size_t threads, std::size_t maxQueued);
  ~FileReadPool();  // stop()
  FileReadPool(const FileReadPool&) = delete;
  FileReadPool& operator=(const FileReadPool&) = delete;

  // Loop thread. See EventLoop::readFile.
  void read(SharedFd file, std::uint64_t offset, std::size_t length, FileReadCallback done);
  // Loop thread (its destructor). After this no worker touches the loop.
  void stop();

 private:
  EventLoop& loop_;
  // Read by the workers before each job: set, they drop what is still queued.
  std::atomic<bool> stopping_{false};
  WorkerPool workers_;  // last: its threads stop first, before the members they use
};

}  // namespace duet
