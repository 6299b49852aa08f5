#include "apps/http/request_parser.h"

#include <llhttp.h>

namespace duet::http {

struct RequestParser::LlhttpState {
  llhttp_t parser;
};

namespace {

Method methodFromLlhttp(std::uint8_t m) {
  switch (m) {
    case HTTP_GET: return Method::Get;
    case HTTP_HEAD: return Method::Head;
    case HTTP_POST: return Method::Post;
    case HTTP_PUT: return Method::Put;
    case HTTP_DELETE: return Method::Delete;
    case HTTP_CONNECT: return Method::Connect;
    case HTTP_OPTIONS: return Method::Options;
    case HTTP_TRACE: return Method::Trace;
    case HTTP_PATCH: return Method::Patch;
    default: return Method::Other;
  }
}

// RFC 9110 "tchar": the characters a method name may use.
bool isTokenChar(char c) {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
  switch (c) {
    case '!': case '#': case '$': case '%': case '&': case '\'': case '*': case '+':
    case '-': case '.': case '^': case '_': case '`': case '|': case '~':
      return true;
    default:
      return false;
  }
}

}  // namespace

// llhttp calls plain C functions with the parser; `data` points back at us.
struct RequestParser::Callbacks {
  static RequestParser& self(llhttp_t* p) { return *static_cast<RequestParser*>(p->data); }

  static int onMessageBegin(llhttp_t* p) {
    self(p).inMessage_ = true;
    return HPE_OK;
  }
  static int onUrl(llhttp_t* p, const char* at, std::size_t len) {
    RequestParser& s = self(p);
    if (s.request_.target.size() + len > s.limits_.maxUrlBytes) return s.fail(414, "request-target too long");
    s.request_.target.append(at, len);
    return HPE_OK;
  }
  static int onHeaderField(llhttp_t* p, const char* at, std::size_t len) {
    RequestParser& s = self(p);
    s.headerBytes_ += len;
    if (s.headerBytes_ > s.limits_.maxHeaderBytes) return s.fail(431, "header section too large");
    s.field_.append(at, len);
    return HPE_OK;
  }
  static int onHeaderValue(llhttp_t* p, const char* at, std::size_t len) {
    RequestParser& s = self(p);
    s.headerBytes_ += len;
    if (s.headerBytes_ > s.limits_.maxHeaderBytes) return s.fail(431, "header section too large");
    s.value_.append(at, len);
    return HPE_OK;
  }
  static int onHeaderValueComplete(llhttp_t* p) { return self(p).onHeaderComplete(); }
  static int onHeadersComplete(llhttp_t* p) { return self(p).onHeadersComplete(); }
  static int onBody(llhttp_t* p, const char* at, std::size_t len) {
    RequestParser& s = self(p);
    s.bodyBytes_ += len;
    if (s.bodyBytes_ > s.limits_.maxBodyBytes) return s.fail(413, "body too large");
    s.request_.body.append(at, len);
    return HPE_OK;
  }
  static int onMessageComplete(llhttp_t* p) {
    RequestParser& s = self(p);
    // llhttp_should_keep_alive() folds in the version (1.0 closes by default)
    // and the Connection header.
    s.request_.keepAlive = llhttp_should_keep_alive(p) != 0;
    s.request_.upgrade = p->upgrade != 0;
    s.inMessage_ = false;
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
      st.on_header_field = onHeaderField;
      st.on_header_value = onHeaderValue;
      st.on_header_value_complete = onHeaderValueComplete;
      st.on_headers_complete = onHeadersComplete;
      st.on_body = onBody;
      st.on_message_complete = onMessageComplete;
      return st;
    }();
    return s;
  }
};

RequestParser::RequestParser(const HttpLimits& limits) : limits_(limits), llhttp_(std::make_unique<LlhttpState>()) {
  llhttp_init(&llhttp_->parser, HTTP_REQUEST, &Callbacks::settings());
  llhttp_->parser.data = this;
  // Strict by default: llhttp refuses Content-Length together with
  // Transfer-Encoding, duplicate Content-Length and Transfer-Encoding with a
  // coding after "chunked": the classic request-smuggling vectors. None of the
  // llhttp_set_lenient_* switches is turned on.
}

RequestParser::~RequestParser() = default;

int RequestParser::fail(int status, const char* reason) {
  errorStatus_ = status;
  errorReason_ = reason;
  llhttp_set_error_reason(&llhttp_->parser, reason);
  return HPE_USER;
}

int RequestParser::onHeaderComplete() {
  if (request_.headers.size() >= limits_.maxHeaderCount) return fail(431, "too many header fields");
  if (equalsIgnoreCase(field_, "transfer-encoding")) {
    // RFC 9112: "chunked" anywhere but last leaves the body length unknown:
    // 400 (6.3; llhttp may notice first and says the same). Any coding we do
    // not implement (gzip, compress...) is 501 Not Implemented (6.1).
    bool unsupported = false;
    bool chunkedSeen = false;
    std::string_view list = value_;
    while (!list.empty()) {
      const std::size_t comma = list.find(',');
      const std::string_view coding = trimWhitespace(list.substr(0, comma));
      if (!coding.empty()) {
        if (chunkedSeen) return fail(400, "chunked is not the final transfer-coding");
        if (equalsIgnoreCase(coding, "chunked")) chunkedSeen = true;
        else unsupported = true;
      }
      if (comma == std::string_view::npos) break;
      list.remove_prefix(comma + 1);
    }
    if (unsupported) return fail(501, "unsupported transfer-coding");
  }
  request_.headers.push_back(HttpHeader{std::move(field_), std::move(value_)});
  field_.clear();
  value_.clear();
  return HPE_OK;
}

