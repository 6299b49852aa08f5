// HttpConnection: the HTTP/1.1 protocol of one connection, bytes in ->
// response bytes out, with no socket in sight.
//
// It talks to its connection through the small Transport interface, which
// the server implements over duet::Connection and the tests implement with a
// string. So everything here (pipelining, keep-alive, limits, timeouts,
// streaming with backpressure) is unit-tested without a network, fed one byte
// at a time or in random splits.
//
// The life of a request:
//
//   input bytes --RequestParser--> HttpRequest --Router--> HttpResponse
//        |                              |                        |
//   (left in the Buffer            waiting_ queue           ResponseWriter -> send()
//    while we are busy)         (while a response is         file body -> FileStream:
//                                still being written)        Transport::readFile + send,
//                                                            chunk by chunk
//
// Responses go out strictly in request order. When a response cannot be
// written yet (a file is still streaming, or the output is above its high
// water mark), newly parsed requests wait in waiting_. When maxPipelined of
// them wait, we stop reading the socket; the client's bytes stay in the kernel
// until we catch up. This bounds a connection's memory whatever the client does.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "apps/http/http_limits.h"
#include "apps/http/http_request.h"
#include "apps/http/http_response.h"
#include "apps/http/request_parser.h"
#include "core/buffer.h"
#include "core/file_read.h"
#include "core/timer_queue.h"

namespace duet::http {

class Router;

// What HttpConnection needs from its connection. All calls happen on the
// connection's loop thread.
class Transport {
 public:
  virtual ~Transport() = default;
  virtual Buffer& input() = 0;                 // bytes received, not yet consumed
  virtual void send(std::string&& bytes) = 0;  // never blocks; queues what the kernel won't take
  virtual std::size_t pendingOutputBytes() const = 0;
  virtual void shutdown() = 0;    // FIN once the output is flushed
  virtual void forceClose() = 0;  // close now (the close is reported later)
  virtual void stopReading() = 0;
  virtual void startReading() = 0;
  virtual void defer(std::function<void()> task) = 0;  // run later on this loop, if still open
  virtual TimePoint now() const = 0;
  // The Date header's value for a response made now (RFC 9110 6.6.1). From the
  // transport, like now(), so a test or fuzz harness can hold it still: the
  // wall clock would make the answer, and the code paths taken, vary.
  virtual std::string_view date() = 0;
  virtual std::string peerName() const = 0;  // for the access log
  // Reads `length` bytes of `file` at `offset` for a response body; `done`
  // gets them (fewer only at the end of the file) or an errno, EBUSY meaning
  // "refused, overloaded". It may run inside this call or later on the loop;
  // later, only while the connection is open. This default reads right here,
  // on the calling (loop) thread: duet-http --file-io loop, and the tests'
  // transports. The server's transport asks the loop instead (readFile:
  // ring reads or worker threads), so a slow disk never stalls the loop.
  virtual void readFile(const SharedFd& file, std::uint64_t offset, std::size_t length,
                        FileReadCallback done) {
    done(readFileBlocking(file->get(), offset, length));
  }
  // Whether file bodies go out with sendFile() (the server's transport under
  // --file-io sendfile) rather than streamed chunk by chunk with readFile().
  virtual bool sendsFiles() const { return false; }
  // Sends `length` bytes of `file` from `offset` after what was sent before,
  // as Connection::sendFile does: the bytes count in pendingOutputBytes()
  // until the kernel has them, and a file that turns out shorter cuts the
  // connection. Only called when sendsFiles().
  virtual void sendFile(const SharedFd& /*file*/, std::uint64_t /*offset*/,
                        std::uint64_t /*length*/) {}
};

// One line per answered request, when enabled (--access-log).
using AccessLogFn = std::function<void(const std::string& peer, const HttpRequest& request,
                                       int status, std::uint64_t bodyBytes)>;

// What every connection of a server shares (read-only after start).
struct HttpContext {
  const Router* router = nullptr;
  HttpLimits limits;
  AccessLogFn accessLog;  // empty: no access log
};

class HttpConnection {
 public:
  HttpConnection(Transport& transport, const HttpContext& context);
  ~HttpConnection();
  HttpConnection(const HttpConnection&) = delete;
  HttpConnection& operator=(const HttpConnection&) = delete;

  // Bytes were appended to transport.input().
  void onInput();
  // The output drained (Connection's onWriteComplete): stream on, answer queued requests.
  void onWriteComplete();
  // Called periodically (a per-loop sweep): enforces the timeouts.
  void onTimer();
  // The connection closed: release the file being streamed, forget queued requests.
  void onClosed();

  // What the tests and the fuzz replay (tests/fuzz/http_replay.h) observe.
  std::size_t waitingRequests() const { return waiting_.size(); }
  bool streaming() const { return stream_ != nullptr; }
  bool idle() const;

 private:
  // A response whose body is (a range of) a file. Its head waits here until
  // the first chunk has been read, and goes out with it: if that read fails,
  // the client still gets an honest status (500, or 503 when the reader is
  // overloaded) instead of a 200 with a body cut short.
  struct FileStream {
    SharedFd file;             // shared with a read in flight
    std::uint64_t offset = 0;  // next byte to read
    std::uint64_t length = 0;  // bytes still to send
    std::string head;          // the response head, until it is sent
    bool headSent = false;
    bool reading = false;   // a readFile is in flight
    int status = 200;       // of the head (200 or 206)
    bool keepAlive = true;  // for the error response that may replace the head
    bool http10 = false;
    HttpRequest request;  // for the access log, written when the status is known
  };

  void advance();
  bool parseStep();
  bool outputHasRoom() const;
  bool canAnswerNow() const;
  bool respond(HttpRequest& request);
  void pumpStream();
  void onChunkRead(std::size_t asked, FileReadResult result);
  void failStream(const FileReadResult& result, std::size_t asked);
  void logAccess(const HttpRequest& request, int status, std::uint64_t bodyBytes);
  void failRequest(int status);
  void send(std::string&& bytes);
  void noteOutputProgress();

  Transport& transport_;
  const HttpContext& context_;
  RequestParser parser_;
  std::vector<HttpRequest> waiting_;    // parsed, not answered yet (in order)
  std::unique_ptr<FileStream> stream_;  // the response body being streamed, if any

  TimePoint requestStartedAt_{};  // first byte of the request being parsed
  TimePoint lastInputAt_{};
  TimePoint lastActivity_{};     // last request answered or output taken by the peer
  std::size_t pendingSeen_ = 0;  // pending output when we last sent or looked
  TimePoint lingerDeadline_{};

  bool requestStarted_ = false;  // requestStartedAt_ is valid
  bool stopParsing_ = false;     // a close is due after the queued responses
  bool shutdownSent_ = false;    // our FIN is on its way
  bool readingPaused_ = false;   // stopReading() in effect (pipelining cap)
  bool continueOwed_ = false;    // a "100 Continue" to send once earlier responses are out
  bool pumpDeferred_ = false;    // a stream turn is queued on the loop
  bool readCompletesHere_ =
      false;                // inside Transport::readFile: a result now is pumpStream's to follow
  bool advancing_ = false;  // re-entrancy guard for advance()
  bool again_ = false;      // advance() was asked to run again while running
  bool closed_ = false;
};

}  // namespace duet::http
