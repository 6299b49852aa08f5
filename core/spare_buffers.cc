#include "core/spare_buffers.h"

namespace duet {

void SpareBuffers::lendTo(Buffer& buffer) {
  if (buffer.capacity() != 0 || spare_.empty()) return;
  buffer.swap(spare_.back());   // the spare was emptied when it was taken
  spare_.pop_back();
  bytes_ -= buffer.capacity();
}

void SpareBuffers::takeFrom(Buffer& buffer) {
  if (!buffer.empty() || buffer.capacity() == 0) return;
  const std::size_t capacity = buffer.capacity();
  if (capacity <= maxOne_ && spare_.size() < maxCount_ && bytes_ + capacity <= maxBytes_) {
    buffer.retrieveAll();
    spare_.push_back(std::move(buffer));   // leaves `buffer` without storage
    bytes_ += capacity;
  } else {
    buffer.shrink(0);
  }
}

}  // namespace duet
