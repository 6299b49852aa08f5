// What the kernel tells us when an operation finishes, and who is told.
//
// In a completion-based engine nothing "becomes ready": we hand the kernel a
// whole operation (accept, recv, send...) and later it hands back one or more
// completions (CQEs). Each carries the 64-bit user_data we attached to the
// submission (see op_table.h for how we encode it), a result (bytes, a new fd,
// or -errno) and flags. This file holds the small value types for that.
#pragma once

#include <cstdint>

#include "proactor/uring_compat.h"

namespace duet {

// Every kind of operation the proactor submits. Stored in the top byte of the
// user_data so a completion can be routed before any table look-up, and
// checked against the slot so a stale or mismatched completion is dropped.
enum class OpKind : std::uint8_t {
  Untracked = 0,  // cancel requests and the like: their result is not needed
  Wake,           // a wake-up CQE: MSG_RING from another ring, or our own NOP
  WakeRead,       // the eventfd read kept armed for cross-thread wake-ups
  MsgRingSent,    // our side of a MSG_RING sent to another loop
  LostCheck,      // a cancel asking whether an operation is still in the kernel,
                  // after completions were dropped (UringLoop::reconcileAfterDroppedCompletions)
  Accept,
  AcceptReady,  // a poll on the listener while out of descriptors
  Recv,
  Send,
  Connect,
  SocketHandedIn,     // a socket another loop handed to us by MSG_RING (socket_handoff.h)
  SocketHandoffSent,  // our side of such a MSG_RING: only its failure completes
  FileRead,           // EventLoop::readFile (uring_file_read.h)
  AcceptDirect,       // an accept into the ring's fixed-file table: res is a slot, not a descriptor
  SlotHandedIn,     // a direct socket another ring sent into our table (IORING_MSG_SEND_FD): res is
                    // its slot
  SlotHandoffSent,  // our side of such a MSG_RING: only its failure completes
  SlotHandoffClosed,  // the close of our slot linked behind it
  Shutdown,    // a direct socket's FIN (IORING_OP_SHUTDOWN): its slot stays until this completes
  SlotClosed,  // the close of a direct socket's slot: free in the kernel's table from here on
};

const char* opKindName(OpKind kind);

// One completion, copied out of the CQ ring so the ring slot can be given back
// to the kernel before any handler runs.
struct Completion {
  std::int32_t res = 0;
  std::uint32_t flags = 0;
  // Not from the kernel: the loop made this final completion (-ECANCELED) for
  // an operation whose own was dropped (UringLoop::reconcileAfterDroppedCompletions).
  bool synthesized = false;

  // The operation stays armed and will complete again (multishot, or a
  // SEND_ZC whose notification is still to come). Without it, this is the last.
  bool more() const { return flags & IORING_CQE_F_MORE; }
  // The second completion of a SEND_ZC: the kernel has let go of the buffer.
  bool notification() const { return flags & IORING_CQE_F_NOTIF; }
  // The kernel picked a provided buffer (recv with IOSQE_BUFFER_SELECT).
  bool hasBuffer() const { return flags & IORING_CQE_F_BUFFER; }
  std::uint16_t bufferId() const {
    return static_cast<std::uint16_t>(flags >> IORING_CQE_BUFFER_SHIFT);
  }
  // Incremental buffer ring: the kernel will put more into this buffer.
  bool bufferMore() const { return flags & IORING_CQE_F_BUF_MORE; }
  // A recv: the socket still had data after this one.
  bool socketNonEmpty() const { return flags & IORING_CQE_F_SOCK_NONEMPTY; }
};

struct RawCompletion {
  std::uint64_t userData = 0;
  Completion completion;
};

// Anything that owns operations in flight: a connection, an acceptor, a pending
// connect, the waker. The op table holds a shared_ptr to the handler for as
// long as the operation is in flight, which is what keeps the object (and any
// memory the kernel may still write to) alive until its last completion.
class CompletionHandler {
 public:
  virtual ~CompletionHandler() = default;
  virtual void onCompletion(OpKind kind, const Completion& completion) = 0;
};

}  // namespace duet
