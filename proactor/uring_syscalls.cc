#include "proactor/uring_syscalls.h"

#include <sys/socket.h>
#include <unistd.h>

namespace duet {

UringSyscalls::Opcodes UringSyscalls::probeOpcodes(io_uring& ring) {
  stats_.count(Syscall::Control);
  Opcodes found;
  if (io_uring_probe* probe = io_uring_get_probe_ring(&ring)) {
    found.msgRing = io_uring_opcode_supported(probe, IORING_OP_MSG_RING);
    found.sendZeroCopy = io_uring_opcode_supported(probe, IORING_OP_SEND_ZC);
    io_uring_free_probe(probe);
  }
  return found;
}

std::unique_ptr<BufferRing> UringSyscalls::registerBufferRing(io_uring& ring, unsigned count,
                                                              unsigned size, std::uint16_t groupId,
                                                              bool incremental) {
  stats_.count(Syscall::Control);
  return std::make_unique<BufferRing>(ring, count, size, groupId, incremental);
}

int UringSyscalls::registerDirectTable(io_uring& ring, unsigned slots) {
  stats_.count(Syscall::Control, 2);
  int ret = io_uring_register_files_sparse(&ring, slots);
  if (ret == 0) ret = io_uring_register_file_alloc_range(&ring, 0, slots);
  return ret;
}

std::optional<BufferRing::Reclaimed> UringSyscalls::reclaimLostBuffers(BufferRing& buffers) {
  stats_.count(Syscall::Control);
  return buffers.reclaimLost();
}

UniqueFd UringSyscalls::probeSocket() {
  stats_.count(Syscall::Control, 2);
  return UniqueFd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
}

InetAddress UringSyscalls::peerAddress(int socket) {
  stats_.count(Syscall::Control);
  return sockets::peerAddress(socket);
}

void UringSyscalls::close(UniqueFd fd) {
  stats_.count(Syscall::Close);
  fd.reset();
}

void UringSyscalls::close(SocketHandle& socket) {
  if (!socket.isSlot()) stats_.count(Syscall::Close);
  socket.close();
}

bool UringSyscalls::shutdownWrite(int socket) {
  stats_.count(Syscall::Close);
  return sockets::shutdownWrite(socket);
}

void UringSyscalls::wakeupWriteShared(int eventFd) {
  stats_.syscalls[static_cast<int>(Syscall::Wakeup)].addShared();
  wakeupWriteUncounted(eventFd);
}

void UringSyscalls::wakeupWriteUncounted(int eventFd) {
  const std::uint64_t one = 1;
  // The eventfd counter saturates instead of blocking only at 2^64-2: a write
  // cannot fail for a loop that reads it back, so the result is not checked.
  [[maybe_unused]] const ssize_t n = ::write(eventFd, &one, sizeof one);
}

}  // namespace duet
