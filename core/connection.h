// Connection: one TCP connection as the application sees it, whatever the
// backend. The backend-neutral half (state machine, callbacks, high-water mark,
// half-close and close ordering) lives here once; a backend subclass
// (ReactorConnection, UringConnection) does the reading and writing.
//
// Threading: a connection belongs to one loop. Its state and buffers are
// touched only on that loop's thread, and every callback runs there.
// send(), shutdown(), forceClose(), startReading() and stopReading() may be
// called from any thread: off the loop thread they hop onto it.
//
// Lifetime: owned by shared_ptr. The owner (TcpServer, TcpClient) keeps one
// reference while it is open; the backend keeps one for as long as any
// operation is in flight on the socket, so the object outlives every I/O.
//
// Who owns what. Each fact has one owner, and the backend asks core instead
// of keeping a copy:
//   state (open, closing, closed)   core: state()            backends test disconnected()
//   the application wants input     core: isReading()        the reactor's read interest and
//                                                            the proactor's armed recv follow it
//   the socket                      core: a SocketHandle (a descriptor, or a slot in the
//                                   backend's own table: io_uring direct descriptors),
//                                   closed only by closeSocket(), which the backend calls
//                                   once its I/O on it is over; a slot goes back through
//                                   the backend's SocketSlots hook
//   pending output                  the backend (it alone knows what the kernel holds)
//
// The backend half is a family of io*() hooks that core calls on the loop
// thread, and core's state decides which of them may run:
//
//   state          entered by                              io hooks core may call
//   Connecting     construction                            none
//   Connected      start()                                 ioStartReading, ioStopReading,
//                                                          ioWrite, ioWriteOwned, ioSendFile
//   Disconnecting  shutdown(), forceClose(), or the        the same (pending output still
//                  peer's FIN while output is pending      flushes), then ioShutdownWrite
//   Disconnected   closeInLoop() (every close ends here)   ioClose, exactly once; then none
//
// Closing, from the outside: forceClose() (any thread, queued so the caller's
// callback finishes first) and closeInLoop() (loop thread, at once: for owners
// tearing down). Both end in closeInLoop(), which calls ioClose() and then
// onConnection(down).
#pragma once

#include <any>
#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "core/adaptive_read_size.h"
#include "core/buffer.h"
#include "core/event_loop.h"
#include "core/held_output.h"
#include "core/inet_address.h"

namespace duet {

struct ConnectionCallbacks {
  // Connection up (connected() true) and down (false).
  std::function<void(const ConnectionPtr&)> onConnection;
  // Bytes arrived; consume what you can from the Buffer and leave the rest.
  std::function<void(const ConnectionPtr&, Buffer&)> onMessage;
  // Output that had to wait in our buffer has now all reached the kernel.
  // Never inside send(): it runs from the loop's I/O handling when the kernel
  // takes the last byte (queued if that happens inside a send()). A send()
  // the kernel took whole at once does not call back: check
  // pendingOutputBytes() == 0 after send() for that case. This keeps the
  // common small reply free of a callback per message.
  std::function<void(const ConnectionPtr&)> onWriteComplete;
  // Pending output crossed the high-water mark upwards (queued; once per crossing).
  std::function<void(const ConnectionPtr&, std::size_t pendingBytes)> onHighWaterMark;
};
using ServerCallbacks = ConnectionCallbacks;

class Connection : public std::enable_shared_from_this<Connection> {
 public:
  // In the order a connection goes through them, never backwards (asserted in
  // connection.cc); Disconnecting is skipped by a close straight from Connected.
  enum class State : std::uint8_t { Connecting, Connected, Disconnecting, Disconnected };

  Connection(EventLoop& loop, SocketHandle socket, const InetAddress& local,
             const InetAddress& peer);
  virtual ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // ---- Any thread ----
  // Refused, silently, unless connected: after shutdown() or a close the bytes
  // have nowhere to go.
  void send(std::string_view data);  // copies when called off the loop thread
  void send(std::string&& data);
  void send(const char* text) { send(std::string_view(text)); }  // literals: no ambiguity
  // The Buffer is given up: it ends empty whatever happens, sent or refused
  // (closing, closed, write side shut), so a caller that sends its input
  // buffer (an echo) never finds refused bytes piling up in it.
  void send(Buffer&& data);
  // Sends `length` bytes of `file` from `offset`, in order with what was
  // sent before and after it, without reading them into our memory where
  // the backend can: the reactor sends them straight from the page cache
  // with sendfile(2) (a worker thread reads a range in first when the cache
  // lacks it, so the loop never waits for the disk); the proactor, which has
  // no sendfile, reads them with the loop's readFile (ring reads) a chunk at
  // a time and sends those (see connection.cc). The bytes count as pending
  // output (high-water mark, onWriteComplete) but not against the output
  // cap, which limits memory. A file that ends before `length` bytes, or
  // fails to read, closes the connection (with a log line saying so): its
  // peer has been promised bytes that will never come. Refused, like send(),
  // unless connected. The SharedFd is held until the range is sent or the
  // connection closes.
  void sendFile(SharedFd file, std::uint64_t offset, std::uint64_t length);
  void shutdown();    // half-close (FIN) once pending output is flushed; reading goes on
  void forceClose();  // close now, dropping pending output
  void startReading();
  void stopReading();  // backpressure: stop taking input until startReading()

