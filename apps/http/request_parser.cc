#include "apps/http/request_parser.h"

#include <llhttp.h>

#include <algorithm>
#include <charconv>

namespace duet::http {

struct RequestParser::LlhttpState {
  llhttp_t parser;
};

namespace {

Method methodFromLlhttp(std::uint8_t m) {
  switch (m) {
    case HTTP_GET:
      return Method::Get;
    case HTTP_HEAD:
      return Method::Head;
    case HTTP_POST:
      return Method::Post;
    case HTTP_PUT:
      return Method::Put;
    case HTTP_DELETE:
      return Method::Delete;
    case HTTP_CONNECT:
      return Method::Connect;
    case HTTP_OPTIONS:
      return Method::Options;
    case HTTP_TRACE:
      return Method::Trace;
    case HTTP_PATCH:
      return Method::Patch;
    default:
      return Method::Other;
  }
}

bool isAlpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
bool isDigit(char c) { return c >= '0' && c <= '9'; }
bool isHex(char c) { return isDigit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }

// RFC 3986: unreserved / sub-delims, the characters of a reg-name besides
// pct-encoded ones.
bool isRegNameChar(char c) {
  if (isAlpha(c) || isDigit(c)) return true;
  switch (c) {
    case '-':
    case '.':
    case '_':
    case '~':  // unreserved
    case '!':
    case '$':
    case '&':
    case '\'':
    case '(':
    case ')':
    case '*':
    case '+':  // sub-delims
    case ',':
    case ';':
    case '=':
      return true;
    default:
      return false;
  }
}

// RFC 9110 7.2: Host = uri-host [ ":" port ], and for "http" URIs the host
// must not be empty (RFC 9110 4.2.1). uri-host is an IP-literal in brackets,
// or a reg-name (which also covers IPv4 addresses). No userinfo ("user@").
bool isValidAuthority(std::string_view a) {
  std::size_t i = 0;
  if (!a.empty() && a[0] == '[') {
    const std::size_t close = a.find(']');
    if (close == std::string_view::npos || close == 1) return false;
    for (std::size_t k = 1; k < close; ++k) {
      if (!(isHex(a[k]) || a[k] == ':' || a[k] == '.' || isRegNameChar(a[k]))) return false;
    }
    i = close + 1;
  } else {
    for (; i < a.size() && a[i] != ':'; ++i) {
      if (a[i] == '%') {
        if (i + 2 >= a.size() || !isHex(a[i + 1]) || !isHex(a[i + 2])) return false;
        i += 2;
      } else if (!isRegNameChar(a[i])) {
        return false;
      }
    }
    if (i == 0) return false;  // empty host
  }
  if (i == a.size()) return true;
  if (a[i] != ':') return false;
  return std::all_of(a.begin() + static_cast<std::ptrdiff_t>(i) + 1, a.end(),
                     isDigit);  // port = *DIGIT
}

std::string_view trimTrailingWhitespace(std::string_view s) {
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

}  // namespace

// llhttp calls plain C functions with the parser; `data` points back at us.
struct RequestParser::Callbacks {
  static RequestParser& self(llhttp_t* p) { return *static_cast<RequestParser*>(p->data); }