int RequestParser::onHeadersComplete() {
  llhttp_t* p = &llhttp_->parser;
  headersComplete_ = true;
  request_.method = methodFromLlhttp(p->method);
  request_.methodName = llhttp_method_name(static_cast<llhttp_method_t>(p->method));
  request_.versionMajor = p->http_major;
  request_.versionMinor = p->http_minor;

  if (p->http_major != 1) return fail(505, "HTTP version not supported");
  // Belt and braces against smuggling: llhttp already refuses these, but the
  // rule is important enough to state where a reader looks for it.
  if ((p->flags & F_CHUNKED) && (p->flags & F_CONTENT_LENGTH)) return fail(400, "Content-Length with Transfer-Encoding");
  if (p->http_minor >= 1 && !request_.hasHeader("host")) return fail(400, "HTTP/1.1 request without Host");
  if ((p->flags & F_CONTENT_LENGTH) && p->content_length > limits_.maxBodyBytes) return fail(413, "body too large");

  const std::string_view expect = request_.header("expect");
  if (!expect.empty()) {
    if (!equalsIgnoreCase(trimWhitespace(expect), "100-continue")) return fail(417, "unsupported expectation");
    const bool bodyFollows = (p->flags & F_CHUNKED) || ((p->flags & F_CONTENT_LENGTH) && p->content_length > 0);
    // HTTP/1.0 clients do not understand 100 (RFC 9110 10.1.1).
    if (bodyFollows && p->http_minor >= 1) {
      expectContinue_ = true;
      return HPE_PAUSED;  // parse() reports ContinueExpected
    }
  }
  return HPE_OK;
}

void RequestParser::scanMethodToken(std::string_view data) {
  for (char c : data) {
    if (methodBytes_ == 0 && (c == '\r' || c == '\n')) continue;  // empty lines before a request are allowed
    if (c == ' ') {
      methodScanDone_ = true;
      return;
    }
    if (!isTokenChar(c)) {
      methodIsToken_ = false;
      methodScanDone_ = true;
      return;
    }
    ++methodBytes_;
  }
}

RequestParser::Result RequestParser::parse(std::string_view data, std::size_t* consumed) {
  *consumed = 0;
  if (errorStatus_ != 0) return Result::Error;
  // Every call starts at a request boundary or inside the current request
  // (we pause after each request), so the method is at the front.
  if (!methodScanDone_) scanMethodToken(data);

  llhttp_t* p = &llhttp_->parser;
  const llhttp_errno_t err = llhttp_execute(p, data.data(), data.size());
  if (err == HPE_OK) {
    *consumed = data.size();
  } else {
    const char* pos = llhttp_get_error_pos(p);
    *consumed = pos ? static_cast<std::size_t>(pos - data.data()) : 0;
  }
  if (!headersComplete_) {
    // Counts the bytes the callbacks never see (whitespace, CRLFs), so that
    // endless padding cannot grow the head past the limits either.
    headRawBytes_ += *consumed;
    if (err == HPE_OK && headRawBytes_ > limits_.maxUrlBytes + limits_.maxHeaderBytes + 1024) {
      fail(request_.target.size() + 64 >= limits_.maxUrlBytes ? 414 : 431, "request head too large");
      return Result::Error;
    }
  }

  // A verdict of ours (fail()) wins, whatever code llhttp wraps it in: a
  // data callback's error comes back as HPE_USER, a notification callback's
  // as HPE_CB_<name>.
  if (errorStatus_ != 0) return Result::Error;

  switch (err) {
    case HPE_OK:
      return Result::NeedMore;
    case HPE_PAUSED:
      llhttp_resume(p);
      if (expectContinue_ && inMessage_) {
        expectContinue_ = false;
        return Result::ContinueExpected;
      }
      return Result::Request;
    case HPE_PAUSED_UPGRADE:
      // CONNECT or an Upgrade request completed. We do not switch protocols:
      // the router answers and the connection closes after the response.
      return Result::Request;
    case HPE_INVALID_METHOD:
      errorStatus_ = (methodIsToken_ && methodBytes_ > 0) ? 501 : 400;
      break;
    case HPE_INVALID_VERSION:
      errorStatus_ = 505;  // e.g. "HTTP/2.0" or "HTTP/1.2" in a request line
      break;
    default:
      errorStatus_ = 400;
      break;
  }
  const char* reason = llhttp_get_error_reason(p);
  errorReason_ = reason ? reason : llhttp_errno_name(err);
  return Result::Error;
}

void RequestParser::resetRequest() {
  request_ = HttpRequest{};  // assignment of a fresh object frees the old strings' memory
  headerBytes_ = 0;
  headRawBytes_ = 0;
  bodyBytes_ = 0;
  headersComplete_ = false;
  expectContinue_ = false;
  methodScanDone_ = false;
  methodIsToken_ = true;
  methodBytes_ = 0;
}

}  // namespace duet::http
