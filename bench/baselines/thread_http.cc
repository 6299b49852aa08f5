// duet-thread-http: the classic thread-per-connection HTTP/1.1 server, with
// blocking sockets and no framework: GET /hello with keep-alive, answered
// byte for byte like duet-http's /hello. The "before" picture for HTTP.
//
// The model is thread_echo.cc's, and so is everything around one
// connection (accept loop, thread start, refusals, stop, --stats): that is
// thread_per_connection.h and .cc, shared by both. This file is only what
// one connection's thread does:
//
//   main thread:    accept() -> TCP_NODELAY -> pthread_create(serveConnection)
//   per connection: read() -> answer every complete request in what has
//                   arrived -> write() the answers -> read() again, until the
//                   client closes or a request ends the connection
//
// The request reader is written out in the open (see "HTTP" below), because
// in this model parsing is ordinary sequential code: it never has to stop in
// the middle of a head and resume when more bytes arrive, it just reads
// more. The one subtlety it keeps from the event loops is the input buffer:
// a read may bring half a request or several, so the bytes are kept until a
// whole head is there, and what follows a head stays for the next request.
//
// Its stack: 64 KiB (thread_per_connection.cc says why), of which this file
// touches its 20 KiB input buffer, a 4 KiB drain buffer and little more. The
// response is built in a std::string (heap), reused across requests.
//
// What it costs here: the committed full run docs/results/2026-11-30-full-2
// (report.md; the command in command.txt), "Models side by side", the cases
// `http/hello c100`, `http/hello c1000` and `http/hello c10000` (row "thread
// per connection"); thread_echo.cc says what to read there.
//
// Usage: duet-thread-http [--port P] [--cpu C] [--stats] [--max-threads N]
// Prints "listening on PORT" when ready, like duet-raw-epoll.

#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <string>
#include <string_view>

#include "thread_per_connection.h"

namespace {

using threadbaseline::Counters;
using threadbaseline::readSome;
using threadbaseline::writeAll;

// ---- HTTP: just enough of RFC 9110/9112 for GET /hello, read carefully ----
//
// The request reader below answers exactly what duet-http answers for
// /hello (apps/http/router.cc, http_response.cc): the same status lines,
// headers and bodies, byte for byte but the Date. It is deliberately small:
//   - A request head ends at the first CRLFCRLF; it may not exceed kMaxHead
//     bytes (431 and close). Empty lines before a request are skipped
//     (RFC 9112 2.2).
//   - Anything that is not a well-formed request line and header fields is
//     answered 400 and the connection closed: after garbage, where the next
//     request starts is unknown.
//   - A body announced by Content-Length is read and dropped (up to
//     kMaxBody, else 413 and close); Transfer-Encoding is refused with 501
//     and close (no chunked decoder here; duet-http has one).
//   - Keep-alive by default on HTTP/1.1, "Connection: close" honoured;
//     HTTP/1.0 closes unless it asks for keep-alive.
//   - Pipelined requests are answered in order, and every response to the
//     requests one read() brought leaves in one write().
// No timeouts: an idle or slow client simply holds its thread, which is the
// model's weakness on display (duet-http closes idle connections, 408s slow
// heads and bounds its lingering close; only the last is done here).

constexpr size_t kMaxHead = 16 * 1024;  // duet-http: 16 KiB of header fields (HttpLimits)
constexpr size_t kInputBytes =
    20 * 1024;  // on the stack: more than a head, so a read always has room
constexpr uint64_t kMaxBody = 1024 * 1024;
constexpr std::string_view kHelloBody = "Hello, world!\n";  // duet-http's Router::kHelloBody

// RFC 9110 5.6.2: the characters of a token (methods, header names).
bool isTokenChar(unsigned char ch) {
  return std::isalnum(ch) || std::strchr("!#$%&'*+-.^_`|~", ch) != nullptr;
}
bool isToken(std::string_view s) {
  if (s.empty()) return false;
  for (const char ch : s)
    if (ch == '\0' || !isTokenChar(static_cast<unsigned char>(ch))) return false;
  return true;
}
bool equalsNoCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i)
    if (std::tolower(static_cast<unsigned char>(a[i])) !=
        std::tolower(static_cast<unsigned char>(b[i])))
      return false;
  return true;
}
std::string_view trimWhitespace(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}
// Does the comma-separated list (a Connection header's value) hold `token`?
bool listHas(std::string_view list, std::string_view token) {
  while (!list.empty()) {
    const size_t comma = list.find(',');
    if (equalsNoCase(trimWhitespace(list.substr(0, comma)), token)) return true;
    if (comma == std::string_view::npos) break;
    list.remove_prefix(comma + 1);
  }
  return false;
}

// What one request head asks for.
struct Request {
  int errorStatus = 0;  // non-zero: answer this and close
  std::string_view method;
  std::string_view path;  // the target without its query
  bool http10 = false;
  bool keepAlive = true;
  uint64_t bodyBytes = 0;  // Content-Length: read and dropped
};

