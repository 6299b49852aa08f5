#include "apps/http/http_coroutine.h"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <optional>
#include <string>

#include "apps/http/date_cache.h"
#include "apps/http/request_parser.h"
#include "apps/http/router.h"
#include "core/coro/read_file.h"
#include "core/coro/sleep.h"
#include "core/coro/timeout.h"
#include "core/log.h"

namespace duet::http {

namespace {

using coro::IoStatus;

// A file answer: its head is the tail of `out`, held back until the body's
// first chunk has been read (HttpConnection's FileStream does the same), so
// a read that fails first can still be answered honestly with 500 or 503.
struct FileAnswer {
  FileBody body;
  std::size_t headStart = 0;  // where the head begins in `out`
  int status = 200;           // of the head (200 or 206)
  bool keepAlive = true;      // for the error response that may replace the head
  bool http10 = false;
};

// Appends the answer to `request` to `out`; false if the connection closes
// after it. A file body comes back in *file, to be streamed after `out`, and
// its access-log line is written by sendFile, which knows how it ended.
// (HttpConnection::respond, line for line, minus the queue and the stream
// state: here the caller streams the file before it parses anything else.)
bool answer(HttpRequest& request, const HttpContext& context, const std::string& peer,
            std::string& out, std::optional<FileAnswer>* file) {
  HttpResponse response = request.errorStatus != 0 ? errorResponse(request.errorStatus)
                                                   : context.router->handle(request);
  const bool keepAlive =
      request.keepAlive && !request.upgrade && !response.close && request.errorStatus == 0;
  const bool head = request.method == Method::Head && request.errorStatus == 0;

  const std::size_t headStart = out.size();
  ResponseWriter::write(response, keepAlive, request.isHttp10(), head,
                        DateCache::forThisThread().now(), out);
  if (response.file && !head && response.file->length > 0 && response.status != 304) {
    *file = FileAnswer{std::move(*response.file), headStart, response.status, keepAlive,
                       request.isHttp10()};
    return keepAlive;
  }
  if (context.accessLog)
    context.accessLog(peer, request, response.status, head ? 0 : response.contentLength());
  return keepAlive;
}

// Sends `out` (emptied) and waits until the kernel has every byte. No timer
// here: a peer that stops reading leaves this wait suspended until the
// engine's idle eviction closes the connection (no byte moved for
// keepAliveTimeout; HttpServer sets it), and then it resumes with Closed. A
// slow reader that takes some bytes is not idle, as sendTimeout's progress
// rule has it in the callback version. (withTimeout here cost the proactor,
// where every write waits for its send completion, 1.15-1.19x the callback
// version's CPU per /hello; without it 1.03-1.08x, epoll 1.02-1.05x.)
// False: the connection is closed.
coro::Task<bool> sendAll(coro::Stream& conn, std::string& out) {
  if (out.empty()) co_return true;
  const IoStatus status = co_await conn.write(out);
  out.clear();
  co_return status == IoStatus::Ok;
}

// One chunk of a file body. --file-io async: co_await the loop's readFile
// (a ring read, or a worker thread's pread), and this loop serves its other
// connections meanwhile; --file-io loop: pread right here, on the loop thread.
coro::Task<FileReadResult> readChunk(EventLoop& loop, const SharedFd& file, std::uint64_t offset,
                                     std::size_t want, bool asyncFileReads) {
  if (!asyncFileReads) co_return readFileBlocking(file->get(), offset, want);
  FileReadResult got = co_await coro::readFile(loop, file, offset, want);
  co_return got;
}

// A file body, one chunk at a time: read a chunk, write it, and only when the
// kernel has it read the next. So a connection holds at most one chunk,
// whatever the file size, and a peer that stops reading stops the reads.
// The head and every answer before it are still in `out`: they go out with
// the first chunk, or, if that read fails, with a 500 (503 when the readers
// are full) in the head's place. False: the connection is closed.
coro::Task<bool> sendFile(coro::Stream& conn, FileAnswer file, std::string& out,
                          const HttpContext& context, const HttpRequest& request,
                          const std::string& peer, bool asyncFileReads) {
  const HttpLimits& limits = context.limits;
  const SharedFd fd = shareFd(std::move(file.body.fd));
  std::uint64_t offset = file.body.offset;
  std::uint64_t left = file.body.length;
  bool headSent = false;
  for (int chunks = 1; left > 0; ++chunks) {
    if (chunks % limits.streamChunksPerTurn == 0) {
      // The kernel keeps taking our chunks (a fast reader): let this loop's
      // other connections have a turn. The shortest timer fires on the loop's
      // next round, after their events.
      co_await coro::sleep(conn.loop(), Duration(1));
    }
    const std::size_t want =
        static_cast<std::size_t>(std::min<std::uint64_t>(limits.streamChunkBytes, left));
    FileReadResult chunk = co_await readChunk(conn.loop(), fd, offset, want, asyncFileReads);
    if (chunk.error != 0 || chunk.bytes.size() < want) {
      const std::string why = chunk.error != 0
                                  ? std::strerror(chunk.error)
                                  : "file shrank (" + std::to_string(chunk.bytes.size()) + " of " +
                                        std::to_string(want) + " bytes)";
      if (!headSent) {
        // Nothing of this response has gone out: answer it honestly instead.
        // EBUSY: the server is overloaded (503, try again); anything else is
        // our failure (500). The response is complete: the connection goes on.
        const int status = chunk.error == EBUSY ? 503 : 500;
        DUET_LOG(Warn) << "http: " << conn.connection()->peer().toIpPort()
                       << ": reading the file failed (" << why << "); " << status;
        HttpResponse error = errorResponse(status);
        if (status == 503) error.addHeader("Retry-After", "1");
        out.resize(file.headStart);
        ResponseWriter::write(error, file.keepAlive, file.http10, /*forHead=*/false,
                              DateCache::forThisThread().now(), out);
        if (context.accessLog) context.accessLog(peer, request, status, error.body.size());
        const bool sent = co_await sendAll(conn, out);
        co_return sent;
      }
      // The length was promised in the head: the only honest signal left is
      // to cut the connection (the client sees a short body).
      DUET_LOG(Warn) << "http: " << conn.connection()->peer().toIpPort()
                     << ": reading the file being sent failed (" << why
                     << "); closing the connection";
      conn.close();
      co_return false;
    }
    offset += want;
    left -= want;
    if (!headSent) {
      // Head and first chunk in one write: a small file is one send.
      headSent = true;
      out += chunk.bytes;
      if (context.accessLog) context.accessLog(peer, request, file.status, file.body.length);
      const bool sent = co_await sendAll(conn, out);  // bound first: task.h on g++ 12
      if (!sent) co_return false;
    } else {
      const bool sent = co_await sendAll(conn, chunk.bytes);
      if (!sent) co_return false;
    }
  }
  co_return true;
}

}  // namespace

coro::Task<void> serveHttpConnection(coro::Stream conn, const HttpContext& context,
                                     bool asyncFileReads) {
  const HttpLimits& limits = context.limits;
  EventLoop& loop = conn.loop();
  const std::string peer = context.accessLog ? conn.connection()->peer().toIpPort() : std::string();
  RequestParser parser(limits);
  TimePoint requestStartedAt{};  // first byte of the request being parsed
  std::string out;               // the answers to what one read brought: written together
  bool closing = false;          // the last answer is in `out`

  while (!closing) {
    // 1. Answer every request the input holds, in order.
    Buffer& in = conn.input();
    while (!closing && !in.empty()) {
      const bool wasInRequest = parser.inRequest();
      std::size_t consumed = 0;
      const RequestParser::Result result = parser.parse(in.view(), &consumed);
      in.retrieve(consumed);
      if (parser.inRequest() && !wasInRequest) requestStartedAt = loop.now();
      if (result == RequestParser::Result::NeedMore) break;

      if (result == RequestParser::Result::ContinueExpected) {
        // The client waits for this before it sends the body; it goes out
        // now, behind the answers before it.
        out += ResponseWriter::continueLine();
        if (!co_await sendAll(conn, out)) co_return;
        continue;
      }
      HttpRequest request;
      if (result == RequestParser::Result::Error) {
        // Answer the status in the request's place, then close: where the
        // next request would start is unknown.
        DUET_LOG(Debug) << "http: " << conn.connection()->peer().toIpPort() << ": "
                        << parser.errorStatus() << " " << parser.errorReason();
        request.errorStatus = parser.errorStatus();
        request.keepAlive = false;
        in.retrieveAll();
      } else {
        request = std::move(parser.request());
        parser.resetRequest();
      }
      std::optional<FileAnswer> file;
      closing = !answer(request, context, peer, out, &file);
      if (file) {
        const bool goesOn =
            co_await sendFile(conn, std::move(*file), out, context, request, peer, asyncFileReads);
        if (!goesOn) co_return;
      } else if (out.size() >= limits.outputHighWater) {
        if (!co_await sendAll(conn, out)) co_return;
      }
    }

    // 2. The answers, in one write; the coroutine waits here until the
    //    kernel has them (back-pressure: nothing more is parsed meanwhile).
    if (!co_await sendAll(conn, out)) co_return;
    if (closing) break;

    // 3. Wait for more input. Between requests, a plain wait: a connection
    //    quiet for keepAliveTimeout is closed by the engine's idle eviction
    //    (HttpServer sets it; one sweep per loop) and the read resumes with
    //    Closed. A timer per request would cost more: withTimeout around this
    //    read took the CPU per /hello from 1.00x the callback version's to
    //    1.28x (epoll, 100 connections, alternating runs).
    //    Within a request, its timer: the rest of the head within
    //    headerTimeout of its first byte however slowly it trickles in
    //    (slowloris), and a body that keeps moving.
    std::optional<IoStatus> got;
    if (!parser.inRequest()) {
      got = co_await conn.read();
    } else {
      const Duration limit = parser.headersComplete()
                                 ? limits.headerTimeout
                                 : requestStartedAt + limits.headerTimeout - loop.now();
      if (limit > Duration::zero()) got = co_await coro::withTimeout(loop, conn.read(), limit);
    }
    if (!got) {
      DUET_LOG(Debug) << "http: " << conn.connection()->peer().toIpPort()
                      << ": request too slow; 408";
      HttpRequest late;
      late.errorStatus = 408;
      late.keepAlive = false;
      std::optional<FileAnswer> none;
      answer(late, context, peer, out, &none);
      if (!co_await sendAll(conn, out)) co_return;
      break;
    }
    if (*got == IoStatus::Closed) co_return;
  }

  // 4. Lingering close: FIN after the last answer, then read and drop what
  //    the peer still sends until it closes, for at most lingerTimeout.
  //    Closing at once could turn unread input into a reset that destroys
  //    our last answer before the client read it.
  conn.shutdown();
  const TimePoint lingerEnd = loop.now() + limits.lingerTimeout;
  for (;;) {
    conn.input().retrieveAll();
    const Duration left = lingerEnd - loop.now();
    if (left <= Duration::zero()) break;
    const std::optional<IoStatus> got = co_await coro::withTimeout(loop, conn.read(), left);
    if (!got || *got == IoStatus::Closed) break;
  }
  conn.close();
}

}  // namespace duet::http
