#include "proactor/buffer_ring.h"

#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <string>
#include <system_error>

#include "core/backend.h"
#include "proactor/uring_compat.h"

namespace duet {

namespace {

unsigned roundUpToPowerOfTwo(unsigned n) {
  unsigned p = 1;
  while (p < n) p <<= 1;
  return p;
}

void* mapAnonymous(std::size_t bytes, const char* what) {
  void* p = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) throw std::system_error(errno, std::generic_category(), what);
  return p;
}

}  // namespace

BufferRing::BufferRing(io_uring& ring, unsigned count, unsigned size, std::uint16_t groupId,
                       bool incremental)
    : ring_(ring),
      count_(std::min(roundUpToPowerOfTwo(std::max(count, 1u)), 32768u)),  // the kernel's limit
      size_(std::max(size, 1u)),
      mask_(count_ - 1),
      groupId_(groupId),
      incremental_(incremental),
      next_(count_, 0),
      consumed_(count_, 0) {
  // The descriptor ring must be page-aligned: mmap gives us that. The buffers
  // are mapped too, so their pages are only touched (and counted in RSS) when
  // the kernel first writes into them.
  const std::size_t page = static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
  descriptorBytes_ = (std::size_t{count_} * sizeof(io_uring_buf) + page - 1) / page * page;
  bufferBytes_ = std::size_t{count_} * size_;
  descriptors_ =
      static_cast<io_uring_buf_ring*>(mapAnonymous(descriptorBytes_, "mmap (buffer ring)"));
  try {
    buffers_ = static_cast<char*>(mapAnonymous(bufferBytes_, "mmap (provided buffers)"));
  } catch (...) {
    ::munmap(descriptors_, descriptorBytes_);
    throw;
  }

  io_uring_buf_reg reg{};
  reg.ring_addr = reinterpret_cast<std::uint64_t>(descriptors_);
  reg.ring_entries = count_;
  reg.bgid = groupId_;
  // liburing 2.3 names the flags field `pad`; same offset, same size.
  if (incremental_) reg.pad = IOU_PBUF_RING_INC;
  const int ret = io_uring_register_buf_ring(&ring_, &reg, 0);
  if (ret < 0) {
    ::munmap(buffers_, bufferBytes_);
    ::munmap(descriptors_, descriptorBytes_);
    if (incremental_) {
      throw BackendUnavailable(
          std::string(
              "incremental provided buffers are unavailable: io_uring_register_buf_ring: ") +
          std::strerror(-ret) +
          " (IOU_PBUF_RING_INC needs Linux 6.12); run with --buffer-ring-inc off");
    }
    throw BackendUnavailable(std::string("io_uring is unavailable: io_uring_register_buf_ring: ") +
                             std::strerror(-ret) +
                             " (provided buffer rings need Linux 5.19); run with --backend epoll");
  }
  registered_ = true;

  io_uring_buf_ring_init(descriptors_);
  grow();
}

bool BufferRing::grow() {
  if (provided_ == count_) return false;
  // The first batch is small (1 MiB: 64 buffers of 16 KiB, 4 of 256 KiB);
  // each later one doubles what the kernel has.
  const unsigned initial =
      static_cast<unsigned>(std::max<std::size_t>(1, (std::size_t{1} << 20) / size_));
  const unsigned add = std::min(count_ - provided_, std::max(provided_, initial));
  // Fill the descriptors past the tail, then publish them with one tail update.
  for (unsigned i = 0; i < add; ++i) place(static_cast<std::uint16_t>(provided_ + i), i);
  publish(add);
  provided_ += add;
  return true;
}

void BufferRing::place(std::uint16_t id, unsigned offset) {
  io_uring_buf_ring_add(descriptors_, buffers_ + std::size_t{id} * size_, size_, id,
                        static_cast<int>(mask_), static_cast<int>(offset));
  if (placedAny_) next_[lastPlaced_] = id;
  lastPlaced_ = id;
  placedAny_ = true;
  consumed_[id] = 0;
}

void BufferRing::publish(unsigned added) {
  io_uring_buf_ring_advance(descriptors_, static_cast<int>(added));
}

BufferRing::~BufferRing() {
  if (registered_) io_uring_unregister_buf_ring(&ring_, groupId_);
  ::munmap(buffers_, bufferBytes_);
  ::munmap(descriptors_, descriptorBytes_);
}

void BufferRing::recycle(std::uint16_t id) {
  place(id, 0);
  publish(1);
  ++recycled_;
}

std::optional<std::uint16_t> BufferRing::kernelHead() const {
  DuetBufStatus status{};
  status.buf_group = groupId_;
  const int ret =
      io_uring_register(static_cast<unsigned>(ring_.ring_fd), kDuetRegisterPbufStatus, &status, 1);
  if (ret < 0) return std::nullopt;  // EINVAL before 6.8
  return static_cast<std::uint16_t>(status.head);
}

std::optional<unsigned> BufferRing::buffersInRing() const {
  const auto head = kernelHead();
  if (!head) return std::nullopt;
  // Ring positions are 16-bit counters on both sides (ours: the tail).
  return static_cast<std::uint16_t>(descriptors_->tail - *head);
}

std::optional<BufferRing::Reclaimed> BufferRing::reclaimLost() {
  const auto head = kernelHead();
  if (!head) return std::nullopt;
  const std::uint16_t tail = descriptors_->tail;
  std::vector<bool> inRing(count_, false);
  for (std::uint16_t slot = *head; slot != tail; ++slot)
    inRing[descriptors_->bufs[slot & mask_].bid] = true;

  Reclaimed result;
  if (incremental_ && *head != tail) {
    // The kernel moves the head descriptor's addr past each piece it takes.
    const io_uring_buf& first = descriptors_->bufs[*head & mask_];
    const auto kernelOffset =
        static_cast<std::uint32_t>(first.addr - reinterpret_cast<std::uint64_t>(data(first.bid)));
    if (kernelOffset > consumed_[first.bid]) result.skipped = kernelOffset - consumed_[first.bid];
    consumed_[first.bid] = kernelOffset;
  }
  // Every buffer we provided is in the kernel's ring or named by a completion;
  // all completions are handled, so one outside the ring went with a lost one.
  unsigned added = 0;
  for (unsigned id = 0; id < provided_; ++id) {
    if (!inRing[id]) place(static_cast<std::uint16_t>(id), added++);
  }
  if (added > 0) publish(added);
  result.buffers = added;
  reclaimed_ += added;
  return result;
}

}  // namespace duet
