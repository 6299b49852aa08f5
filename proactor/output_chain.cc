#include "proactor/output_chain.h"

#include <algorithm>
#include <cassert>
#include <utility>

namespace duet {

void OutputChain::append(std::string_view data, SpareBuffers& spares) {
  if (data.empty()) return;
  if (!tailIsOurs()) {
    chunks_.emplace_back();
    spares.lendTo(tail());  // warm storage, if the loop has some
  }
  tail().append(data);
  bytes_ += data.size();
}

void OutputChain::appendOwned(Buffer& data) {
  const std::size_t n = data.readableBytes();
  if (n == 0) return;
  if (n < kCopyBelow && tailIsOurs()) {
    tail().append(data.view());
    data.retrieveAll();
  } else {
    chunks_.push_back(std::move(data));  // the storage changes hands; `data` is left without any
  }
  bytes_ += n;
}

std::span<const iovec> OutputChain::prepareSend(std::size_t maxBytes) {
  assert(inFlight_ == 0 && "one send in flight at a time");
  std::size_t count = 0;
  std::size_t total = 0;
  for (std::size_t i = head_; i < chunks_.size() && count < kMaxIov && total < maxBytes; ++i) {
    const Buffer& chunk = chunks_[i];
    const std::size_t len = std::min(chunk.readableBytes(), maxBytes - total);
    iov_[count].iov_base = const_cast<char*>(chunk.peek());  // the kernel only reads it
    iov_[count].iov_len = len;
    total += len;
    ++count;
  }
  inFlight_ = count;
  message_ = msghdr{};
  message_.msg_iov = iov_.data();
  message_.msg_iovlen = count;
  return {iov_.data(), count};
}

void OutputChain::sent(std::size_t bytes, SpareBuffers& spares) {
  assert(bytes <= bytes_);
  bytes_ -= bytes;
  inFlight_ = 0;
  while (bytes > 0) {
    Buffer& front = chunks_[head_];
    const std::size_t take = std::min(bytes, front.readableBytes());
    front.retrieve(take);  // a short send stops here, in the middle of a chunk
    bytes -= take;
    if (front.empty()) {
      spares.takeFrom(front);
      ++head_;
    }
  }
  if (head_ == chunks_.size()) {
    chunks_.clear();  // keeps the vector's capacity for the next burst
    head_ = 0;
  } else if (head_ >= kMaxIov) {
    // Sent chunks pile up at the front of a long queue: drop them now and then.
    chunks_.erase(chunks_.begin(), chunks_.begin() + static_cast<std::ptrdiff_t>(head_));
    head_ = 0;
  }
}

void OutputChain::dropUnsent() {
  const std::size_t keep = head_ + inFlight_;
  for (std::size_t i = keep; i < chunks_.size(); ++i) bytes_ -= chunks_[i].readableBytes();
  chunks_.resize(keep);
}

void OutputChain::clear() {
  assert(inFlight_ == 0 && "the kernel may still read the chunks");
  chunks_.clear();
  // A pooled chain keeps its vector, unless one deep queue made it large.
  if (chunks_.capacity() > 4 * kMaxIov) chunks_ = std::vector<Buffer>();
  head_ = 0;
  bytes_ = 0;
}

std::unique_ptr<OutputChain> OutputChainPool::take() {
  if (spare_.empty()) return std::make_unique<OutputChain>();
  std::unique_ptr<OutputChain> chain = std::move(spare_.back());
  spare_.pop_back();
  return chain;
}

void OutputChainPool::give(std::unique_ptr<OutputChain> chain) {
  assert(chain->empty() && chain->chunksInFlight() == 0);
  chain->clear();
  if (spare_.size() < kMaxSpare) spare_.push_back(std::move(chain));
}

}  // namespace duet
