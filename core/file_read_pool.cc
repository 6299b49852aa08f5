#include "core/file_read_pool.h"

#include <cerrno>

#include "core/event_loop.h"

namespace duet {

FileReadPool::FileReadPool(EventLoop& loop, std::size_t threads, std::size_t maxQueued)
    : loop_(loop), workers_(threads == 0 ? 1 : threads, maxQueued) {}

FileReadPool::~FileReadPool() { stop(); }

void FileReadPool::read(SharedFd file, std::uint64_t offset, std::size_t length,
                        FileReadCallback done) {
  loop_.assertInLoopThread();
  // `done` is shared between the job and the refusal below: std::function
  // must be copyable, and only one of the two ever calls it.
  auto callback = std::make_shared<FileReadCallback>(std::move(done));
  const bool taken = workers_.submit([this, file = std::move(file), offset, length, callback] {
    if (stopping_.load(std::memory_order_acquire)) {
      // The loop is going: drop it unread -- but on the loop thread, whose
      // teardown destroys what is queued once this pool is joined. A callback
      // may own more than a closure (a suspended coroutine it destroys when
      // dropped: core/coro/read_file.h), and that must not go on this thread.
      loop_.queueInLoop([callback] {});
      return;
    }
    auto result = std::make_shared<FileReadResult>(readFileBlocking(file->get(), offset, length));
    // Back to the loop thread. The loop outlives this: its destructor stops
    // (joins) this pool before anything the task touches is destroyed.
    loop_.queueInLoop([callback, result] { (*callback)(std::move(*result)); });
  });
  if (!taken) {
    // Overload is an answer, not a wait: the caller learns at once (on the
    // loop, like every result) and can say so (duet-http answers 503).
    loop_.queueInLoop([callback] { (*callback)(FileReadResult{EBUSY, {}}); });
  }
}

void FileReadPool::stop() {
  stopping_.store(true, std::memory_order_release);
  workers_.stop();
}

}  // namespace duet