  State state() const { return state_.load(std::memory_order_acquire); }
  bool connected() const { return state() == State::Connected; }
  bool disconnected() const { return state() == State::Disconnected; }

  // ---- Immutable, any thread ----
  EventLoop& loop() const { return loop_; }
  std::uint64_t id() const { return id_; }
  const InetAddress& local() const { return local_; }
  const InetAddress& peer() const { return peer_; }
  // The socket's descriptor; -1 once closed, and always -1 for a socket the
  // backend keeps in its own table (io_uring direct descriptors: no
  // descriptor exists in the process).
  int fd() const { return socket_.fd(); }

  // ---- Loop thread ----
  std::any& context() { return context_; }
  Buffer& inputBuffer() { return input_; }
  // Output the kernel has not taken yet: bytes held in memory by the backend
  // and by core, plus the unsent part of files given to sendFile() (which
  // stay in the page cache, not in our memory, until sent).
  std::size_t pendingOutputBytes() const {
    return bufferedOutputBytes() + held_.bytes() + static_cast<std::size_t>(unsentFileBytes());
  }
  // When bytes last moved: input arrived, or the kernel took output (idle eviction).
  TimePoint lastActivity() const { return lastActivity_; }
  // The application wants input (startReading/stopReading); false once closed.
  bool isReading() const { return reading_; }
  // What ended the connection (or is ending it: a FIN is recorded while our
  // last output still flushes). The first cause wins.
  enum class CloseReason : std::uint8_t {
    None,          // still open
    PeerFinished,  // the peer's FIN: end of stream
    PeerReset,     // the peer reset it or became unreachable (sockets::isPeerError)
    Error,         // any other socket error
    Local,         // closed on our side: forceClose, the owner, idle eviction, the output cap
  };
  CloseReason closeReason() const { return closeReason_; }

  // Set by the owner before start().
  void setCallbacks(std::shared_ptr<const ConnectionCallbacks> callbacks) {
    callbacks_ = std::move(callbacks);
  }
  void setHighWaterMark(std::size_t bytes) { highWaterMark_ = bytes; }
  // Pending output beyond this closes the connection (a peer that never reads
  // must not grow our memory without bound). 0: no cap.
  void setMaxOutputBytes(std::size_t bytes) { maxOutputBytes_ = bytes; }
  // Called once, after onConnection(down): the owner drops its reference here.
  void setCloseHandler(std::function<void(const ConnectionPtr&)> handler) {
    closeHandler_ = std::move(handler);
  }

  // Loop thread: state Connected, onConnection(up), start reading.
  void start();
  // Loop thread: close right now (not queued like forceClose()). For owners
  // tearing down (TcpServer stop/destructor); onConnection(down) runs inside.
  // Every close, whatever started it, ends here.
  void closeInLoop();

  // Connection objects alive in this process: tests check it returns to zero.
  static std::size_t liveCount() { return liveCount_.load(std::memory_order_relaxed); }

