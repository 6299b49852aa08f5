#include "core/spare_buffers.h"

namespace duet {

namespace {
// One per thread: the loop running on it (if any) set it. Only that thread
// reads it, so the spares it points to are only ever touched by their loop.
thread_local SpareBuffers* servedSpares = nullptr;
}  // namespace

SpareBuffers::~SpareBuffers() {
  if (servedSpares == this) servedSpares = nullptr;
}

void SpareBuffers::serveThisThread() {
  if (servedSpares == nullptr) servedSpares = this;
}

SpareBuffers* SpareBuffers::forThisThread() { return servedSpares; }

std::size_t SpareBuffers::capacityFor(std::size_t capacity) {
  for (std::size_t k = 0; k < kClassCount; ++k) {
    if (classCapacity(k) >= capacity) return classCapacity(k);
  }
  return capacity;
}

std::size_t SpareBuffers::classHolding(std::size_t capacity) {
  for (std::size_t k = kClassCount; k > 0; --k) {
    if (capacity >= classCapacity(k - 1)) return k - 1;
  }
  return kClassCount;
}

void SpareBuffers::lendTo(Buffer& buffer) {
  if (buffer.capacity() != 0 || count_ == 0) return;
  // From the read class up, then downwards from just below it.
  std::size_t order[kClassCount];
  std::size_t n = 0;
  for (std::size_t k = kReadClass; k < kClassCount; ++k) order[n++] = k;
  for (std::size_t k = kReadClass; k > 0; --k) order[n++] = k - 1;
  for (const std::size_t k : order) {
    std::vector<Buffer>& spares = byClass_[k];
    if (spares.empty()) continue;
    buffer.swap(spares.back());  // the spare was emptied when it was taken
    spares.pop_back();
    --count_;
    bytes_ -= buffer.capacity();
    return;
  }
}

void SpareBuffers::lendForRead(Buffer& buffer, std::size_t capacity, bool fresh) {
  if (buffer.capacity() != 0) return;
  Buffer storage = borrow(capacity);
  if (storage.capacity() == 0) {
    if (!fresh) {
      lendTo(buffer);
      return;
    }
    storage = Buffer(capacity - Buffer::kCheapPrepend);
  }
  buffer.swap(storage);
}

Buffer SpareBuffers::borrow(std::size_t capacity) {
  Buffer storage;
  if (count_ == 0) return storage;
  // Class k's storages hold at least classCapacity(k) bytes: start at the
  // first class that covers the request.
  for (std::size_t k = 0; k < kClassCount; ++k) {
    std::vector<Buffer>& spares = byClass_[k];
    if (classCapacity(k) < capacity || spares.empty()) continue;
    storage.swap(spares.back());
    spares.pop_back();
    --count_;
    bytes_ -= storage.capacity();
    break;
  }
  return storage;
}

void SpareBuffers::takeFrom(Buffer& buffer) {
  if (!buffer.empty() || buffer.capacity() == 0) return;
  const std::size_t capacity = buffer.capacity();
  const std::size_t k = classHolding(capacity);
  if (k < kClassCount && capacity <= maxOne_ && count_ < maxCount_ &&
      bytes_ + capacity <= budget()) {
    buffer.retrieveAll();
    byClass_[k].push_back(std::move(buffer));  // leaves `buffer` without storage
    ++count_;
    bytes_ += capacity;
  } else {
    buffer.shrink(0);
  }
}

std::size_t SpareBuffers::budget() const {
  // streaming_ counts connections: far too few for the product to overflow.
  const std::size_t wanted = maxBytes_ + streaming_ * kStreamingAllowance;
  return std::min(wanted, maxStreamingBytes_);
}

void SpareBuffers::streamingStarted() { ++streaming_; }

void SpareBuffers::streamingStopped() {
  if (streaming_ > 0) --streaming_;
  trimToBudget();
}

void SpareBuffers::trimToBudget() {
  const std::size_t limit = budget();
  for (std::size_t k = kClassCount; k > 0 && bytes_ > limit; --k) {
    std::vector<Buffer>& spares = byClass_[k - 1];
    while (!spares.empty() && bytes_ > limit) {
      bytes_ -= spares.back().capacity();
      --count_;
      spares.pop_back();  // frees the storage
    }
  }
}

}  // namespace duet
