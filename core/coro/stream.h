// Stream: a connection as a coroutine sees it.
//
//   for (;;) {
//     const IoStatus got = co_await s.read();          // bytes are in s.input()
//     if (got != IoStatus::Ok) break;
//     const IoStatus sent = co_await s.write(std::move(s.input()));
//     if (sent != IoStatus::Ok) break;
//   }
// (Results bound before they are tested: see task.h on g++ 12.)
//
// read()  resumes once the connection's input Buffer holds bytes (Ok; they
//         stay there until you consume them), or once the connection has
//         closed and every byte is consumed (Closed: end of stream, a reset, an
//         error, or the server closing it -- closeReason() says which).
// write() sends, then resumes once the kernel has every byte
//         (pendingOutputBytes() == 0: at once if it took them all, else at
//         onWriteComplete), or with Closed if the connection closed first.
//         So one coroutine never has more than one write's worth of output
//         waiting in our buffer, whatever the peer does: that is the
//         back-pressure the callback API gets from the high-water mark.
//         A single write larger than the mark still crosses it (the mark
//         is counted, onHighWaterMark is not needed).
//
// Input back-pressure: while nobody awaits read() (the coroutine waits in a
// write or a sleep), input keeps arriving into the Buffer up to
// kReadAheadBytes; beyond that the connection stops reading from the socket
// until the next read(), so a peer that never stops sending fills its own TCP
// window, not our memory.
//
// Copies are cheap and share one connection: a second coroutine may write
// while the first reads (at most one reader and one writer await at a time).
// Loop thread only, like the connection's callbacks.
#pragma once

#include <cassert>
#include <coroutine>
#include <cstddef>
#include <memory>
#include <string_view>
#include <type_traits>
#include <utility>

#include "core/connection.h"
#include "core/coro/task.h"

namespace duet::coro {

enum class IoStatus { Ok, Closed };

namespace detail {

// Who awaits this connection right now, and what to tell them. The
// connection's callbacks (core/coro/serve.cc) resume them. Everything a
// suspended read or write needs lives here or in the awaiting frame's
// promise, never in the awaiter object (see PromiseBase::withdrawWait).
struct StreamWaiters {
  std::coroutine_handle<> reader;
  PromiseBase* readerPromise = nullptr;
  std::coroutine_handle<> writer;
  PromiseBase* writerPromise = nullptr;
  IoStatus writeStatus = IoStatus::Ok;
  bool handlerEnded = false;  // nobody will read again: input is discarded

  // Bytes arrived, or the connection closed.
  void wakeReader() {
    const std::coroutine_handle<> h = std::exchange(reader, {});
    std::exchange(readerPromise, nullptr)->clearWait();
    h.resume();
  }
  // Output drained (Ok), or the connection closed (Closed).
  void wakeWriter(IoStatus status) {
    writeStatus = status;
    const std::coroutine_handle<> h = std::exchange(writer, {});
    std::exchange(writerPromise, nullptr)->clearWait();
    h.resume();
  }
  // The awaiting frame was destroyed while suspended here.
  static void withdrawReader(void* self) {
    auto* w = static_cast<StreamWaiters*>(self);
    w->reader = {};
    w->readerPromise = nullptr;
  }
  static void withdrawWriter(void* self) {
    auto* w = static_cast<StreamWaiters*>(self);
    w->writer = {};
    w->writerPromise = nullptr;
  }
};

}  // namespace detail

// Unread input beyond which the connection stops reading until the next read().
inline constexpr std::size_t kReadAheadBytes = 64 * 1024;

// co_await stream.read(). Holds only pointers: it may be copied or moved.
class ReadAwaiter {
 public:
  ReadAwaiter(Connection& conn, detail::StreamWaiters& waiters)
      : conn_(&conn), waiters_(&waiters) {}

