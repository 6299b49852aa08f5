// What duet-echo does with a connection, written as a coroutine (--api
// coroutines). Compare with echo_callbacks.h: the same bytes go the same way
// through the same engine; what differs is who remembers where a connection
// is. There, the engine calls back and the connection's state (reading or
// not) says where it is; here, the place where the coroutine is suspended is
// the state.
//
// Backpressure: write() resumes only once the kernel has the bytes, and the
// coroutine reads nothing meanwhile, so a client that sends faster than it
// reads fills its own TCP window; no high-water callback is needed.
#pragma once

#include <utility>

#include "core/coro/serve.h"

namespace duet::echo {

inline coro::Task<void> echoConnection(coro::Stream conn) {
  for (;;) {
    // Each result is bound before it is tested: g++ 12 miscompiles a
    // co_await inside an if/while condition (core/coro/task.h).
    const coro::IoStatus got = co_await conn.read();  // bytes are in conn.input()
    if (got != coro::IoStatus::Ok) break;             // end of stream, or closed
    // Hands the bytes over whole, as the callback echo does.
    const coro::IoStatus sent = co_await conn.write(std::move(conn.input()));
    if (sent != coro::IoStatus::Ok) break;
  }
}

inline ConnectionCallbacks coroutineCallbacks() { return coro::serve(echoConnection); }

}  // namespace duet::echo
