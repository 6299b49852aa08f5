#include "apps/http/http_connection.h"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "apps/http/router.h"
#include "core/log.h"

namespace duet::http {

// Why large files go out as pread + send in chunks, not sendfile(2):
//
// The core API is backend-neutral: Connection::send() takes bytes, which the
// reactor writes with write/writev and the proactor submits as IORING_OP_SEND.
// There is no "send this file range" operation, and adding one means two
// implementations (sendfile on the reactor; splice through a pipe, or read +
// send, on io_uring, which has no sendfile opcode). Chunked pread + send works
// unchanged on every backend, and backpressure falls out of the output buffer:
// we read the next chunk only when pendingOutputBytes() is below
// streamHighWater, so memory per streaming connection is bounded by about
// streamHighWater + one chunk, whatever the file size.
//
// What sendfile/splice would save: the copy of every byte from the page cache
// into our user-space chunk and from there into the socket buffer (two copies
// and a page-cache read per chunk become one in-kernel copy), the chunk
// allocation, and one system call per chunk. On loopback that is the
// difference between memory bandwidth twice and once per byte; it matters for
// a file server saturating a NIC, not for this study's request/response work.
//
// pread on the loop thread does block when the page is not cached (a cold
// disk read); a WorkerPool doing the pread and handing the chunk back with
// runInLoop would remove that, at the price of a thread hop per chunk.

HttpConnection::HttpConnection(Transport& transport, const HttpContext& context)
    : transport_(transport), context_(context), parser_(context.limits) {
  lastActivity_ = lastInputAt_ = transport_.now();
}

HttpConnection::~HttpConnection() = default;

bool HttpConnection::outputHasRoom() const {
  return transport_.pendingOutputBytes() < context_.limits.outputHighWater;
}

bool HttpConnection::canAnswerNow() const {
  return waiting_.empty() && !stream_ && !shutdownSent_ && outputHasRoom();
}

bool HttpConnection::idle() const {
  return !parser_.inRequest() && waiting_.empty() && !stream_ && transport_.pendingOutputBytes() == 0;
}

void HttpConnection::onInput() {
  if (closed_) return;
  lastInputAt_ = transport_.now();
  advance();
}

void HttpConnection::onWriteComplete() {
  if (closed_) return;
  lastActivity_ = transport_.now();
  advance();
}

void HttpConnection::onClosed() {
  closed_ = true;
  stream_.reset();  // closes the file
  waiting_.clear();
}

// The one place that moves the connection forward. Every event (input, output
// drained, a deferred stream turn, a timeout) ends up here, so the ordering
// rules live in one function instead of being spread over callbacks.
void HttpConnection::advance() {
  if (closed_) return;
  if (advancing_) {  // e.g. respond() -> send() -> ... -> back here
    again_ = true;
    return;
  }
  advancing_ = true;
  do {
    again_ = false;
    // 1. Answer queued requests, in order, while the output has room.
    while (!waiting_.empty() && !stream_ && !shutdownSent_ && outputHasRoom()) {
      HttpRequest request = std::move(waiting_.front());
      waiting_.erase(waiting_.begin());
      if (!respond(request)) waiting_.clear();  // that answer ends the connection
    }
    // 2. Feed the file being streamed.
    if (stream_) pumpStream();
    if (closed_) break;
    // 3. A "100 Continue" that had to wait for earlier responses.
    if (continueOwed_ && waiting_.empty() && !stream_) {
      continueOwed_ = false;
      if (parser_.inRequest() && !stopParsing_) send(std::string(ResponseWriter::continueLine()));
    }
    // 4. Parse what has arrived, up to the pipelining cap. After a close is
    //    decided, input is read and dropped (lingering close).
    if (stopParsing_) {
      transport_.input().retrieveAll();
    } else {
      while (waiting_.size() < context_.limits.maxPipelined && parseStep()) {
      }
    }
  } while (again_ || (!waiting_.empty() && !stream_ && !shutdownSent_ && outputHasRoom()));

  // 5. Flow control: at the pipelining cap, stop reading until we catch up.
  const bool full = !stopParsing_ && waiting_.size() >= context_.limits.maxPipelined;
  if (full && !readingPaused_) {
    readingPaused_ = true;
    transport_.stopReading();
  } else if (!full && readingPaused_) {
    readingPaused_ = false;
    transport_.startReading();
  }

  // 6. The last response is out of our hands: FIN, and linger for the peer's close.
  if (stopParsing_ && waiting_.empty() && !stream_ && !shutdownSent_ && !closed_) {
    shutdownSent_ = true;
    lingerDeadline_ = transport_.now() + context_.limits.lingerTimeout;
    transport_.shutdown();
  }
  advancing_ = false;
}

// One call of the parser. True when it produced something (a request, an
// error, a 100-continue) and may produce more from the bytes left.
bool HttpConnection::parseStep() {
  Buffer& in = transport_.input();
  if (in.empty()) return false;
  std::size_t consumed = 0;
  const RequestParser::Result result = parser_.parse(in.view(), &consumed);
  in.retrieve(consumed);
  if (parser_.inRequest() && !requestStarted_) {
    requestStarted_ = true;
    requestStartedAt_ = transport_.now();
  }

  switch (result) {
    case RequestParser::Result::NeedMore:
      return false;
    case RequestParser::Result::ContinueExpected:
      // Tell the client to send the body, unless earlier responses are still
      // on their way: the 100 must not overtake them.
      if (waiting_.empty() && !stream_) {
        send(std::string(ResponseWriter::continueLine()));
      } else {
        continueOwed_ = true;
      }
      return true;
    case RequestParser::Result::Request: {
      requestStarted_ = false;
      HttpRequest& request = parser_.request();
      // A request that ends the connection (Connection: close, HTTP/1.0,
      // Upgrade, CONNECT) is the last one parsed, whether it is answered now
      // or queued behind responses still on their way: what follows it is
      // never a request, however the bytes were split or the output paced.
      if (!request.keepAlive) stopParsing_ = true;
      if (canAnswerNow()) {
        respond(request);  // the common case: no copy, no queue
      } else {
        waiting_.push_back(std::move(request));
      }
      parser_.resetRequest();
      return !stopParsing_;
    }
    case RequestParser::Result::Error:
      DUET_LOG(Debug) << "http: " << transport_.peerName() << ": " << parser_.errorStatus() << " "
                      << parser_.errorReason();
      failRequest(parser_.errorStatus());
      return false;
  }
  return false;
}

// Queues an error response in place of the request being parsed; the
// connection closes after it (the framing of what follows is unknown).
void HttpConnection::failRequest(int status) {
  requestStarted_ = false;
  continueOwed_ = false;
  HttpRequest failed;
  failed.errorStatus = status;
  failed.keepAlive = false;
  waiting_.push_back(std::move(failed));
  stopParsing_ = true;
  transport_.input().retrieveAll();
}

// Returns whether the connection stays open after this response.
bool HttpConnection::respond(HttpRequest& request) {
  HttpResponse response = request.errorStatus != 0 ? errorResponse(request.errorStatus) : context_.router->handle(request);
  const bool keepAlive = request.keepAlive && !request.upgrade && !response.close && request.errorStatus == 0;
  const bool head = request.method == Method::Head && request.errorStatus == 0;

  std::string out;
  ResponseWriter::write(response, keepAlive, request.isHttp10(), head, transport_.date(), out);
  send(std::move(out));
  lastActivity_ = transport_.now();

  if (context_.accessLog) context_.accessLog(transport_.peerName(), request, response.status, head ? 0 : response.contentLength());

  if (response.file && !head && response.file->length > 0 && response.status != 304) {
    stream_ = std::make_unique<FileStream>(FileStream{std::move(*response.file)});
    again_ = true;  // advance() goes round once more to start pumping it
  }
  if (!keepAlive) stopParsing_ = true;
  return keepAlive;
}

void HttpConnection::pumpStream() {
  const HttpLimits& limits = context_.limits;
  int chunks = 0;
  while (stream_ && transport_.pendingOutputBytes() < limits.streamHighWater) {
    if (chunks++ == limits.streamChunksPerTurn) {
      // The kernel keeps taking our chunks (a fast reader): yield to the other
      // connections of this loop and come back on the next turn.
      if (!pumpDeferred_) {
        pumpDeferred_ = true;
        transport_.defer([this] {
          pumpDeferred_ = false;
          advance();
        });
      }
      return;
    }
    FileBody& file = stream_->file;
    const std::size_t want = static_cast<std::size_t>(std::min<std::uint64_t>(limits.streamChunkBytes, file.length));
    std::string chunk(want, '\0');
    ssize_t n;
    do {
      n = ::pread(file.fd.get(), chunk.data(), want, static_cast<off_t>(file.offset));
    } while (n < 0 && errno == EINTR);
    if (n <= 0) {
      // A read error, or the file shrank after we announced its length: the
      // response cannot be completed as promised, so the only honest signal
      // left is to cut the connection (the client sees a short body).
      DUET_LOG(Warn) << "http: " << transport_.peerName() << ": reading the file being sent failed ("
                     << (n < 0 ? std::strerror(errno) : "file shrank") << "); closing the connection";
      stream_.reset();
      closed_ = true;
      transport_.forceClose();
      return;
    }
    chunk.resize(static_cast<std::size_t>(n));
    file.offset += static_cast<std::uint64_t>(n);
    file.length -= static_cast<std::uint64_t>(n);
    send(std::move(chunk));
    if (file.length == 0) {
      stream_.reset();
      lastActivity_ = transport_.now();
    }
  }
  // Otherwise the output is above streamHighWater: onWriteComplete resumes us.
}

// Every byte we send goes through here, so pendingSeen_ always includes it.
void HttpConnection::send(std::string&& bytes) {
  transport_.send(std::move(bytes));
  pendingSeen_ = transport_.pendingOutputBytes();
}

// onWriteComplete tells us only that the output drained completely. A slow
// reader (a big download over a thin link) may never let it drain within
// sendTimeout, yet it is reading: less output pending than when we last sent
// or looked means the peer took some, and that is progress too (as the
// engine's idle eviction counts it).
void HttpConnection::noteOutputProgress() {
  const std::size_t pending = transport_.pendingOutputBytes();
  if (pending < pendingSeen_) lastActivity_ = transport_.now();
  pendingSeen_ = pending;
}

void HttpConnection::onTimer() {
  if (closed_) return;
  const TimePoint now = transport_.now();
  const HttpLimits& limits = context_.limits;
  noteOutputProgress();

  if (shutdownSent_) {
    // Lingering close over: the peer had its time to read our answer and close.
    if (now >= lingerDeadline_) {
      closed_ = true;
      transport_.forceClose();
    }
    return;
  }
  // Output waiting and the peer not taking it: nothing else can make progress.
  if (transport_.pendingOutputBytes() > 0 || stream_ || !waiting_.empty()) {
    if (now - lastActivity_ >= limits.sendTimeout) {
      DUET_LOG(Info) << "http: " << transport_.peerName() << ": peer not reading its responses; closing";
      closed_ = true;
      transport_.forceClose();
    }
    return;
  }
  if (stopParsing_) return;

  if (parser_.inRequest()) {
    // Slowloris: the headers must be complete within headerTimeout of the
    // request's first byte, however slowly they trickle in; a body must keep
    // moving. (While a 100 Continue is owed the client is waiting for us.)
    const bool headersLate = !parser_.headersComplete() && requestStarted_ && now - requestStartedAt_ >= limits.headerTimeout;
    const bool bodyStalled = parser_.headersComplete() && !continueOwed_ && now - lastInputAt_ >= limits.headerTimeout;
    if (headersLate || bodyStalled) {
      DUET_LOG(Debug) << "http: " << transport_.peerName() << ": request too slow; 408";
      failRequest(408);
      advance();
    }
    return;
  }
  if (now - std::max(lastActivity_, lastInputAt_) >= limits.keepAliveTimeout) {
    // Idle keep-alive connection: nothing is in flight, so a plain close is safe.
    closed_ = true;
    transport_.forceClose();
  }
}

}  // namespace duet::http
