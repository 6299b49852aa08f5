#include "apps/http/http_connection.h"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "apps/http/router.h"
#include "core/log.h"

namespace duet::http {

// How a file body goes out: Transport::readFile + send, one chunk at a time.
//
// The core API is backend-neutral: Connection::send() takes bytes, which the
// reactor writes with write/writev and the proactor submits as IORING_OP_SEND.
// A chunk is read with Transport::readFile, which the server maps onto
// EventLoop::readFile: a ring read on the proactor, a worker thread's pread
// on the reactors, so a page-cache miss never stalls the loop and the other
// connections on it (--file-io loop keeps the old pread on the loop thread,
// for comparison). One read is in flight per connection; the next starts
// when it has been sent and the output is below streamHighWater, so memory
// per streaming connection is bounded by about streamHighWater + one chunk,
// whatever the file size, and backpressure falls out of the output buffer.
//
// --file-io sendfile goes the other way: the head is sent and the body
// handed to Transport::sendFile (Connection::sendFile) whole, with no
// stream state here at all. It saves the copy of every byte from the page
// cache into our chunk and out of it again (sendfile on the reactors), the
// chunk's memory, and a thread hop per chunk; see respond().

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
  return !parser_.inRequest() && waiting_.empty() && !stream_ &&
         transport_.pendingOutputBytes() == 0;
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
  HttpResponse response = request.errorStatus != 0 ? errorResponse(request.errorStatus)
                                                   : context_.router->handle(request);
  const bool keepAlive =
      request.keepAlive && !request.upgrade && !response.close && request.errorStatus == 0;
  const bool head = request.method == Method::Head && request.errorStatus == 0;

  std::string out;
  ResponseWriter::write(response, keepAlive, request.isHttp10(), head, transport_.date(), out);
  lastActivity_ = transport_.now();
  if (!keepAlive) stopParsing_ = true;

  if (response.file && !head && response.file->length > 0 && response.status != 304) {
    if (transport_.sendsFiles()) {
      // --file-io sendfile: the head goes now and the body after it, straight
      // from the file. Nothing to stream: the body is pending output until
      // the kernel has it, so later responses wait behind it (outputHasRoom)
      // and onWriteComplete moves us on. The price: the head is out before a
      // byte of the body was read, so a body that fails to read can no
      // longer be answered 500 and its connection is cut (as after a failed
      // later chunk, below); the file was opened and measured just now.
      send(std::move(out));
      transport_.sendFile(shareFd(std::move(response.file->fd)), response.file->offset,
                          response.file->length);
      pendingSeen_ = transport_.pendingOutputBytes();
      logAccess(request, response.status, response.file->length);
      return keepAlive;
    }
    // The head waits for the body's first chunk (see FileStream).
    auto stream = std::make_unique<FileStream>();
    stream->file = shareFd(std::move(response.file->fd));
    stream->offset = response.file->offset;
    stream->length = response.file->length;
    stream->head = std::move(out);
    stream->status = response.status;
    stream->keepAlive = keepAlive;
    stream->http10 = request.isHttp10();
    if (context_.accessLog) stream->request = std::move(request);
    stream_ = std::move(stream);
    again_ = true;  // advance() goes round once more to start pumping it
    return keepAlive;
  }
  send(std::move(out));
  logAccess(request, response.status, head ? 0 : response.contentLength());
  return keepAlive;
}

void HttpConnection::logAccess(const HttpRequest& request, int status, std::uint64_t bodyBytes) {
  if (context_.accessLog) context_.accessLog(transport_.peerName(), request, status, bodyBytes);
}

void HttpConnection::pumpStream() {
  const HttpLimits& limits = context_.limits;
  int chunks = 0;
  while (stream_ && !stream_->reading && transport_.pendingOutputBytes() < limits.streamHighWater) {
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
    FileStream& stream = *stream_;
    const auto want =
        static_cast<std::size_t>(std::min<std::uint64_t>(limits.streamChunkBytes, stream.length));
    stream.reading = true;
    // The callback may run inside this call (a read on the loop thread) or
    // later; either way it sends the chunk. Inside, this loop goes on by
    // itself (and still yields after streamChunksPerTurn); later, the
    // callback moves the connection on with advance().
    readCompletesHere_ = true;
    transport_.readFile(stream.file, stream.offset, want, [this, want](FileReadResult result) {
      onChunkRead(want, std::move(result));
    });
    readCompletesHere_ = false;
  }
  // Otherwise a read is in flight (its completion resumes us), or the output
  // is above streamHighWater (onWriteComplete does).
}

void HttpConnection::onChunkRead(std::size_t asked, FileReadResult result) {
  if (closed_ || !stream_) return;
  FileStream& stream = *stream_;
  stream.reading = false;
  if (result.error != 0 || result.bytes.size() < asked) {
    failStream(result, asked);
    return;
  }
  stream.offset += asked;
  stream.length -= asked;
  if (!stream.headSent) {
    // Head and first chunk in one send: a small file is one write, as before.
    stream.headSent = true;
    std::string out = std::move(stream.head);
    out += result.bytes;
    send(std::move(out));
    const std::uint64_t total = stream.length + asked;
    logAccess(stream.request, stream.status, total);
  } else {
    send(std::move(result.bytes));
  }
  if (stream.length == 0) {
    stream_.reset();
    lastActivity_ = transport_.now();
  }
  if (!readCompletesHere_) advance();
}

// The body cannot be read as promised: a read error, a file that shrank after
// its length was announced, or a reader refusing work (EBUSY).
void HttpConnection::failStream(const FileReadResult& result, std::size_t asked) {
  FileStream& stream = *stream_;
  const std::string why = result.error != 0
                              ? std::strerror(result.error)
                              : "file shrank (" + std::to_string(result.bytes.size()) + " of " +
                                    std::to_string(asked) + " bytes)";
  if (!stream.headSent) {
    // Nothing of this response has gone out: answer it honestly instead.
    // EBUSY: the server is overloaded (503, try again); anything else is our
    // failure (500). The response is complete, so the connection goes on.
    const int status = result.error == EBUSY ? 503 : 500;
    DUET_LOG(Warn) << "http: " << transport_.peerName() << ": reading the file failed (" << why
                   << "); " << status;
    HttpResponse error = errorResponse(status);
    if (status == 503) error.addHeader("Retry-After", "1");
    std::string out;
    ResponseWriter::write(error, stream.keepAlive, stream.http10, /*forHead=*/false,
                          transport_.date(), out);
    const HttpRequest request = std::move(stream.request);
    stream_.reset();
    send(std::move(out));
    logAccess(request, status, error.body.size());
    lastActivity_ = transport_.now();
    if (!readCompletesHere_) advance();
    return;
  }
  // Part of the body has gone out with a Content-Length we can no longer
  // honour: the only honest signal left is to cut the connection (the client
  // sees a short body).
  DUET_LOG(Warn) << "http: " << transport_.peerName() << ": reading the file being sent failed ("
                 << why << "); closing the connection";
  stream_.reset();
  closed_ = true;
  transport_.forceClose();
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
      DUET_LOG(Info) << "http: " << transport_.peerName()
                     << ": peer not reading its responses; closing";
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
    const bool headersLate = !parser_.headersComplete() && requestStarted_ &&
                             now - requestStartedAt_ >= limits.headerTimeout;
    const bool bodyStalled =
        parser_.headersComplete() && !continueOwed_ && now - lastInputAt_ >= limits.headerTimeout;
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
