// Aiming an SQE at a connection's socket, whichever way the ring knows it.
//
// With direct descriptors (UringOptions::directDescriptors) an accepted socket
// exists only in the ring's fixed-file table: the process has no descriptor
// for it, and each operation names the table slot with IOSQE_FIXED_FILE. The
// kernel then skips the per-operation descriptor lookup (fdget/fdput) that a
// plain descriptor costs. Everything else about the SQE is the same, so an
// operation is prepared as usual and then aimed.
#pragma once

#include <liburing.h>

#include "core/socket_handle.h"

namespace duet {

// After io_uring_prep_*(): points `sqe` at `socket`, by slot when it is one
// (liburing's prep helpers reset sqe->flags, so this comes after them).
inline void aimAtSocket(io_uring_sqe* sqe, const SocketHandle& socket) {
  if (!socket.isSlot()) return;  // prepared with socket.fd() already
  sqe->fd = static_cast<int>(socket.slot());
  sqe->flags |= IOSQE_FIXED_FILE;
}

}  // namespace duet
