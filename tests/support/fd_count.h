// Counts this process's open descriptors, so tests can check that every
// socket, eventfd, timerfd and ring they caused was closed again.
#pragma once

namespace duet::test {

int openFdCount();

// Waits (bounded) until openFdCount() drops to `expected` and Connection::liveCount()
// to zero; closing can finish a moment after the last callback on io_uring.
// Returns true if both got there.
bool waitForCleanup(int expectedFds, int timeoutMs = 3000);

}  // namespace duet::test