// `head` runs from the request line to the CRLF ending the last header field
// (the blank line is not included).
Request parseHead(std::string_view head) {
  Request r;
  auto nextLine = [&head]() {
    const size_t end = head.find("\r\n");
    const std::string_view line = head.substr(0, end);
    head.remove_prefix(end == std::string_view::npos ? head.size() : end + 2);
    return line;
  };
  auto bad = [&r](int status) {
    r.errorStatus = status;
    r.keepAlive = false;
    return r;
  };
  // request-line = method SP request-target SP HTTP-version (RFC 9112 3)
  const std::string_view line = nextLine();
  const size_t sp1 = line.find(' ');
  const size_t sp2 = sp1 == std::string_view::npos ? sp1 : line.find(' ', sp1 + 1);
  if (sp2 == std::string_view::npos) return bad(400);
  r.method = line.substr(0, sp1);
  const std::string_view target = line.substr(sp1 + 1, sp2 - sp1 - 1);
  const std::string_view version = line.substr(sp2 + 1);
  if (!isToken(r.method) || target.empty()) return bad(400);
  // CONNECT names host:port, never a path (RFC 9110 9.3.6); with a path it is
  // malformed. Otherwise it asks for a tunnel, which we do not make: 501, as
  // for any method RFC 9110 does not define.
  if (r.method == "CONNECT") return bad(target.front() == '/' ? 400 : 501);
  static constexpr std::string_view kKnownMethods[] = {"GET",    "HEAD",    "POST", "PUT",
                                                       "DELETE", "OPTIONS", "TRACE"};
  if (std::find(std::begin(kKnownMethods), std::end(kKnownMethods), r.method) ==
      std::end(kKnownMethods))
    return bad(501);
  for (const char ch : target)  // visible ASCII only: no spaces, controls or bytes >= 0x80
    if (ch <= ' ' || ch >= 0x7f) return bad(400);
  if (version.size() != 8 || version.substr(0, 5) != "HTTP/" ||
      !std::isdigit(static_cast<unsigned char>(version[5])) || version[6] != '.' ||
      !std::isdigit(static_cast<unsigned char>(version[7])))
    return bad(400);
  if (version[5] != '1') return bad(505);
  r.http10 = version[7] == '0';
  r.keepAlive = !r.http10;
  r.path = target.substr(0, target.find('?'));

  // field-line = field-name ":" OWS field-value OWS (RFC 9112 5)
  int hosts = 0, lengths = 0;
  while (!head.empty()) {
    const std::string_view field = nextLine();
    const size_t colon = field.find(':');
    // No colon, or whitespace before it (RFC 9112 5.1), or a folded line
    // (which starts with whitespace): all 400.
    if (colon == std::string_view::npos || !isToken(field.substr(0, colon))) return bad(400);
    const std::string_view name = field.substr(0, colon);
    const std::string_view value = trimWhitespace(field.substr(colon + 1));
    for (const char ch : value)  // CR, LF, NUL and other controls have no place in a value
      if ((static_cast<unsigned char>(ch) < ' ' && ch != '\t') || ch == 0x7f) return bad(400);
    if (equalsNoCase(name, "host")) {
      ++hosts;
    } else if (equalsNoCase(name, "connection")) {
      if (listHas(value, "close")) r.keepAlive = false;
      else if (r.http10 && listHas(value, "keep-alive")) r.keepAlive = true;
    } else if (equalsNoCase(name, "content-length")) {
      // Digits only, once: two lengths could frame the body two ways.
      if (++lengths > 1 || value.empty() || value.size() > 18) return bad(400);
      for (const char ch : value)
        if (!std::isdigit(static_cast<unsigned char>(ch))) return bad(400);
      r.bodyBytes = std::strtoull(std::string(value).c_str(), nullptr, 10);
      if (r.bodyBytes > kMaxBody) return bad(413);
    } else if (equalsNoCase(name, "transfer-encoding")) {
      return bad(501);
    }
  }
  // HTTP/1.1 requires exactly one Host (RFC 9112 3.2).
  if (!r.http10 && hosts != 1) return bad(400);
  if (r.http10 && hosts > 1) return bad(400);
  return r;
}

const char* reasonPhrase(int status) {
  switch (status) {
    case 200:
      return "OK";
    case 204:
      return "No Content";
    case 400:
      return "Bad Request";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 413:
      return "Content Too Large";
    case 431:
      return "Request Header Fields Too Large";
    case 501:
      return "Not Implemented";
    case 505:
      return "HTTP Version Not Supported";
    default:
      return "Unknown";
  }
}

// The Date header's value, formatted once a second per thread.
std::string_view httpDate() {
  thread_local time_t second = -1;
  thread_local char text[40];
  thread_local size_t length = 0;
  const time_t now = time(nullptr);
  if (now != second) {
    second = now;
    tm t{};
    gmtime_r(&now, &t);
    length = strftime(text, sizeof text, "%a, %d %b %Y %H:%M:%S GMT", &t);
  }
  return {text, length};
}