  // Bytes already waiting, or the connection already over: no suspension.
  bool await_ready() const noexcept {
    return !conn_->inputBuffer().empty() || conn_->disconnected();
  }
  template <class Promise>
  void await_suspend(std::coroutine_handle<Promise> waiting) {
    static_assert(std::is_base_of_v<detail::PromiseBase, Promise>,
                  "read() is awaited from a coro::Task");
    assert(!waiters_->reader && "two coroutines reading one connection");
    waiters_->reader = waiting;
    waiters_->readerPromise = &waiting.promise();
    waiting.promise().setWait(&detail::StreamWaiters::withdrawReader, waiters_);
    // Reading may have stopped at kReadAheadBytes; ask again (a no-op once
    // the peer has finished).
    if (!conn_->isReading()) conn_->startReading();
  }
  IoStatus await_resume() const noexcept {
    return conn_->inputBuffer().empty() ? IoStatus::Closed : IoStatus::Ok;
  }

 private:
  Connection* conn_;
  detail::StreamWaiters* waiters_;
};

// co_await stream.write(...). Sends in await_ready, so the bytes (or the
// Buffer) it refers to are handed over before any suspension.
class WriteAwaiter {
 public:
  WriteAwaiter(Connection& conn, detail::StreamWaiters& waiters, std::string_view data)
      : conn_(&conn), waiters_(&waiters), data_(data) {}
  WriteAwaiter(Connection& conn, detail::StreamWaiters& waiters, Buffer& owned)
      : conn_(&conn), waiters_(&waiters), owned_(&owned) {}

  // Sends here, and suspends only if the kernel did not take every byte.
  bool await_ready() {
    if (!conn_->connected()) {
      if (owned_) owned_->retrieveAll();  // given up even when refused, as send(Buffer&&) does
      waiters_->writeStatus = IoStatus::Closed;
      return true;
    }
    if (owned_) {
      conn_->send(std::move(*owned_));
    } else {
      conn_->send(data_);
    }
    if (conn_->pendingOutputBytes() == 0) {
      waiters_->writeStatus = conn_->disconnected() ? IoStatus::Closed : IoStatus::Ok;
      return true;
    }
    return false;
  }
  template <class Promise>
  void await_suspend(std::coroutine_handle<Promise> waiting) {
    static_assert(std::is_base_of_v<detail::PromiseBase, Promise>,
                  "write() is awaited from a coro::Task");
    assert(!waiters_->writer && "two coroutines writing one connection at once");
    waiters_->writer = waiting;
    waiters_->writerPromise = &waiting.promise();
    waiting.promise().setWait(&detail::StreamWaiters::withdrawWriter, waiters_);
  }
  IoStatus await_resume() const noexcept { return waiters_->writeStatus; }

 private:
  Connection* conn_;
  detail::StreamWaiters* waiters_;
  std::string_view data_;
  Buffer* owned_ = nullptr;
};

class Stream {
 public:
  Stream(ConnectionPtr conn, std::shared_ptr<detail::StreamWaiters> waiters)
      : conn_(std::move(conn)), waiters_(std::move(waiters)) {}

  ReadAwaiter read() { return {*conn_, *waiters_}; }
  // The bytes are copied into the connection's output (or straight to the kernel).
  WriteAwaiter write(std::string_view data) { return {*conn_, *waiters_, data}; }
  // The Buffer is given up whole (empty afterwards): a proactor sends it without a copy.
  WriteAwaiter write(Buffer&& data) { return {*conn_, *waiters_, data}; }

  // What read() found: consume what you use, leave the rest for later.
  Buffer& input() { return conn_->inputBuffer(); }
  void shutdown() { conn_->shutdown(); }  // FIN once output is flushed; reads go on
  void close() { conn_->forceClose(); }   // now, dropping pending output
  // After a Closed: why. PeerFinished (end of stream), PeerReset, Error, or
  // Local (closed on our side: close(), the server stopping, idle eviction).
  Connection::CloseReason closeReason() const { return conn_->closeReason(); }
  const ConnectionPtr& connection() const { return conn_; }
  EventLoop& loop() const { return conn_->loop(); }

 private:
  ConnectionPtr conn_;
  std::shared_ptr<detail::StreamWaiters> waiters_;
};

}  // namespace duet::coro
