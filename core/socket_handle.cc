#include "core/socket_handle.h"

#include <sys/socket.h>

namespace duet {

void SocketHandle::close(bool abortive) {
  if (table_) {
    std::exchange(table_, nullptr)->closeSlot(slot_, abortive);  // moved out first: closes once
    return;
  }
  if (!fd_) return;
  if (abortive) {
    // The kernel resets the connection and drops unsent bytes instead of
    // lingering on a peer that may never acknowledge them.
    const linger reset{1, 0};
    ::setsockopt(fd_.get(), SOL_SOCKET, SO_LINGER, &reset, sizeof reset);
  }
  fd_.reset();
}

}  // namespace duet