// Appends one response to `out`, in duet-http's exact layout.
void appendResponse(std::string& out, int status, const Request& r, bool headRequest,
                    std::string_view body, std::string_view allow = {}) {
  const bool noBody = status == 204;
  char number[24];
  out += "HTTP/1.1 ";
  out += std::to_string(status);
  out += ' ';
  out += reasonPhrase(status);
  out += "\r\nServer: duet\r\nDate: ";
  out += httpDate();
  out += "\r\n";
  if (!noBody) {
    out += "Content-Type: text/plain; charset=utf-8\r\nContent-Length: ";
    out.append(number,
               static_cast<size_t>(std::snprintf(number, sizeof number, "%zu", body.size())));
    out += "\r\n";
  }
  if (!r.keepAlive) out += "Connection: close\r\n";
  else if (r.http10) out += "Connection: keep-alive\r\n";
  if (!allow.empty()) {
    out += "Allow: ";
    out += allow;
    out += "\r\n";
  }
  out += "\r\n";
  if (!headRequest && !noBody) out += body;
}

// An error's body is its status line's text, as duet-http's errorResponse().
void appendError(std::string& out, int status, const Request& r, std::string_view allow = {}) {
  const std::string body = std::to_string(status) + " " + reasonPhrase(status) + "\n";
  appendResponse(out, status, r, r.method == "HEAD", body, allow);
}

// The route: /hello, and nothing else.
void answer(const Request& r, std::string& out) {
  if (r.path != "/hello") return appendError(out, 404, r);
  constexpr std::string_view kAllow = "GET, HEAD, OPTIONS";
  if (r.method == "GET" || r.method == "HEAD")
    return appendResponse(out, 200, r, r.method == "HEAD", kHelloBody);
  if (r.method == "OPTIONS") return appendResponse(out, 204, r, false, {}, kAllow);
  appendError(out, 405, r, kAllow);
}

// After the last response: send FIN, then read and drop what the client still
// sends until it closes (or kLinger passes). Closing at once with unread input
// would make the kernel send a reset, which can destroy our response in the
// client's receive buffer before it reads it.
void lingeringClose(int fd, Counters& c) {
  constexpr int kLingerSeconds = 5;
  ++c.syscalls;
  ::shutdown(fd, SHUT_WR);
  timeval tick{1, 0};  // one second per read, so the deadline below is checked
  ++c.syscalls;
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tick, sizeof tick);
  const time_t deadline = time(nullptr) + kLingerSeconds;
  char sink[4096];
  while (time(nullptr) < deadline) {
    ++c.syscalls;
    const ssize_t n = ::read(fd, sink, sizeof sink);
    if (n == 0 || (n < 0 && errno != EINTR && errno != EAGAIN)) break;
  }
}

// One connection, start to end, on its own thread. The caller closes fd.
void serveConnection(int fd, Counters& c) {
  char in[kInputBytes];
  size_t begin = 0, end = 0;  // unread input is in[begin, end)
  uint64_t bodyToDrop = 0;    // of the last request, still to come
  bool closing = false;       // the response that ends the connection is in `out`
  std::string out;
  while (!closing) {
    // 1. Answer every complete request already read.
    for (;;) {
      const uint64_t drop = std::min<uint64_t>(bodyToDrop, end - begin);
      begin += drop;
      bodyToDrop -= drop;
      if (bodyToDrop > 0) break;
      while (end - begin >= 2 && in[begin] == '\r' && in[begin + 1] == '\n')
        begin += 2;  // empty lines
      const std::string_view pending(in + begin, end - begin);
      const size_t blank = pending.find("\r\n\r\n");
      if (blank == std::string_view::npos && pending.size() < kMaxHead)
        break;  // incomplete: read more
      Request r;
      if (blank == std::string_view::npos || blank + 4 > kMaxHead) {
        r.keepAlive = false;
        appendError(out, 431, r);
      } else {
        r = parseHead(pending.substr(0, blank + 2));
        if (r.errorStatus != 0) appendError(out, r.errorStatus, r);
        else answer(r, out);
        ++c.requests;
        begin += blank + 4;
        bodyToDrop = r.bodyBytes;
      }
      if (!r.keepAlive) {
        closing = true;
        break;
      }
    }
    // 2. Send the answers, all in one write.
    if (!out.empty()) {
      if (!writeAll(fd, out.data(), out.size(), c)) break;
      out.clear();
    }
    if (closing) {
      lingeringClose(fd, c);
      break;
    }
    // 3. Wait for more. What is left is less than kMaxHead (else it was
    //    answered above): move it to the front, there is room behind it.
    std::memmove(in, in + begin, end - begin);
    end -= begin;
    begin = 0;
    const size_t n = readSome(fd, in + end, sizeof in - end, c);  // sleeps until the peer sends
    if (n == 0) break;                                            // the peer closed, or reset
    end += n;
  }
}

}  // namespace

int main(int argc, char** argv) {
  return threadbaseline::run(
      {.name = "thread-http",
       .description =
           "duet-thread-http: one blocking thread per connection HTTP/1.1 server (GET /hello)",
       .serveConnection = serveConnection,
       .countsRequests = true},
      argc, argv);
}
