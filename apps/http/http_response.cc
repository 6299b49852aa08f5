#include "apps/http/http_response.h"

#include <charconv>

namespace duet::http {

void HttpResponse::addHeader(std::string_view name, std::string_view value) {
  headers.append(name);
  headers.append(": ");
  headers.append(value);
  headers.append("\r\n");
}

std::string_view reasonPhrase(int status) {
  switch (status) {
    case 100:
      return "Continue";
    case 200:
      return "OK";
    case 204:
      return "No Content";
    case 206:
      return "Partial Content";
    case 301:
      return "Moved Permanently";
    case 304:
      return "Not Modified";
    case 400:
      return "Bad Request";
    case 403:
      return "Forbidden";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 408:
      return "Request Timeout";
    case 413:
      return "Content Too Large";
    case 414:
      return "URI Too Long";
    case 416:
      return "Range Not Satisfiable";
    case 417:
      return "Expectation Failed";
    case 431:
      return "Request Header Fields Too Large";
    case 500:
      return "Internal Server Error";
    case 501:
      return "Not Implemented";
    case 503:
      return "Service Unavailable";
    case 505:
      return "HTTP Version Not Supported";
    default:
      return "Unknown";
  }
}

HttpResponse errorResponse(int status) {
  HttpResponse r;
  r.status = status;
  r.contentType = "text/plain; charset=utf-8";
  r.body = std::to_string(status);
  r.body += ' ';
  r.body += reasonPhrase(status);
  r.body += '\n';
  return r;
}

namespace {
bool statusHasNoBody(int status) { return status < 200 || status == 204 || status == 304; }

void appendNumber(std::string& out, std::uint64_t n) {
  char buf[24];
  const auto [end, ec] = std::to_chars(buf, buf + sizeof buf, n);
  out.append(buf, end);
}
}  // namespace

void ResponseWriter::write(const HttpResponse& response, bool keepAlive, bool http10Client,
                           bool forHead, std::string_view date, std::string& out) {
  const bool noBody = statusHasNoBody(response.status);
  out.reserve(out.size() + 160 + response.headers.size() +
              (forHead || noBody ? 0 : response.body.size()));

  // We always speak HTTP/1.1 (RFC 9110 2.5: send our highest version); a 1.0
  // client reads it fine, and we avoid what 1.0 cannot frame (chunked).
  out.append("HTTP/1.1 ");
  appendNumber(out, static_cast<std::uint64_t>(response.status));
  out.push_back(' ');
  out.append(reasonPhrase(response.status));
  out.append("\r\nServer: ");
  out.append(kServerName);
  out.append("\r\nDate: ");
  out.append(date);
  out.append("\r\n");
  if (!response.contentType.empty() && !noBody) {
    out.append("Content-Type: ");
    out.append(response.contentType);
    out.append("\r\n");
  }
  if (!noBody) {
    out.append("Content-Length: ");
    appendNumber(out, response.contentLength());
    out.append("\r\n");
  }
  // 1.1 keeps alive unless told otherwise; 1.0 closes unless told otherwise.
  if (!keepAlive) {
    out.append("Connection: close\r\n");
  } else if (http10Client) {
    out.append("Connection: keep-alive\r\n");
  }
  out.append(response.headers);
  out.append("\r\n");
  if (!forHead && !noBody && !response.file) out.append(response.body);
}

std::string_view ResponseWriter::continueLine() { return "HTTP/1.1 100 Continue\r\n\r\n"; }

}  // namespace duet::http
