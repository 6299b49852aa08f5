#include "core/buffer.h"

#include <sys/uio.h>

#include <cerrno>
#include <utility>

#include "core/spare_buffers.h"

namespace duet {

Buffer::Buffer(std::size_t initialCapacity)
    : data_(new char[kCheapPrepend + initialCapacity]),
      capacity_(kCheapPrepend + initialCapacity) {}

Buffer::Buffer(Buffer&& other) noexcept
    : data_(std::move(other.data_)),
      capacity_(std::exchange(other.capacity_, 0)),
      readerIndex_(std::exchange(other.readerIndex_, kCheapPrepend)),
      writerIndex_(std::exchange(other.writerIndex_, kCheapPrepend)) {}

Buffer& Buffer::operator=(Buffer&& other) noexcept {
  Buffer tmp(std::move(other));
  swap(tmp);
  return *this;
}

void Buffer::swap(Buffer& other) noexcept {
  std::swap(data_, other.data_);
  std::swap(capacity_, other.capacity_);
  std::swap(readerIndex_, other.readerIndex_);
  std::swap(writerIndex_, other.writerIndex_);
}

const char* Buffer::findCRLF(const char* start) const {
  assert(start >= peek() && start <= peek() + readableBytes());
  const char* end = peek() + readableBytes();
  static constexpr char kCRLF[] = "\r\n";
  const char* hit = std::search(start, end, kCRLF, kCRLF + 2);
  return hit == end ? nullptr : hit;
}

const char* Buffer::findEOL() const {
  if (empty()) return nullptr;
  return static_cast<const char*>(std::memchr(peek(), '\n', readableBytes()));
}

void Buffer::retrieve(std::size_t len) {
  assert(len <= readableBytes());
  if (len < readableBytes()) {
    readerIndex_ += len;
  } else {
    retrieveAll();
  }
}

std::string Buffer::retrieveAsString(std::size_t len) {
  assert(len <= readableBytes());
  std::string s(peek(), len);
  retrieve(len);
  return s;
}

void Buffer::append(const char* data, std::size_t len) {
  if (len == 0) return;
  ensureWritable(len);
  std::memcpy(beginWrite(), data, len);
  hasWritten(len);
}

void Buffer::prepend(const void* data, std::size_t len) {
  assert(len <= prependableBytes());
  readerIndex_ -= len;
  std::memcpy(data_.get() + readerIndex_, data, len);
}

void Buffer::makeSpace(std::size_t len) {
  const std::size_t readable = readableBytes();
  if (data_ && writableBytes() + prependableBytes() >= len + kCheapPrepend) {
    // Enough room overall: slide the readable bytes to the front instead of growing.
    std::memmove(data_.get() + kCheapPrepend, peek(), readable);
    readerIndex_ = kCheapPrepend;
    writerIndex_ = kCheapPrepend + readable;
    return;
  }
  // Grow geometrically so a stream of appends costs amortised O(1) per byte:
  // at least the next size class up (each class doubles the last), beyond
  // the classes at least twice the capacity.
  const std::size_t needed = kCheapPrepend + readable + len;
  const std::size_t atLeast = std::max(needed, capacity_ + 1);
  const std::size_t newCapacity =
      atLeast <= SpareBuffers::classCapacity(SpareBuffers::kClassCount - 1)
          ? SpareBuffers::capacityFor(atLeast)
          : std::max(needed, capacity_ * 2);
  // On a loop thread the storage comes from the loop's spares when one of
  // that class is there, and the outgrown storage goes back to them: warm
  // memory instead of a malloc and, for big storage, fresh pages to fault in.
  SpareBuffers* spares = SpareBuffers::forThisThread();
  Buffer bigger = spares ? spares->borrow(newCapacity) : Buffer();
  if (bigger.capacity() == 0) {
    bigger.data_.reset(new char[newCapacity]);
    bigger.capacity_ = newCapacity;
  }
  if (readable) std::memcpy(bigger.data_.get() + kCheapPrepend, peek(), readable);
  bigger.readerIndex_ = kCheapPrepend;
  bigger.writerIndex_ = kCheapPrepend + readable;
  swap(bigger);
  // `bigger` now holds the outgrown storage, whose bytes were copied above.
  if (spares) {
    bigger.retrieveAll();
    spares->takeFrom(bigger);
  }
}

void Buffer::shrink(std::size_t reserve) {
  const std::size_t readable = readableBytes();
  if (readable == 0 && reserve == 0) {
    data_.reset();
    capacity_ = 0;
    readerIndex_ = writerIndex_ = kCheapPrepend;
    return;
  }
  const std::size_t newCapacity = kCheapPrepend + readable + reserve;
  if (newCapacity >= capacity_) return;
  std::unique_ptr<char[]> smaller(new char[newCapacity]);
  if (readable) std::memcpy(smaller.get() + kCheapPrepend, peek(), readable);
  data_ = std::move(smaller);
  capacity_ = newCapacity;
  readerIndex_ = kCheapPrepend;
  writerIndex_ = kCheapPrepend + readable;
}

ssize_t Buffer::readFd(int fd, int* savedErrno) {
  char spill[kSpillSize];
  static_assert(
      SpareBuffers::classCapacity(SpareBuffers::kReadClass) - kCheapPrepend == sizeof spill,
      "a storage of the read class must take a whole spill-sized read");
  const std::size_t writable = writableBytes();
  iovec vec[2];
  vec[0].iov_base = data_ ? beginWrite() : nullptr;
  vec[0].iov_len = writable;
  vec[1].iov_base = spill;
  vec[1].iov_len = sizeof spill;
  // When the buffer already has 64 KiB of room, the spill area would only add a
  // second copy for nothing: read straight into the buffer.
  const int iovcnt = writable < sizeof spill ? 2 : 1;
  const int first = writable == 0 ? 1 : 0;  // an empty first iovec is legal but pointless
  const ssize_t n = ::readv(fd, vec + first, iovcnt - first);
  if (n < 0) {
    *savedErrno = errno;
  } else if (static_cast<std::size_t>(n) <= writable) {
    writerIndex_ += static_cast<std::size_t>(n);
  } else {
    writerIndex_ += writable;
    append(spill, static_cast<std::size_t>(n) - writable);
  }
  return n;
}

}  // namespace duet
