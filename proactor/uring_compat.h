// Names from kernels newer than the liburing headers we build against
// (Debian 12 ships liburing 2.3). Each is defined only if the headers lack it,
// so a newer liburing simply takes over. The values are the kernel's ABI.
#pragma once

#include <liburing.h>

// io_uring_params::features: io_uring_getevents_arg's 32-bit `pad` is read as
// min_wait_usec ("wait for N completions, but after this long settle for one").
// Linux 6.12.
#ifndef IORING_FEAT_MIN_TIMEOUT
#define IORING_FEAT_MIN_TIMEOUT (1U << 15)
#endif

// Set on a recv completion when the socket still had data after the copy.
#ifndef IORING_CQE_F_SOCK_NONEMPTY
#define IORING_CQE_F_SOCK_NONEMPTY (1U << 2)
#endif

// Second completion of a SEND_ZC: the kernel no longer references the buffer.
#ifndef IORING_CQE_F_NOTIF
#define IORING_CQE_F_NOTIF (1U << 3)
#endif

// io_uring_params::features: recv and send take IORING_RECVSEND_BUNDLE.
// Linux 6.10.
#ifndef IORING_FEAT_RECVSEND_BUNDLE
#define IORING_FEAT_RECVSEND_BUNDLE (1U << 14)
#endif

// sqe->ioprio of a recv with IOSQE_BUFFER_SELECT: one completion may fill
// several provided buffers; cqe->res is the total, the CQE names the first
// buffer and the rest are the ring entries that followed it. Linux 6.10.
#ifndef IORING_RECVSEND_BUNDLE
#define IORING_RECVSEND_BUNDLE (1U << 4)
#endif

// io_uring_buf_reg::flags (liburing 2.3 calls that u16 `pad`): the ring's
// buffers are consumed in part, each completion continuing where the last one
// in that buffer ended. Linux 6.12.
#ifndef IOU_PBUF_RING_INC
#define IOU_PBUF_RING_INC 2
#endif

// On a completion from an incremental ring: the buffer is not used up, the
// kernel will put more into it, so it must not be given back yet. Linux 6.12.
#ifndef IORING_CQE_F_BUF_MORE
#define IORING_CQE_F_BUF_MORE (1U << 4)
#endif

// sqe->ioprio of IORING_OP_SEND / SEND_ZC: sqe->addr points at an iovec array
// and sqe->len counts its entries (a writev without a msghdr). Linux 6.17.
// No feature bit announces it: a kernel without it fails the SQE with EINVAL
// (probed once in Ring::open, see ring_setup.cc).
#ifndef IORING_SEND_VECTORIZED
#define IORING_SEND_VECTORIZED (1U << 5)
#endif

// io_uring_enter flag: this wait does not count as iowait (the thread sleeps
// as if idle). Linux 6.15; announced by IORING_FEAT_NO_IOWAIT.
#ifndef IORING_ENTER_NO_IOWAIT
#define IORING_ENTER_NO_IOWAIT (1U << 7)
#endif
#ifndef IORING_FEAT_NO_IOWAIT
#define IORING_FEAT_NO_IOWAIT (1U << 17)
#endif

// io_uring_register opcode IORING_REGISTER_PBUF_STATUS (Linux 6.8): the
// kernel's head of a provided-buffer ring, i.e. how far it has consumed.
// An enum member in newer headers (not a macro #ifndef could test), so it gets
// a name of our own; the argument struct likewise (io_uring_buf_status).
inline constexpr unsigned kDuetRegisterPbufStatus = 26;
struct DuetBufStatus {
  __u32 buf_group;  // in: the buffer group
  __u32 head;       // out: the kernel's head
  __u32 resv[8];
};

// IORING_OP_URING_CMD on a socket: sqe->cmd_op names the command. A
// setsockopt(2) through the ring, for sockets with no descriptor (direct
// descriptors): level and optname in sqe->addr's two halves, optlen in
// sqe->file_index, a pointer to optval in sqe->addr3. Linux 6.7.
#ifndef SOCKET_URING_OP_SETSOCKOPT
#define SOCKET_URING_OP_SETSOCKOPT 3
#endif