  static int onMessageBegin(llhttp_t* p) {
    self(p).inMessage_ = true;
    return HPE_OK;
  }
  // The data callbacks only collect: their sizes are bounded by the
  // HeadChecker (which refuses the first byte over a limit), and a verdict
  // taken here would depend on where the bytes were split.
  static int onUrl(llhttp_t* p, const char* at, std::size_t len) {
    self(p).request_.target.append(at, len);
    return HPE_OK;
  }
  static int onHeaderField(llhttp_t* p, const char* at, std::size_t len) {
    self(p).field_.append(at, len);
    return HPE_OK;
  }
  static int onHeaderValue(llhttp_t* p, const char* at, std::size_t len) {
    self(p).value_.append(at, len);
    return HPE_OK;
  }
  static int onUrlComplete(llhttp_t* p) { return self(p).onUrlComplete(); }
  static int onVersionComplete(llhttp_t* p) { return self(p).onVersionComplete(); }
  static int onHeaderValueComplete(llhttp_t* p) { return self(p).onHeaderComplete(); }
  static int onHeadersComplete(llhttp_t* p) { return self(p).onHeadersComplete(); }
  static int onChunkComplete(llhttp_t* p) { return self(p).onChunkComplete(); }
  static int onBody(llhttp_t* p, const char* at, std::size_t len) {
    RequestParser& s = self(p);
    // Chunk data is opaque, so nothing between the byte over the limit and
    // the end of this span could have been refused first: 413 whatever the split.
    s.bodyBytes_ += len;
    if (s.bodyBytes_ > s.limits_.maxBodyBytes) return s.fail(413, "body too large");
    s.request_.body.append(at, len);
    return HPE_OK;
  }
  static int onMessageComplete(llhttp_t* p) {
    RequestParser& s = self(p);
    s.request_.upgrade = p->upgrade != 0;
    // llhttp_should_keep_alive() folds in the version (1.0 closes by default)
    // and the Connection header. CONNECT and Upgrade we answer, then close.
    s.request_.keepAlive = llhttp_should_keep_alive(p) != 0 && !s.request_.upgrade;
    s.inMessage_ = false;
    s.chunkLine_.stop();  // a CONNECT completes at its head, chunked or not
    // Pause after every request: the caller takes them one by one, and bytes
    // of the next request stay in its buffer until it is ready for them.
    return HPE_PAUSED;
  }

