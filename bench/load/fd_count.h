// How many descriptors this process has open: a test hook (--trace-fds) that
// shows connections are closed when they should be.
#pragma once

namespace duetload {

// Entries of /proc/self/fd, not counting the one used to read it; -1 if unreadable.
int openDescriptorCount();

}  // namespace duetload
