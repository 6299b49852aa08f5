// UringSyscalls: the system calls a proactor loop makes besides
// io_uring_enter, made and counted in one place.
//
// On the proactor almost all I/O goes through the ring: an operation is an
// SQE, and the system call that carries a batch of them, io_uring_enter, is
// counted by Ring (ring.cc), the only place that makes it. What is left is
// here: io_uring_register calls (probing, buffer rings, the fixed-file
// table), and the few plain calls on descriptors (close, shutdown,
// getpeername, a wake-up through an eventfd). Each function makes its
// calls and adds them to their kind in the loop's LoopStats (sys_control,
// sys_close, ...), which the compare runner reports and the tests assert,
// so the loop's code reads as the calls themselves: `sys().close(...)`.
//
// A socket in a direct-descriptor slot is closed through the ring (an SQE,
// no system call of its own): close(SocketHandle&) counts only descriptors.
//
// Bound to one loop's LoopStats; a copy is a reference, cheap to hold. Loop
// thread only, except wakeupWriteShared.
#pragma once

#include <liburing.h>

#include <cstdint>
#include <memory>
#include <optional>

#include "core/inet_address.h"
#include "core/loop_stats.h"
#include "core/socket_handle.h"
#include "core/socket_ops.h"
#include "proactor/buffer_ring.h"

namespace duet {

class UringSyscalls {
 public:
  explicit UringSyscalls(LoopStats& stats) : stats_(stats) {}

  // ---- io_uring_register: sys_control ----
  // Which optional operations this kernel's io_uring has (IORING_REGISTER_PROBE).
  struct Opcodes {
    bool msgRing = false;       // IORING_OP_MSG_RING (5.18)
    bool sendZeroCopy = false;  // IORING_OP_SEND_ZC (6.0)
  };
  Opcodes probeOpcodes(io_uring& ring);
  // A provided-buffer ring (BufferRing's constructor maps it and registers it:
  // IORING_REGISTER_PBUF_RING). Counted even when the kernel refuses it
  // (BackendUnavailable is thrown on).
  std::unique_ptr<BufferRing> registerBufferRing(io_uring& ring, unsigned count, unsigned size,
                                                 std::uint16_t groupId, bool incremental);
  // The sparse fixed-file table of direct descriptors and the range the
  // kernel allocates from: two calls, counted as two (the second is skipped,
  // but still counted, when the first fails). Returns 0 or -errno.
  int registerDirectTable(io_uring& ring, unsigned slots);
  // BufferRing::reclaimLost, which asks the kernel for the ring's head
  // (IORING_REGISTER_PBUF_STATUS).
  std::optional<BufferRing::Reclaimed> reclaimLostBuffers(BufferRing& buffers);

  // ---- Plain calls on descriptors ----
  // A throwaway TCP socket to probe with: socket(2) now and close(2) when it
  // goes, both counted here as sys_control (a probe, not a connection).
  UniqueFd probeSocket();
  // getpeername(2): sys_control.
  InetAddress peerAddress(int socket);
  // Closes the descriptor `fd` owns (take it with std::move): sys_close.
  void close(UniqueFd fd);
  // Closes `socket`: a descriptor costs sys_close; a slot goes back through
  // the ring and costs nothing here.
  void close(SocketHandle& socket);
  // shutdown(SHUT_WR), our FIN on a descriptor: sys_close. False on failure (errno set).
  bool shutdownWrite(int socket);

  // ---- Cross-thread wake-ups: sys_wakeup, the one counter with several writers ----
  // write(2) of 1 to the woken loop's eventfd, from any thread, so the count
  // takes the shared (atomic) add: a plain add would lose counts to a
  // load+store race (core/loop_stats.h).
  void wakeupWriteShared(int eventFd);
  // The same write charged to nobody: for a loop that may be gone, whose
  // stats must not be touched (the wake-up was counted when it was first sent).
  static void wakeupWriteUncounted(int eventFd);

 private:
  LoopStats& stats_;
};

}  // namespace duet
