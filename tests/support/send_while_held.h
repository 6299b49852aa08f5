// Makes "every client's bytes arrive in the same loop iteration" happen on
// purpose instead of by chance. Sending from many clients while the loop runs
// leaves it to the scheduler how many of them the loop sees at once, so a
// test that needs a CQ overflow or an empty buffer ring would fail now and
// then on a busy machine. Here the loop thread is held in a task while the
// clients send, and let go only once the server's sockets have acknowledged
// every byte (checked on each client: nothing left unacknowledged), so all of
// it is waiting in the server's receive queues when the loop runs again.
#pragma once

#include <string>
#include <vector>

#include "tests/support/raw_client.h"
#include "tests/support/server_harness.h"

namespace duet::test {

// Sends payloads[i] on clients[i] while `server`'s loop thread is held; the
// clients must be connected and accepted already. Returns when the loop has
// been let go. False (after letting it go) if a client could not send, or
// its bytes were not all acknowledged in time; *why says which.
bool sendAllWhileLoopHeld(ServerHarness& server, std::vector<RawClient>& clients,
                          const std::vector<std::string>& payloads, std::string* why = nullptr);

}  // namespace duet::test
