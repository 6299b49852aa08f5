#include "proactor/uring_file_read.h"

#include <algorithm>
#include <cerrno>
#include <limits>

#include "proactor/uring_loop.h"

namespace duet {

void UringFileRead::start(UringLoop& loop, SharedFd file, std::uint64_t offset, std::size_t length,
                          FileReadCallback done) {
  auto read =
      std::make_shared<UringFileRead>(loop, std::move(file), offset, length, std::move(done));
  // Even a zero-length read goes through the ring: `done` must never run
  // inside readFile(), and a NOP-like read of 0 bytes completes at once.
  read->submitRest();
}

UringFileRead::UringFileRead(UringLoop& loop, SharedFd file, std::uint64_t offset,
                             std::size_t length, FileReadCallback done)
    : loop_(loop),
      file_(std::move(file)),
      offset_(offset),
      bytes_(length, '\0'),
      done_(std::move(done)) {}

void UringFileRead::submitRest() {
  // The SQE's length is 32 bits: a larger read goes in several turns.
  const std::size_t rest = bytes_.size() - filled_;
  const auto len =
      static_cast<unsigned>(std::min<std::size_t>(rest, std::numeric_limits<unsigned>::max() / 2));
  io_uring_sqe* sqe = loop_.nextSqe();
  io_uring_prep_read(sqe, file_->get(), bytes_.data() + filled_, len, offset_ + filled_);
  loop_.track(sqe, OpKind::FileRead, shared_from_this());
}

void UringFileRead::onCompletion(OpKind /*kind*/, const Completion& c) {
  // -ECANCELED reaches us only when the loop ended a read whose own
  // completion the kernel dropped (reconcileAfterDroppedCompletions); at
  // teardown nobody is called. Either way the read is still wanted: again.
  if (c.res == -ECANCELED || c.res == -EINTR || c.res == -EAGAIN) {
    submitRest();
    return;
  }
  if (c.res < 0) {
    finish(-c.res);
    return;
  }
  if (c.res == 0) {  // end of file (or nothing was asked)
    finish(0);
    return;
  }
  filled_ += static_cast<std::size_t>(c.res);
  if (filled_ < bytes_.size()) {
    submitRest();
    return;
  }
  finish(0);
}

void UringFileRead::finish(int error) {
  FileReadResult result;
  result.error = error;
  if (error == 0) {
    bytes_.resize(filled_);
    result.bytes = std::move(bytes_);
  }
  FileReadCallback done = std::move(done_);
  done(std::move(result));
}

}  // namespace duet
