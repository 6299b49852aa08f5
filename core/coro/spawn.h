// spawn(): starts a Task<void> that nobody awaits -- a connection's coroutine,
// a background job -- and owns its frame until it ends.
//
// The spawned coroutine (the root) starts at once and runs on the calling
// thread until its first suspension; spawn() then returns. It must be called
// on a loop thread and everything it awaits resumes on that same thread.
//
// Who owns a suspended root: whatever it waits on will resume it (a
// connection resumes its reader and writer when it closes, a timer when it
// fires). When the coroutine ends, its frame destroys itself (final_suspend
// does not suspend). The waits that can end without a resume are a timer or
// a file read dropped by a loop being destroyed: that drop destroys the root
// (core/coro/timer_wait.h, core/coro/read_file.h), so a loop destroyed under
// sleeping or reading coroutines leaks nothing.
//
// An exception escaping the task is logged (one line, Error) and the
// coroutine ends: it is the end of that one job, not of the server.
#pragma once

#include <cstddef>

#include "core/coro/task.h"

namespace duet::coro {

void spawn(Task<void> task);

// Spawned coroutines that have not ended yet, this process: tests check it
// returns to zero (no frame leaked), as they do for Connection::liveCount().
std::size_t liveSpawnedCount();

}  // namespace duet::coro