 protected:
  // ---- What a backend implements: the io hooks (loop thread; see the table above) ----
  // Bytes given to ioWrite() that the kernel has not taken yet.
  virtual std::size_t bufferedOutputBytes() const = 0;
  // The application wants input from now on (isReading() is already true) / no
  // longer wants it (already false). Input that still arrives is held until
  // ioStartReading() again.
  virtual void ioStartReading() = 0;
  virtual void ioStopReading() = 0;
  // Write what the kernel takes now, or queue it behind pending output. Report
  // with outputQueued()/outputDrained(), a failure with sendFailed(); never
  // call user code directly (this runs inside the application's send()).
  virtual void ioWrite(std::string_view data) = 0;
  // The same for a Buffer the caller gives up (send(Buffer&&)); `data` is left
  // empty. A backend whose sends must own their bytes until the kernel is done
  // (the proactor) takes the storage instead of copying it.
  virtual void ioWriteOwned(Buffer& data) {
    ioWrite(data.view());
    data.retrieveAll();
  }
  // Whether bytes sent so far have yet to reach the kernel, so a FIN or the
  // close after the peer's FIN must wait for outputDrained(). Usually the
  // same as pending output; a reactor that gathers a read handler's sends
  // holds those too (they are not pending: it offers them before the read is over).
  virtual bool hasUnsentOutput() const { return bufferedOutputBytes() > 0; }
  // Files (sendFile). A backend that can send a file range straight from the
  // page cache says so here and implements ioSendFile(); the others get
  // core's read-and-send (readFile a chunk, ioWrite it). Core calls
  // ioSendFile() when sendingFile() starts, only once every byte before it
  // has reached the kernel (hasUnsentOutput() false), and gives the backend
  // no other output until it is done. The backend reports progress with
  // fileBytesSent() (the last byte ends the file) or fileSendFailed().
  virtual bool sendsFilesItself() const { return false; }
  virtual void ioSendFile() {}
  // Pending output is empty: send FIN (shutdown(SHUT_WR) or its io_uring form).
  virtual void ioShutdownWrite() = 0;
  // The connection is Disconnected: stop all I/O on the socket, and call
  // closeSocket() once nothing can touch it any more. After this no report
  // (deliverInput, peerClosed, ...) may arrive. A reactor unregisters and
  // closes at once; a proactor cancels what is in flight and closes the socket
  // when the cancellations complete (its ops keep the object alive till then).
  virtual void ioClose() = 0;

  // ---- What a backend calls (loop thread) ----
  // Bytes were appended to inputBuffer(): counts them and calls onMessage.
  void deliverInput(std::size_t bytes);
  // Pending output went from `before` to `after` bytes: high-water mark, cap.
  void outputQueued(std::size_t before, std::size_t after);
  // Every queued byte reached the kernel: onWriteComplete, and a pending shutdown proceeds.
  void outputDrained();
  // The kernel took `bytes` of our output. Progress in either direction is
  // activity: a peer that only reads (a long download) is not idle.
  void bytesSent(std::size_t bytes);
  // The peer sent FIN: nothing more to read. Flushes pending output, then closes.
  void peerClosed();
  // A socket error (read or write): logged, counted, and the connection closes.
  void socketFailed(int error, const char* during);
  // A write inside ioWrite() failed. Logged and counted like
  // socketFailed(), but the close is queued like forceClose(): ioWrite()
  // runs inside the application's send(), whose caller must not see
  // onConnection(down) run in the middle of its own callback. Later sends are refused.
  void sendFailed(int error);

  // The file being sent (what is left of it), or null.
  const FileRange* sendingFile() const { return sendingFile_ ? &*sendingFile_ : nullptr; }
  // The kernel took `bytes` more of sendingFile(). The last byte ends it, and
  // what was held behind it goes on: this may send, call onWriteComplete
  // (queued inside a send), or start the next file; return right after it.
  void fileBytesSent(std::size_t bytes);
  // The file could not be sent: `error` from reading it, or 0 when it ended
  // before the length promised. Logged; the connection closes (queued, as
  // sendFailed()).
  void fileSendFailed(int error);

  // The backend's I/O on the socket is over (after ioClose()): close the
  // descriptor, once. `abortive`: SO_LINGER 0 first, so the kernel resets the
  // connection and drops unsent bytes instead of lingering on a dead peer.
  void closeSocket(bool abortive = false);
  bool socketOpen() const { return static_cast<bool>(socket_); }
  // Descriptor or slot: what the backend's operations name.
  const SocketHandle& socket() const { return socket_; }

  LoopStats& stats() { return loop_.stats(); }

