// One parsed HTTP request, independent of llhttp (only request_parser.cc sees
// the parser's types).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace duet::http {

// The methods RFC 9110 defines. Anything else the parser knows (WebDAV, RTSP...)
// is Other: the router answers it with 501 Not Implemented.
enum class Method : std::uint8_t {
  Get,
  Head,
  Post,
  Put,
  Delete,
  Connect,
  Options,
  Trace,
  Patch,
  Other
};

struct HttpHeader {
  std::string name;
  std::string value;
};

struct HttpRequest {
  Method method = Method::Get;
  std::string_view methodName = "GET";  // static storage (llhttp's method table)
  // The request-target in origin-form, e.g. "/a%20b?x=1" (an absolute-form
  // target "http://host/a?x=1" is reduced to "/a?x=1"), "*" for OPTIONS *,
  // or host:port for CONNECT.
  std::string target;
  // The host the request is for: from an absolute-form target if there is
  // one (RFC 9112 3.2.2), else the Host header field. May be empty in HTTP/1.0.
  std::string authority;
  std::uint8_t versionMajor = 1;
  std::uint8_t versionMinor = 1;
  std::vector<HttpHeader> headers;
  std::string body;
  // Fields of a chunked body's trailer section, kept apart from the header
  // section: RFC 9110 6.5.1 forbids merging them into it.
  std::vector<HttpHeader> trailers;
  bool keepAlive = true;  // HTTP/1.1 default, or 1.0 + "Connection: keep-alive"
  bool upgrade = false;   // CONNECT or Upgrade: we answer, then close

  // Not zero: this is not a request but a failure to answer in its place
  // (400, 408, 413, 414, 431, 501, 505), after which the connection closes.
  int errorStatus = 0;

  // The first header called `name` (case-insensitive), or "" if none.
  std::string_view header(std::string_view name) const;
  bool hasHeader(std::string_view name) const;
  // The target's path: up to '?' or '#', still percent-encoded.
  std::string_view path() const;
  bool isHttp10() const { return versionMajor == 1 && versionMinor == 0; }
};

bool equalsIgnoreCase(std::string_view a, std::string_view b);
// Whether a comma-separated header value lists `token` (case-insensitive),
// e.g. containsToken("keep-alive, Upgrade", "upgrade").
bool containsToken(std::string_view list, std::string_view token);
std::string_view trimWhitespace(std::string_view s);

}  // namespace duet::http
