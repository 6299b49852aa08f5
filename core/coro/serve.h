// serve(): one coroutine per connection, on any TcpServer.
//
//   Task<void> echo(Stream s) {
//     while (co_await s.read() == IoStatus::Ok)
//       if (co_await s.write(std::move(s.input())) != IoStatus::Ok) break;
//   }
//   TcpServer server(loop, options, coro::serve(echo));
//
// When a connection comes up, `handler(stream)` is spawned on the
// connection's loop and runs until its first co_await. When the handler
// returns, the connection is half-closed (shutdown(): FIN once output is
// flushed) and input that still arrives is dropped; if it throws, the error
// is logged and the connection closed.
// When the connection closes first (peer, error, server stopping or being
// destroyed), a pending read() or write() resumes with IoStatus::Closed; the
// coroutine's frame holds the Connection, so nothing it touches is freed
// under it.
//
// ---- Design: awaiting is built on the callback API, in core ----
//
// The awaiters are resumed from the ordinary ConnectionCallbacks: onMessage
// resumes the reader, onWriteComplete the writer, onConnection(down) both.
// One implementation serves every backend (epoll, poll, select, io_uring),
// and everything the callback path guarantees -- gathered writes on the
// reactor, one send SQE per read on the proactor, the output cap, idle
// eviction, graceful stop -- holds for coroutines unchanged.
//
// The alternative, awaiters that talk to the backend directly, maps neatly on
// a proactor (a recv completion resumes the coroutine) but a reactor then
// needs try-then-wait in every awaiter (read until EAGAIN, then register
// interest and suspend), a second implementation of flow control, and twice
// the tests. It could save the std::function call into onMessage and the
// copy of bytes into the input Buffer; the callback path already reads into
// that Buffer without an extra copy, so what is left is one indirect call
// per event.
//
// The cost, per message of an echo: the callback echo is one std::function
// call (onMessage) that sends. Here the same call looks the Stream's waiters
// up in the connection's context (one std::any_cast), resumes the reader
// (an indirect jump into the frame), the coroutine sends, and suspends again
// in its next read() (a return). No allocation per message: the awaiters live
// in the coroutine frame, allocated once per connection with the Stream's
// state. On the proactor a reply is still in flight when write() checks
// pendingOutputBytes(), so the coroutine also suspends in write() and is
// resumed by onWriteComplete -- which the callback echo receives too.
//
// Measured: the committed full run docs/results/2026-11-30-full-2 (report.md;
// the command in command.txt), "Models side by side": "CPU × callbacks" of
// `epoll-coro` and `uring-coro` (a coroutine server's CPU per message over the
// callback server's on the same backend, per-round pairs) in the cases
// `echo c100 s128` and `echo c1000 s128` -- within the noise on both
// backends, no difference that method can see.
#pragma once

#include <functional>

#include "core/connection.h"
#include "core/coro/stream.h"
#include "core/coro/task.h"

namespace duet::coro {

using ConnectionHandler = std::function<Task<void>(Stream)>;

// The callbacks that run `handler` as each connection's coroutine. They use
// the connection's context() for the Stream's state: a handler must not
// replace it.
ConnectionCallbacks serve(ConnectionHandler handler);

}  // namespace duet::coro