  static const llhttp_settings_t& settings() {
    static const llhttp_settings_t s = [] {
      llhttp_settings_t st;
      llhttp_settings_init(&st);
      st.on_message_begin = onMessageBegin;
      st.on_url = onUrl;
      st.on_url_complete = onUrlComplete;
      st.on_version_complete = onVersionComplete;
      st.on_header_field = onHeaderField;
      st.on_header_value = onHeaderValue;
      st.on_header_value_complete = onHeaderValueComplete;
      st.on_headers_complete = onHeadersComplete;
      st.on_chunk_complete = onChunkComplete;
      st.on_body = onBody;
      st.on_message_complete = onMessageComplete;
      return st;
    }();
    return s;
  }
};

RequestParser::RequestParser(const HttpLimits& limits)
    : limits_(limits), llhttp_(std::make_unique<LlhttpState>()), checker_(limits) {
  llhttp_init(&llhttp_->parser, HTTP_REQUEST, &Callbacks::settings());
  llhttp_->parser.data = this;
  // llhttp is built in its strict mode (llhttp.cmake) and none of the
  // llhttp_set_lenient_* switches is on: it refuses Content-Length together
  // with Transfer-Encoding, duplicate Content-Length and "chunked" followed by
  // another coding, the classic request-smuggling vectors. The one leniency
  // we ask for is about versions: llhttp alone refuses anything but 0.9, 1.0,
  // 1.1 and 2.0 as malformed; we want HTTP/1.x for any x (served as 1.1,
  // RFC 9110 2.5) and 505 for another major version (onVersionComplete).
  llhttp_->parser.lenient_flags |= LENIENT_VERSION;
}

RequestParser::~RequestParser() = default;

int RequestParser::fail(int status, const char* reason) {
  errorStatus_ = status;
  errorReason_ = reason;
  llhttp_set_error_reason(&llhttp_->parser, reason);
  return HPE_USER;
}

RequestParser::Result RequestParser::failWith(int status, const char* reason) {
  errorStatus_ = status;
  errorReason_ = reason;
  return Result::Error;
}

// RFC 9112 3.2: which target form goes with which method, and what the
// absolute-form's authority means.
int RequestParser::onUrlComplete() {
  const llhttp_t* p = &llhttp_->parser;
  std::string& target = request_.target;
  if (p->method == HTTP_CONNECT) {  // 3.2.3: authority-form, and only for CONNECT
    if (target.find('/') != std::string::npos || !isValidAuthority(target))
      return fail(400, "CONNECT needs host:port");
    return HPE_OK;
  }
  if (target == "*") {  // 3.2.4: asterisk-form, only for OPTIONS
    return p->method == HTTP_OPTIONS ? HPE_OK : fail(400, "asterisk-form is for OPTIONS only");
  }
  if (!target.empty() && target.front() == '/') return HPE_OK;  // 3.2.1: origin-form

  // 3.2.2: absolute-form, which a server MUST accept. scheme "://" authority
  // path-abempty [ "?" query ]; we serve http and https URIs.
  const std::size_t colon = target.find(':');
  const std::string_view scheme = std::string_view(target).substr(0, colon);
  if (colon == std::string::npos || target.compare(colon, 3, "://") != 0) {
    return fail(400, "request-target in no form a server accepts");
  }
  if (!equalsIgnoreCase(scheme, "http") && !equalsIgnoreCase(scheme, "https"))
    return fail(400, "not an http(s) URI");
  const std::size_t authorityStart = colon + 3;
  const std::size_t pathStart =
      std::min(target.find_first_of("/?#", authorityStart), target.size());
  const std::string_view authority =
      std::string_view(target).substr(authorityStart, pathStart - authorityStart);
  if (!isValidAuthority(authority))
    return fail(400, "invalid authority in an absolute-form target");
  // The host of the target wins over the Host header (RFC 9112 3.2.2, 3.3).
  request_.authority = std::string(authority);
  std::string path = target.substr(pathStart);
  if (path.empty() || path.front() != '/') path.insert(0, "/");
  target = std::move(path);
  absoluteForm_ = true;
  return HPE_OK;
}

int RequestParser::onVersionComplete() {
  const llhttp_t* p = &llhttp_->parser;
  request_.versionMajor = p->http_major;
  request_.versionMinor = p->http_minor;
  // RFC 9110 15.6.6: 505 for a major version we do not support (0.9, 2, 3...).
  if (p->http_major != 1) return fail(505, "HTTP version not supported");
  return HPE_OK;
}

int RequestParser::onHeaderComplete() {
  const llhttp_t* p = &llhttp_->parser;
  HttpHeader field{std::move(field_),
                   std::string(trimTrailingWhitespace(value_))};  // RFC 9110 5.5: no OWS around
  field_.clear();
  value_.clear();
  if (headersComplete_) {  // a trailer field (RFC 9110 6.5.1: never merged into the headers)
    request_.trailers.push_back(std::move(field));
    return HPE_OK;
  }
  if (equalsIgnoreCase(field.name, "host")) {
    // RFC 9112 3.2: more than one Host, or an invalid one, is 400.
    if (hostSeen_) return fail(400, "more than one Host field");
    hostSeen_ = true;
    if (!isValidAuthority(field.value)) return fail(400, "invalid Host field value");
  } else if (equalsIgnoreCase(field.name, "transfer-encoding")) {
    // RFC 9112 6.1: Transfer-Encoding in HTTP/1.0 means faulty framing.
    if (p->http_minor == 0) return fail(400, "Transfer-Encoding in an HTTP/1.0 request");
    // 6.3: "chunked" anywhere but last leaves the body length unknown: 400
    // (llhttp may notice first and says the same). Any coding we do not
    // implement (gzip, compress...) is 501 Not Implemented (6.1).
    bool unsupported = false;
    std::string_view list = field.value;
    while (!list.empty()) {
      const std::size_t comma = list.find(',');
      const std::string_view coding = trimWhitespace(list.substr(0, comma));
      if (!coding.empty()) {
        if (chunkedSeen_) return fail(400, "chunked is not the final transfer-coding");
        if (equalsIgnoreCase(coding, "chunked")) chunkedSeen_ = true;
        else unsupported = true;
      }
      if (comma == std::string_view::npos) break;
      list.remove_prefix(comma + 1);
    }
    if (unsupported) return fail(501, "unsupported transfer-coding");
  }
  request_.headers.push_back(std::move(field));
  return HPE_OK;
}

int RequestParser::onHeadersComplete() {
  llhttp_t* p = &llhttp_->parser;
  headersComplete_ = true;
  request_.method = methodFromLlhttp(p->method);
  request_.methodName = llhttp_method_name(static_cast<llhttp_method_t>(p->method));

  // Belt and braces against smuggling: llhttp already refuses these, but the
  // rule is important enough to state where a reader looks for it.
  if ((p->flags & F_CHUNKED) && (p->flags & F_CONTENT_LENGTH))
    return fail(400, "Content-Length with Transfer-Encoding");
  if (p->http_minor >= 1 && !hostSeen_) return fail(400, "HTTP/1.1 request without Host");
  if (!absoluteForm_) request_.authority = std::string(request_.header("host"));
  if ((p->flags & F_CONTENT_LENGTH) && p->content_length > limits_.maxBodyBytes)
    return fail(413, "body too large");

  // The body's first chunk-size line is ours (chunk_line_checker.h).
  if (p->flags & F_CHUNKED) chunkLine_.begin();

  const std::string_view expect = request_.header("expect");
  if (!expect.empty()) {
    if (!equalsIgnoreCase(trimWhitespace(expect), "100-continue"))
      return fail(417, "unsupported expectation");
    const bool bodyFollows =
        (p->flags & F_CHUNKED) || ((p->flags & F_CONTENT_LENGTH) && p->content_length > 0);
    // HTTP/1.0 clients do not understand 100 (RFC 9110 10.1.1).
    if (bodyFollows && p->http_minor >= 1) {
      expectContinue_ = true;
      return HPE_PAUSED;  // parse() reports ContinueExpected
    }
  }
  return HPE_OK;
}

// After a chunk's data and its CRLF: the next chunk-size line begins. Pause
// there, so that parse() knows the byte where it begins and reads it with the
// ChunkLineChecker. After the last chunk (and its trailers) the message is
// complete instead: no pause, onMessageComplete follows at once.
int RequestParser::onChunkComplete() {
  if (lastChunkSeen_) return HPE_OK;
  chunkLine_.begin();
  return HPE_PAUSED;
}

// A chunk-size line ended well: llhttp gets one of our own making, the size
// alone (the extensions, all unknown to us, are ignored: RFC 9112 7.1.1).
// false: llhttp refused it (not expected: it is a valid line).
bool RequestParser::feedChunkSize() {
  char line[sizeof(std::uint64_t) * 2 + 2];  // 16 hex digits at most, CRLF
  char* end = std::to_chars(line, line + sizeof line - 2, chunkLine_.size(), 16).ptr;
  *end++ = '\r';
  *end++ = '\n';
  llhttp_t* p = &llhttp_->parser;
  const llhttp_errno_t err = llhttp_execute(p, line, static_cast<std::size_t>(end - line));
  if (errorStatus_ != 0) return false;
  if (err != HPE_OK) {
    const char* reason = llhttp_get_error_reason(p);
    failWith(400, reason ? reason : llhttp_errno_name(err));
    return false;
  }
  if (chunkLine_.size() ==
      0) {  // the last chunk: a trailer section follows, checked as field lines
    lastChunkSeen_ = true;
    checker_.beginTrailers();
  }
  return true;
}

RequestParser::Result RequestParser::methodVerdict() {
  return checker_.methodIsToken() ? failWith(501, "method not implemented")
                                  : failWith(400, "malformed method");
}

RequestParser::Result RequestParser::parse(std::string_view data, std::size_t* consumed) {
  *consumed = 0;
  if (errorStatus_ != 0) return Result::Error;
  if (finished_) {  // the connection ends after the last request: ignore the rest
    *consumed = data.size();
    return Result::NeedMore;
  }
  if (methodVerdictPending_) {
    *consumed = checker_.scan(data);
    if (checker_.methodDecided()) return methodVerdict();
    *consumed = data.size();
    return Result::NeedMore;
  }

  llhttp_t* p = &llhttp_->parser;
  // The raw size of a chunked body: its data is limited by maxBodyBytes, its
  // framing (chunk-size lines, extensions) by as much again plus the
  // header section's limit (RFC 9112 7.1.1 asks servers to limit extensions).
  const std::size_t chunkedWireLimit = 2 * limits_.maxBodyBytes + limits_.maxHeaderBytes;
  while (*consumed < data.size()) {
    const std::string_view rest = data.substr(*consumed);
    // How much llhttp may see: the head up to its end or to its first bad
    // byte; a chunked body up to its limit; anything else in full.
    std::size_t feed = rest.size();
    bool chunkedBody = false;
    if (chunkLine_.active()) {
      // A chunk-size line: read by us, not by llhttp. It counts toward the
      // chunked body's wire limit like every other byte of the body.
      const std::size_t room = chunkedWireLimit - chunkedWireBytes_;
      if (room == 0) return failWith(413, "chunked body too large");
      const std::size_t used = chunkLine_.scan(rest.substr(0, room));
      *consumed += used;
      chunkedWireBytes_ += used;
      if (chunkLine_.failed()) return failWith(400, chunkLine_.reason());
      if (chunkLine_.ended() && !feedChunkSize()) return Result::Error;
      continue;
    }
    if (checker_.active()) {
      feed = checker_.scan(rest);
    } else if (headersComplete_ && (p->flags & F_CHUNKED)) {
      chunkedBody = true;
      feed = std::min(feed, chunkedWireLimit - chunkedWireBytes_);
      if (feed == 0) return failWith(413, "chunked body too large");
    }

    const llhttp_errno_t err = llhttp_execute(p, rest.data(), feed);
    std::size_t used = feed;
    if (err != HPE_OK) {
      const char* pos = llhttp_get_error_pos(p);
      used = pos ? static_cast<std::size_t>(pos - rest.data()) : 0;
    }
    *consumed += used;
    if (chunkedBody) chunkedWireBytes_ += used;

    // A verdict of ours (fail()) wins, whatever code llhttp wraps it in: a
    // data callback's error comes back as HPE_USER, a notification callback's
    // as HPE_CB_<name>.
    if (errorStatus_ != 0) return Result::Error;

    switch (err) {
      case HPE_OK:
        if (checker_.failed()) return failWith(checker_.status(), checker_.reason());
        continue;  // the head ended (the body follows) or all of `data` is used
      case HPE_PAUSED:
        llhttp_resume(p);
        if (expectContinue_ && inMessage_) {
          expectContinue_ = false;
          return Result::ContinueExpected;
        }
        if (chunkLine_.active()) continue;  // onChunkComplete: a chunk-size line is next
        finished_ = !request_.keepAlive;
        return Result::Request;
      case HPE_PAUSED_UPGRADE:
        // Not reached (we pause in on_message_complete first, and stop after
        // an Upgrade or CONNECT request), but it would mean the same.
        finished_ = true;
        return Result::Request;
      case HPE_INVALID_METHOD:
        // llhttp stops at the first byte that starts no method it knows; the
        // checker tells a token (501: unknown method) from garbage (400)
        // only where the method ends, which may not have arrived yet.
        if (checker_.methodDecided()) return methodVerdict();
        methodVerdictPending_ = true;
        *consumed = data.size();  // the checker has seen all of it
        return Result::NeedMore;
      default: {
        const char* reason = llhttp_get_error_reason(p);
        return failWith(400, reason ? reason : llhttp_errno_name(err));
      }
    }
  }
  return Result::NeedMore;
}

void RequestParser::resetRequest() {
  request_ = HttpRequest{};  // assignment of a fresh object frees the old strings' memory
  checker_.reset();
  bodyBytes_ = 0;
  chunkedWireBytes_ = 0;
  headersComplete_ = false;
  expectContinue_ = false;
  lastChunkSeen_ = false;
  chunkLine_.stop();
  hostSeen_ = false;
  chunkedSeen_ = false;
  absoluteForm_ = false;
}

}  // namespace duet::http
