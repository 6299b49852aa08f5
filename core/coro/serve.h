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
// Measured (server CPU per 128 B echo, coroutines / callbacks, the two
// servers alternating 0.25 s slices on CPU 0, duet-load on CPU 1, 6 s each,
// three runs on a machine busy with other builds, so +-5% is noise):
//   epoll  100 conns 1.038 0.959 1.054    1,000 conns 1.032 0.968 0.972
//   uring  100 conns 1.044 0.994 0.992    1,000 conns 1.055 0.983 0.961
// i.e. no difference this method can see (7-10 us per message on that busy
// machine). Command, per backend B and connection count C:
//   duet-echo --backend B --api callbacks  --port PA --cpu 0 &
//   duet-echo --backend B --api coroutines --port PB --cpu 0 &
//   duet-load --port PA,PB --server-pid <pids> --slice 0.25 -c C -s 128 -d 6 --cpu 1
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