  // ---- Buffer storage, lent by the loop (core/spare_buffers.h) ----
  // A connection's Buffers hold no storage while they are empty, so an idle
  // connection costs no heap memory. Filling one from malloc and freeing it
  // after every message churned the heap (glibc trimmed it, and the pages
  // faulted back in: ~3 page faults per 16 KiB message on the proactor). So
  // a Buffer about to be filled borrows warm storage from the loop's size
  // classes, and a Buffer that empties returns it there.
  //
  // An empty Buffer without storage borrows some: as much as the loop keeps
  // warm for a read of unknown size (64 KiB where it has it). A Buffer that
  // has storage keeps it.
  void borrowSpareStorage(Buffer& buffer) { loop_.spareBuffers().lendTo(buffer); }
  // The same, sized for this connection's next read: as much as its recent
  // reads asked for (AdaptiveReadSize), freshly allocated once they have been
  // filling their storage.
  void borrowSpareStorage(Buffer& buffer, const AdaptiveReadSize& readSize) {
    loop_.spareBuffers().lendForRead(buffer, readSize.capacity(), readSize.grown());
  }
  // An empty Buffer gives its storage back (kept for the next borrower if it
  // fits the loop's spares, freed otherwise); a Buffer holding bytes keeps it.
  void returnSpareStorage(Buffer& buffer) { loop_.spareBuffers().takeFrom(buffer); }
  // Whether this connection streams large messages, so the loop's spares may
  // keep more storage while it does (SpareBuffers::streamingStarted). The
  // backend says so; closing the connection says it stopped.
  void noteStreaming(bool streaming) {
    if (streaming == streaming_) return;
    streaming_ = streaming;
    if (streaming) {
      loop_.spareBuffers().streamingStarted();
    } else {
      loop_.spareBuffers().streamingStopped();
    }
  }

 private:
  void sendInLoop(std::string_view data);
  void sendInLoop(Buffer& data);
  void sendFileInLoop(FileRange file);
  bool canSend() const;
  // Output held behind a file, or the file itself: sends must queue behind it.
  bool holdsOutput() const { return sendingFile_.has_value() || !held_.empty(); }
  std::uint64_t unsentFileBytes() const {
    return (sendingFile_ ? sendingFile_->length : 0) + held_.fileBytes();
  }
  // Total pending output grew from `before` to `after` (high-water mark, cap).
  void noteOutputGrew(std::size_t before, std::size_t after);
  // Hands held output to the backend, in order, up to the next file
  // (started once the bytes ahead of it are out).
  void releaseHeldOutput();
  void startFile(FileRange file);
  void fileDone();
  // Core's read-and-send for backends without sendsFilesItself().
  void readFileChunk();
  void fileChunkRead(std::size_t asked, FileReadResult result);
  // Every byte reached the kernel: onWriteComplete, a pending FIN or close.
  void finishDrain();
  // Connected -> Disconnecting (any thread); false if not Connected.
  bool beginDisconnecting();
  void shutdownInLoop();
  void logSocketError(int error, const char* during);
  void noteCloseReason(CloseReason why) {
    if (closeReason_ == CloseReason::None) closeReason_ = why;
  }
  bool outputIsPending() const { return hasUnsentOutput() || holdsOutput(); }

  EventLoop& loop_;
  const std::uint64_t id_;
  SocketHandle socket_;
  const InetAddress local_;
  const InetAddress peer_;
  std::atomic<State> state_{State::Connecting};
  bool reading_ = false;                         // the application wants input
  bool ioStarted_ = false;                       // start() ran: the backend may be asked to read
  bool peerFinished_ = false;                    // read EOF: close once output is flushed
  bool streaming_ = false;                       // counted in the loop's streaming connections
  CloseReason closeReason_ = CloseReason::None;  // set once, by the first cause
  bool shutdownRequested_ = false;               // app asked for a half-close
  bool writeShutdown_ = false;                   // our FIN sent
  bool overflowed_ = false;                      // output cap exceeded: closing
  bool sendBroken_ = false;                      // a write in send() failed: closing
  bool outputWaited_ = false;                    // output sat in the buffer since the last drain
  bool insideSend_ = false;               // the application's send() is on the stack (ioWrite runs)
  int highWaterCallsQueued_ = 0;          // onHighWaterMark calls queued, not run yet
  std::optional<FileRange> sendingFile_;  // the file being sent: what is left of it
  HeldOutput held_;                       // sent after sendingFile_, waiting for it
  bool fileChunkReading_ = false;         // core's read-and-send: a readFile is in flight
  std::size_t movingFileBytes_ = 0;       // ...and the chunk it read, inside its ioWrite()
  bool releasing_ = false;                // releaseHeldOutput() is on the stack
  bool releaseAgain_ = false;             // ...and was asked to go round once more
  std::size_t highWaterMark_ = 64 * 1024 * 1024;
  std::size_t maxOutputBytes_ = 0;
  TimePoint lastActivity_;
  Buffer input_;
  std::any context_;
  std::shared_ptr<const ConnectionCallbacks> callbacks_;
  std::function<void(const ConnectionPtr&)> closeHandler_;

  static std::atomic<std::size_t> liveCount_;
};

}  // namespace duet
