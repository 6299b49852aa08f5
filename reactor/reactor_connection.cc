#include "reactor/reactor_connection.h"

#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cassert>
#include <cerrno>

#include "core/log.h"
#include "core/socket_ops.h"
#include "reactor/reactor_loop.h"

namespace duet {

namespace {

// Edge-triggered: reads per readiness report before yielding to other
// connections (then the channel is re-armed so the rest is not forgotten).
constexpr int kEdgeReadBudget = 16;

// The most output one read handler may gather before it is written anyway:
// beyond this one more system call costs little next to copying the bytes,
// and the connection should not hold more memory than one spare buffer.
constexpr std::size_t kGatherLimit = 64 * 1024;

bool wouldBlock(int error) { return error == EAGAIN || error == EWOULDBLOCK; }

// Files: how much of the file being sent is checked (and, when the page
// cache lacks it, read in by a worker) at a time.
constexpr std::uint64_t kResidentSpan = 1024 * 1024;
// The most one sendfile call may send. Measured once (loopback, 1 MiB
// files, duet-load -c 1, busy machine): one call for the whole MiB left
// each response stalled for milliseconds before its last bytes reached the
// client (p50 3.6 ms against 0.5 ms for read-and-send); 64 KiB calls
// brought it to 0.65 ms. Our guess, not verified: a call that hands the
// kernel a whole MiB holds the socket for all of it, and the peer's ACKs
// wait behind it. With 10 connections sendfile still trails (apps/http/README.md).
constexpr std::uint64_t kSendfileMaxBytes = 64 * 1024;
// sendfile calls per writability report before the other connections' turn.
constexpr int kFileSendBudget = 32;

#ifndef __NR_cachestat
#define __NR_cachestat 451  // Linux 6.5; the same number on every architecture
#endif
// The arguments and result of cachestat(2) (Linux 6.5, <linux/mman.h>),
// which Debian 12's headers (Linux 6.1) do not have yet.
struct CacheStatRange {
  std::uint64_t off;
  std::uint64_t len;
};
struct CacheStat {
  std::uint64_t nrCache;
  std::uint64_t nrDirty;
  std::uint64_t nrWriteback;
  std::uint64_t nrEvicted;
  std::uint64_t nrRecentlyEvicted;
};

// Whether every page of [offset, offset + length) of `fd` is in the page
// cache, asked without touching (so without waiting for) any of them. A
// page past the end of the file is never cached, so a range that runs past
// it answers false, and the worker's read finds the short file. An older
// kernel (ENOSYS) or a file system without a page cache answers false too:
// every range then goes through the worker, which is slower but never blocks.
bool pageCacheHolds(int fd, std::uint64_t offset, std::uint64_t length) {
  static const auto pageSize = static_cast<std::uint64_t>(::sysconf(_SC_PAGESIZE));
  CacheStatRange range{offset, length};
  CacheStat stat{};
  if (::syscall(__NR_cachestat, fd, &range, &stat, 0) != 0) return false;
  const std::uint64_t pages = (offset + length - 1) / pageSize - offset / pageSize + 1;
  return stat.nrCache >= pages;
}

}  // namespace

ReactorConnection::ReactorConnection(ReactorLoop& loop, SocketHandle socket,
                                     const InetAddress& local, const InetAddress& peer)
    : Connection(loop, std::move(socket), local, peer),
      channel_(loop, fd(), *this),
      sys_(loop.sys()) {
  channel_.setEdgeTriggered(loop.edgeTriggered());
}

ReactorConnection::~ReactorConnection() {
  if (channel_.registered()) channel_.remove();
}

void ReactorConnection::tieChannel() { channel_.tie(shared_from_this()); }

void ReactorConnection::watch(bool ok) {
  if (ok) return;
  DUET_LOG(Error) << "connection #" << id() << " from " << peer().toIpPort() << ": the "
                  << loop().mode() << " poller cannot watch fd " << fd() << "; closing it";
  forceClose();
}

// ---------------------------------------------------------------- reading

void ReactorConnection::ioStartReading() {
  assert(!disconnected());
  watch(channel_.enableReading());
}

void ReactorConnection::ioStopReading() {
  assert(!disconnected());
  channel_.disableReading();
}

void ReactorConnection::handleReady(unsigned ready) {
  if (ready & ready::kError) {
    // SO_ERROR both reads and clears the pending error (ECONNRESET, ...).
    const int error = sockets::socketError(fd());
    if (error != 0) {
      socketFailed(error, "poll");
      return;
    }
  }
  bool handled = false;
  // A FIN or hang-up is "readable": read() returns 0 (or the error) and says so.
  if ((ready & (ready::kReadable | ready::kPeerHalfClosed | ready::kHangup)) && isReading()) {
    handled = true;
    handleReadable();
    if (disconnected()) return;
  }
  if ((ready & (ready::kWritable | ready::kHangup | ready::kError)) && channel_.wantsWrite()) {
    handled = true;
    handleWritable();
    if (disconnected()) return;
  }
  if (!handled && (ready & (ready::kHangup | ready::kError))) {
    // A hang-up nobody asked about (should not happen: pollers stop watching
    // fds without interest). Close rather than be woken for it forever.
    const int error = sockets::socketError(fd());
    socketFailed(error != 0 ? error : ECONNRESET, "poll");
  }
}

void ReactorConnection::handleReadable() {
  for (int reads = 0;; ++reads) {
    if (edgeTriggered() && reads == kEdgeReadBudget) {
      // Still readable after a fair share: the kernel will not report it
      // again by itself (no new edge), so ask it to look once more.
      channel_.rearm();
      return;
    }
    int error = 0;
    // An empty Buffer borrows warm storage of the size this connection's
    // reads have asked for (AdaptiveReadSize), so the read lands in it
    // directly rather than in readFd's stack spill area and then a fresh
    // allocation, and a message waiting whole needs one read.
    borrowSpareStorage(inputBuffer(), readSize_);
    const std::size_t room = inputBuffer().readRoom();
    const ssize_t n = sys_.readInto(inputBuffer(), fd(), &error);
    if (n > 0) {
      readSize_.recordRead(static_cast<std::size_t>(n), room);
      deliverGathering(static_cast<std::size_t>(n));  // onMessage: may close us or stop reading
      if (!isReading()) return;  // also false once closed (closeInLoop clears it)
      // Level-triggered: one read per readiness report keeps connections
      // fair; the poller will report the rest on the next wait.
      if (!edgeTriggered()) return;
      continue;
    }
    if (n == 0) {
      // FIN: core stops reading (ioStopReading) so a readable EOF does not
      // wake a level-triggered loop forever, then flushes and closes.
      peerClosed();
      return;
    }
    if (error == EINTR) continue;
    if (wouldBlock(error)) {
      // Drained (the normal end for edge-triggered, whose last read finds
      // nothing). The storage borrowed for that read goes back: an idle
      // connection keeps none (IdleMemoryTest).
      returnSpareStorage(inputBuffer());
      return;
    }
    socketFailed(error, "read");
    return;
  }
}

// ---------------------------------------------------------------- writing

void ReactorConnection::ioWrite(std::string_view data) {
  assert(!disconnected() && !data.empty() &&
         "core sends only non-empty data on an open connection");
  // Gathered only while nothing the kernel refused is queued: behind such
  // bytes a send waits for writability anyway (writeOrQueue queues it).
  if (gathering_ && output_.readableBytes() == gathered_) {
    if (gathered_ + data.size() <= kGatherLimit) {
      gather(data);
      return;
    }
    // Too much to hold back: what was gathered goes first, then these bytes
    // the ordinary way (written at once if the kernel takes them).
    if (!flushGathered()) return;
  }
  writeOrQueue(data);
}

// The one place the connection sends its output: retried on EINTR, and the
// bytes taken reported to core.
ReactorConnection::SendResult ReactorConnection::sendSome(std::string_view data) {
  for (;;) {
    const ssize_t n = sys_.send(fd(), data.data(), data.size());
    if (n >= 0) {
      bytesSent(static_cast<std::size_t>(n));
      return {static_cast<std::size_t>(n), 0};
    }
    const int error = errno;
    if (error == EINTR) continue;
    if (wouldBlock(error)) return {0, 0};
    return {0, error};
  }
}

void ReactorConnection::ioWriteOwned(Buffer& data) {
  // Gathering, with nothing held yet: the caller's storage becomes output_
  // itself (a swap; the caller gets output_'s empty state back), instead of
  // a copy of every byte. An echo then writes a 256 KiB message from the
  // storage it was read into, as a bare loop does. kGatherLimit does not
  // apply: it bounds the copying and the extra memory, and this takes
  // neither. Replies sent after it in the same handler are gathered behind it.
  if (gathering_ && output_.empty()) {
    output_.swap(data);
    gathered_ = output_.readableBytes();
    return;
  }
  ioWrite(
      data.view());  // written straight from the caller's storage, or gathered/queued as any bytes
  data.retrieveAll();
}

void ReactorConnection::writeOrQueue(std::string_view data) {
  std::size_t written = 0;
  if (output_.empty()) {
    // Nothing queued ahead of us, so order allows writing straight away: no
    // copy, no poller round trip.
    const SendResult sent = sendSome(data);
    if (sent.error != 0) {
      sendFailed(sent.error);  // closes from the loop, not inside the caller's send()
      return;
    }
    written = sent.taken;
    if (written == data.size()) {
      outputDrained();  // calls back only if output had been waiting (see core)
      return;
    }
    // A short write means the send buffer is full now; trying again at once
    // would only return EAGAIN. Queue the rest and wait for writability.
  }
  const std::size_t before = output_.readableBytes();
  output_.append(data.substr(written));
  if (!channel_.wantsWrite()) watch(channel_.enableWriting());
  outputQueued(before, output_.readableBytes());
}

// ---------------------------------------------------------------- gathering
//
// Why only while handling a read: that is where several sends per system
// call come from (pipelined requests answered in one onMessage), and its end
// is a point we own, right after deliverInput() returns. Sends from timers or
// queued functors would need a flush at the end of the loop turn, i.e. a list
// of connections with gathered bytes kept by the loop, for output that
// rarely comes in bunches; not worth the extra owner of that state.
//
// Gathered bytes are not pending output: they are offered to the kernel
// before the read is over, as each send() would have been without gathering,
// so everything the application can see stays as it was. pendingOutputBytes()
// leaves them out (a reply the kernel then takes whole reads 0 after send(),
// and calls back no onWriteComplete: connection.h); the high-water mark and
// the output cap see only what the kernel refuses at the flush, as before. Only
// core's ordering asks about them (hasUnsentOutput()): a shutdown() in the
// handler sends its FIN after them.

void ReactorConnection::deliverGathering(std::size_t bytes) {
  if (!loop().options().reactor.gatherWrites) {
    deliverInput(bytes);
    return;
  }
  gathering_ = true;
  deliverInput(bytes);  // onMessage: its sends land in output_
  gathering_ = false;
  if (!disconnected()) flushGathered();
}

void ReactorConnection::gather(std::string_view data) {
  borrowSpareStorage(output_);  // a Buffer with storage keeps it
  output_.append(data);
  gathered_ += data.size();
}

bool ReactorConnection::flushGathered() {
  if (gathered_ == 0) return true;
  assert(output_.readableBytes() == gathered_ &&
         "only gathered bytes in output_ (nothing refused ahead of them)");
  gathered_ = 0;
  const SendResult sent = sendSome(output_.view());
  if (sent.error != 0) {
    // As in writeOrQueue(): the bytes are lost with the connection, which
    // closes from the loop (we may be inside the application's send()).
    output_.retrieveAll();
    returnSpareStorage(output_);
    sendFailed(sent.error);
    return false;
  }
  output_.retrieve(sent.taken);
  if (output_.empty()) {
    returnSpareStorage(output_);
    outputDrained();  // a pending half-close goes out now (no callback: nothing waited)
    return true;
  }
  // The send buffer is full: from here on the rest is ordinary pending
  // output, exactly what the kernel would have refused without gathering.
  watch(channel_.enableWriting());
  outputQueued(0, output_.readableBytes());
  return true;
}

void ReactorConnection::handleWritable() {
  if (sendingFile()) {
    continueFile();
    // The file ended and nothing was queued behind it: stop asking (the
    // idle-CPU rule below). Otherwise its last sendfile hit EAGAIN, or what
    // followed it is queued in output_, and interest stays on.
    if (!disconnected() && !sendingFile() && output_.empty() && channel_.wantsWrite())
      channel_.disableWriting();
    return;
  }
  while (!output_.empty()) {
    const SendResult sent = sendSome(output_.view());
    if (sent.error != 0) {
      socketFailed(sent.error, "write");
      return;
    }
    if (sent.taken == 0) break;  // EAGAIN: wait for the next report
    output_.retrieve(sent.taken);
    // Level-triggered: one write per report; the poller says when there is room again.
    if (!edgeTriggered()) break;
  }
  if (!output_.empty()) return;
  // Drained: stop asking for writability (the idle-CPU rule) and give the
  // memory of a burst back to the loop's spares (or free it).
  channel_.disableWriting();
  returnSpareStorage(output_);
  outputDrained();  // onWriteComplete, a pending half-close, or the close after the peer's FIN
}

// ---------------------------------------------------------------- files
//
// sendfile(2) copies from the page cache to the socket inside the kernel: no
// read into our memory, no second copy out of it. But it is still a read of
// the file on the calling thread, and on a page the cache lacks it sleeps
// until the disk answers, exactly as pread would: the whole loop with it.
// So before the loop sends a range it asks, without waiting, whether the
// cache holds it (cachestat(2)). If not, a worker of the loop's file-read
// pool reads the range (EventLoop::readFile), which brings its pages into
// the cache, and the loop sends it once that is done.
//
// Why a read in the worker and not readahead(2) or posix_fadvise(WILLNEED):
// those only start the reading and return, so the loop would still have to
// poll or guess when it is done, and a file system may ignore them. A read
// that returns is the proof, and also the check that the file still has
// those bytes (a short read: the file shrank, and we fail it here rather
// than block on it). Its price, a copy of the range into a buffer we drop,
// is paid only on a cold range, next to a disk wait that dwarfs it; a warm
// file costs one cachestat per MiB and the sendfiles.
//
// The pages could in principle be evicted between the worker's read and our
// sendfile, microseconds later; the loop would then wait for that one range.
// Under that much memory pressure everything waits anyway.

void ReactorConnection::ioSendFile() {
  residentEnd_ = 0;  // a new file: nothing of it known to be cached
  continueFile();
}

void ReactorConnection::continueFile() {
  for (int sends = 0;; ++sends) {
    if (disconnected() || makingResident_) return;
    const FileRange* file = sendingFile();
    if (!file) return;
    if (sends == kFileSendBudget) {
      // The peer keeps taking it: let the other connections run, and come
      // back on the next report (edge-triggered: ask the kernel to look again).
      if (!channel_.wantsWrite()) watch(channel_.enableWriting());
      if (edgeTriggered()) channel_.rearm();
      return;
    }
    if (file->offset >= residentEnd_) {
      const std::uint64_t span = std::min(file->length, kResidentSpan);
      if (!pageCacheHolds(file->file->get(), file->offset, span)) {
        makeResident(file->offset, static_cast<std::size_t>(span));
        return;
      }
      residentEnd_ = file->offset + span;
    }
    off_t position = static_cast<off_t>(file->offset);
    const std::uint64_t want =
        std::min({residentEnd_ - file->offset, file->length, kSendfileMaxBytes});
    const ssize_t n =
        sys_.sendfile(fd(), file->file->get(), &position, static_cast<std::size_t>(want));
    if (n > 0) {
      // May end the file and go on with what followed it (even a next file,
      // which resets residentEnd_): the loop re-reads everything it uses.
      fileBytesSent(static_cast<std::size_t>(n));
      continue;
    }
    if (n == 0) {
      // The file ended before its range did: it shrank since it was checked.
      fileSendFailed(0);
      return;
    }
    const int error = errno;
    if (error == EINTR) continue;
    if (wouldBlock(error)) {
      if (!channel_.wantsWrite()) watch(channel_.enableWriting());
      return;
    }
    // The socket's errors (EPIPE, ECONNRESET) close like a failed write;
    // anything else came from the file. Either way queued: we may be inside
    // the application's sendFile().
    if (sockets::isPeerError(error)) {
      sendFailed(error);
    } else {
      fileSendFailed(error);
    }
    return;
  }
}

void ReactorConnection::makeResident(std::uint64_t offset, std::size_t length) {
  makingResident_ = true;
  // Nothing to send until the worker is done: a level-triggered poller
  // would report the idle socket writable on every wait meanwhile.
  if (channel_.wantsWrite()) channel_.disableWriting();
  std::weak_ptr<Connection> weak = weak_from_this();
  loop().readFile(sendingFile()->file, offset, length,
                  [weak, offset, length](FileReadResult result) {
                    if (auto self = weak.lock())
                      static_cast<ReactorConnection&>(*self).madeResident(offset, length, result);
                  });
}

void ReactorConnection::madeResident(std::uint64_t offset, std::size_t length,
                                     const FileReadResult& result) {
  makingResident_ = false;
  if (disconnected()) return;
  const FileRange* file = sendingFile();
  if (!file || file->offset != offset)
    return;  // not the range we asked for (cannot happen: one file, one read)
  if (result.error != 0 || result.bytes.size() < length) {
    fileSendFailed(
        result.error);  // EBUSY too: the readers are full, and waiting here would be the loop's
    return;
  }
  residentEnd_ = offset + length;
  continueFile();
}

// ---------------------------------------------------------------- closing

void ReactorConnection::ioShutdownWrite() {
  if (disconnected()) return;
  assert(gathered_ == 0 && "core sends the FIN only after the gathered bytes (hasUnsentOutput())");
  // ENOTCONN: the peer already reset; the read side will find out and close.
  sys_.shutdownWrite(fd());
}

void ReactorConnection::ioClose() {
  if (gathered_ > 0) {
    // Closed from inside the read handler (an owner tearing down): without
    // gathering these bytes would have been written as they were sent, so
    // give them the same one chance before the descriptor goes.
    sys_.send(fd(), output_.peek(), output_.readableBytes());
    gathered_ = 0;
  }
  // Unregister first: once closed, the fd number can be reused by the very
  // next accept, and the poller must not confuse the two.
  channel_.remove();
  output_ = Buffer();
  closeSocket();
}

}  // namespace duet
