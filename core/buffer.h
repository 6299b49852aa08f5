// A byte buffer with three regions, muduo-style:
//
//   +-------------------+------------------+------------------+
//   | prependable bytes |  readable bytes  |  writable bytes  |
//   +-------------------+------------------+------------------+
//   0      <=      readerIndex   <=   writerIndex    <=     size
//
// Reading consumes from the front (retrieve), writing appends at the back. A small
// prependable area lets a protocol put a length header in front of a message
// without moving it. When the writable area runs out, the readable bytes are first
// slid to the front (cheap, no allocation) and the storage grows only if that
// is not enough: to the next size class, taken from the loop's spares on a
// loop thread (see spare_buffers.h).
//
// The storage is allocated lazily: an idle connection's empty buffers cost no
// heap memory, which is what keeps memory per idle connection small.
#pragma once

#include <sys/types.h>

#include <algorithm>
#include <cassert>
#include <cstddef>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>

namespace duet {

class Buffer {
 public:
  static constexpr std::size_t kCheapPrepend = 8;
  static constexpr std::size_t kInitialSize = 1024;
  static constexpr char kEmpty[1] = {};

  Buffer() = default;
  explicit Buffer(std::size_t initialCapacity);
  Buffer(Buffer&& other) noexcept;
  Buffer& operator=(Buffer&& other) noexcept;
  Buffer(const Buffer&) = delete;
  Buffer& operator=(const Buffer&) = delete;
  ~Buffer() = default;

  void swap(Buffer& other) noexcept;

  std::size_t readableBytes() const { return writerIndex_ - readerIndex_; }
  // Without storage (capacity 0) nothing is writable or prependable yet.
  std::size_t writableBytes() const {
    return capacity_ > writerIndex_ ? capacity_ - writerIndex_ : 0;
  }
  std::size_t prependableBytes() const { return data_ ? readerIndex_ : 0; }
  std::size_t capacity() const { return capacity_; }
  bool empty() const { return readableBytes() == 0; }

  // Without storage, peek() points at kEmpty: one object for the whole program.
  // (A "" literal here would be a different object in each translation unit
  // that inlines peek(), so findCRLF(peek()) from one TU and the end pointer
  // computed in buffer.cc could point into different arrays; found by fuzzing.)
  const char* peek() const { return data_ ? data_.get() + readerIndex_ : kEmpty; }
  std::string_view view() const { return {peek(), readableBytes()}; }

  // Position of the first "\r\n" at or after `start`, or nullptr. findEOL(): first '\n'.
  const char* findCRLF() const { return findCRLF(peek()); }
  const char* findCRLF(const char* start) const;
  const char* findEOL() const;

  void retrieve(std::size_t len);
  void retrieveUntil(const char* end) { retrieve(static_cast<std::size_t>(end - peek())); }
  void retrieveAll() { readerIndex_ = writerIndex_ = kCheapPrepend; }
  std::string retrieveAsString(std::size_t len);
  std::string retrieveAllAsString() { return retrieveAsString(readableBytes()); }

  void append(const char* data, std::size_t len);
  void append(std::string_view s) { append(s.data(), s.size()); }
  void append(const void* data, std::size_t len) { append(static_cast<const char*>(data), len); }

  // Writes `len` bytes just before the readable region (needs prependableBytes() >= len).
  void prepend(const void* data, std::size_t len);

  void ensureWritable(std::size_t len) {
    if (writableBytes() < len) makeSpace(len);
  }
  char* beginWrite() { return data_.get() + writerIndex_; }
  void hasWritten(std::size_t len) {
    assert(len <= writableBytes());
    writerIndex_ += len;
  }
  void unwrite(std::size_t len) {
    assert(len <= readableBytes());
    writerIndex_ -= len;
  }

  // Frees the storage when nothing is readable; else shrinks to the readable
  // bytes plus `reserve`. Used to give memory back after a burst.
  void shrink(std::size_t reserve = 0);

  // Reads from a socket with one readv(2): into the writable area and a 64 KiB
  // spill area on the stack, so a big read needs no pre-grown buffer and a
  // small one wastes no heap. Returns what read returned; sets *savedErrno on -1.
  ssize_t readFd(int fd, int* savedErrno);
  static constexpr std::size_t kSpillSize = 65536;
  // The most one readFd() can read now: the writable area, plus the spill
  // area when the writable area is smaller than it.
  std::size_t readRoom() const {
    const std::size_t writable = writableBytes();
    return writable < kSpillSize ? writable + kSpillSize : writable;
  }

 private:
  void makeSpace(std::size_t len);

  std::unique_ptr<char[]> data_;
  std::size_t capacity_ = 0;
  std::size_t readerIndex_ = kCheapPrepend;
  std::size_t writerIndex_ = kCheapPrepend;
};

}  // namespace duet
