// ReactorConnection: the reactor half of a Connection. core/Connection keeps
// the state machine and the callbacks; this class does the non-blocking
// reads and writes when the poller says the socket is ready.
//
// Reading: on readiness, readv(2) into the input buffer plus a 64 KiB stack
// spill area (Buffer::readFd), so an idle connection holds no heap buffer
// and one system call can still take a large burst. An empty input buffer
// first borrows warm storage from the loop's spares, as much as this
// connection's recent reads asked for (AdaptiveReadSize: 64 KiB, more once
// reads fill it), so a 256 KiB message waiting whole takes one read.
//
// Writing: outside a read handler, send() tries the kernel at once when
// nothing is queued (no copy); whatever the kernel does not take waits in
// output_, and only then does the connection ask for write readiness. It
// stops asking the moment output_ drains: a level-triggered poller reports an idle socket as
// writable on every wait, so leaving write interest on would spin an idle server at 100% CPU.
//
// Gathering (ReactorOptions::gatherWrites): while the connection handles a read,
// its sends are appended to output_ instead, and written with one system call
// when onMessage returns. Sixteen pipelined responses then cost one write, not
// sixteen, as on the proactor, whose sends queue behind the one in flight. A
// Buffer given up by send(Buffer&&) (an echo's input) becomes output_ itself,
// without a copy, when nothing is gathered yet.
//
// Files (Connection::sendFile): sendfile(2) from the page cache straight to
// the socket, when it is writable, resumed after a partial send like any
// output. A range the page cache lacks is read in by the loop's file-read
// workers first, so the loop never waits for a disk (see continueFile()).
//
// Edge-triggered epoll reports each change of readiness once, so the
// handlers keep reading (or writing) until EAGAIN; a connection that is still
// readable after a fair share of reads re-arms and lets the others run.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "core/adaptive_read_size.h"
#include "core/buffer.h"
#include "core/connection.h"
#include "reactor/channel.h"
#include "reactor/reactor_syscalls.h"

namespace duet {

class ReactorLoop;

class ReactorConnection final : public Connection, private ChannelHandler {
 public:
  ReactorConnection(ReactorLoop& loop, SocketHandle socket, const InetAddress& local,
                    const InetAddress& peer);
  // Unregisters the channel if ioClose() never ran (an owner that dropped an
  // open connection). Must then run on the loop thread.
  ~ReactorConnection() override;

  // Called once by ReactorLoop right after make_shared: the channel's tie
  // needs a shared_ptr to this object, which the constructor cannot have.
  void tieChannel();

  // Bytes the kernel refused; not those gathered during a read handler, which
  // are offered to it before the read is over (see reactor_connection.cc).
  std::size_t bufferedOutputBytes() const override { return output_.readableBytes() - gathered_; }

 protected:
  void ioStartReading() override;
  void ioStopReading() override;
  void ioWrite(std::string_view data) override;
  void ioWriteOwned(Buffer& data) override;
  void ioShutdownWrite() override;
  void ioClose() override;
  bool hasUnsentOutput() const override { return !output_.empty(); }
  bool sendsFilesItself() const override { return true; }
  void ioSendFile() override;

 private:
  void handleReady(unsigned ready) override;
  void handleReadable();
  void handleWritable();
  // deliverInput() with gathering on: sends during onMessage are held, then flushed.
  void deliverGathering(std::size_t bytes);
  void gather(std::string_view data);
  // Writes what was gathered (one send); what the kernel refuses becomes
  // pending output. False if that failed (the connection is closing).
  bool flushGathered();
  // The ungathered write: at once if nothing is queued, else behind the queue.
  void writeOrQueue(std::string_view data);
  // What one send(2) did: the bytes the kernel took (0: its buffer is full),
  // or the error (not EINTR, not EAGAIN) that ended it.
  struct SendResult {
    std::size_t taken = 0;
    int error = 0;
  };
  SendResult sendSome(std::string_view data);
  // Files (sendfile.. see reactor_connection.cc): sends sendingFile() while
  // the socket takes it and the page cache holds it.
  void continueFile();
  // A worker reads [offset, offset + length) so the pages are cached, then continueFile().
  void makeResident(std::uint64_t offset, std::size_t length);
  void madeResident(std::uint64_t offset, std::size_t length, const FileReadResult& result);
  // Asks for more read/write readiness; on the (select-only, normally
  // prevented) refusal, closes instead of hanging.
  void watch(bool ok);

  bool edgeTriggered() const { return channel_.edgeTriggered(); }

  // The poller's registration of our fd: its read interest follows core's
  // isReading(), its write interest "output_ is not empty", its edge-triggered
  // flag the loop's mode. The connection keeps no other copy of those facts;
  // whether we are closed is core's disconnected().
  Channel channel_;
  ReactorSyscalls sys_;  // the loop's: read, send, sendfile and shutdown, each counted
  Buffer output_;  // bytes the kernel has not taken yet; empty (and unallocated) most of the time
  bool gathering_ = false;  // inside deliverGathering(): ioWrite() may append to output_
  std::size_t gathered_ =
      0;  // the last bytes of output_, held back by gathering (all of it, if any)
  AdaptiveReadSize readSize_;  // how much storage the next read borrows
  // Of the file being sent: the end of the range last found in the page
  // cache (sendfile may go up to here without a disk wait), and whether a
  // worker is reading the next range in.
  std::uint64_t residentEnd_ = 0;
  bool makingResident_ = false;
};

}  // namespace duet
