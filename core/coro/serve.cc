#include "core/coro/serve.h"

#include <cassert>
#include <exception>
#include <memory>
#include <utility>

#include "core/coro/spawn.h"
#include "core/log.h"

namespace duet::coro {

namespace {

using Waiters = std::shared_ptr<detail::StreamWaiters>;

detail::StreamWaiters* waitersOf(const ConnectionPtr& conn) {
  auto* held = std::any_cast<Waiters>(&conn->context());
  return held ? held->get() : nullptr;
}

// The spawned root for one connection: the handler, then the connection's end.
Task<void> runConnection(std::shared_ptr<const ConnectionHandler> handler, Waiters waiters,
                         Stream stream) {
  bool failed = false;
  try {
    co_await (*handler)(stream);
  } catch (const std::exception& e) {
    DUET_LOG(Error) << "connection #" << stream.connection()->id()
                    << ": its coroutine threw: " << e.what() << "; closing it";
    failed = true;
  }
  // Nobody reads any more: input that still arrives (the peer has not seen
  // our FIN yet) is dropped instead of piling up in the Buffer.
  waiters->handlerEnded = true;
  stream.input().retrieveAll();
  if (failed) {
    stream.close();
  } else {
    stream.shutdown();  // done with it: FIN after the last reply (a no-op once closed)
  }
}

}  // namespace

ConnectionCallbacks serve(ConnectionHandler handler) {
  auto shared = std::make_shared<const ConnectionHandler>(std::move(handler));
  ConnectionCallbacks cb;
  cb.onConnection = [shared](const ConnectionPtr& conn) {
    if (conn->connected()) {
      auto waiters = std::make_shared<detail::StreamWaiters>();
      conn->context() = waiters;
      spawn(runConnection(shared, waiters, Stream(conn, waiters)));
      return;
    }
    // Down: whoever waits resumes with Closed (read() sees a closed
    // connection, write() gets Closed). The frames keep the waiters alive.
    auto* held = std::any_cast<Waiters>(&conn->context());
    if (!held) return;
    const Waiters waiters = std::move(*held);
    conn->context().reset();
    if (waiters->reader) waiters->wakeReader();
    // Looked up only now: the reader's coroutine may have ended a writer's wait.
    if (waiters->writer) waiters->wakeWriter(IoStatus::Closed);
  };
  cb.onMessage = [](const ConnectionPtr& conn, Buffer& input) {
    // Never empty, even after input held while reading was stopped that the
    // coroutine's read() already took (tests/conformance/no_empty_message_test.cc):
    // an empty Buffer would resume the reader with Closed.
    assert(!input.empty() && "onMessage without input");
    detail::StreamWaiters* waiters = waitersOf(conn);
    if (!waiters) return;
    if (waiters->reader) {
      waiters->wakeReader();
    } else if (waiters->handlerEnded) {
      input.retrieveAll();
    } else if (input.readableBytes() >= kReadAheadBytes && conn->isReading()) {
      conn->stopReading();  // nobody reads: let the peer's window fill, not our memory
    }
  };
  cb.onWriteComplete = [](const ConnectionPtr& conn) {
    detail::StreamWaiters* waiters = waitersOf(conn);
    if (!waiters) return;
    if (waiters->writer) waiters->wakeWriter(IoStatus::Ok);
  };
  return cb;
}

}  // namespace duet::coro
