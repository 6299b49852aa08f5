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
