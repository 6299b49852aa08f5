#include "http_response.h"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <string_view>

namespace duetload {
namespace {

bool startsWithNoCase(std::string_view s, std::string_view prefix) {
  if (s.size() < prefix.size()) return false;
  for (size_t i = 0; i < prefix.size(); ++i)
    if (std::tolower(static_cast<unsigned char>(s[i])) != prefix[i]) return false;
  return true;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

}  // namespace

HttpResponseReader::Result HttpResponseReader::feed(const char* p, size_t len, size_t& used) {
  size_t i = 0;
  if (!inBody_) {
    // The head: copy until the blank line. Search from a little before the
    // old end so a "\r\n\r\n" split across reads is found.
    const size_t searchFrom = head_.size() >= 3 ? head_.size() - 3 : 0;
    const size_t take = std::min(len, kMaxHead + 4 - head_.size());
    head_.append(p, take);
    const size_t end = head_.find("\r\n\r\n", searchFrom);
    if (end == std::string::npos) {
      used += take;
      if (head_.size() > kMaxHead) {
        error_ = "response head larger than 16 KiB";
        return Result::kError;
      }
      return Result::kNeedMore;
    }
    // Give back what was copied past the blank line: it is body, or the next response.
    const size_t headLen = end + 4;
    i = take - (head_.size() - headLen);
    head_.resize(headLen);
    if (!parseHead()) {
      used += i;
      return Result::kError;
    }
    bytes_ = headLen + bodyLeft_;
    head_.clear();
    inBody_ = true;
  }
  if (bodyUntilClose_) {  // everything up to the close is body
    bytes_ += len - i;
    used += len;
    return Result::kNeedMore;
  }
  const size_t n = std::min(bodyLeft_, len - i);
  bodyLeft_ -= n;
  i += n;
  used += i;
  if (bodyLeft_ > 0) return Result::kNeedMore;
  inBody_ = false;
  return Result::kComplete;
}

bool HttpResponseReader::parseHead() {
  const std::string_view head(head_);
  // "HTTP/1.1 200 OK"
  if (!startsWithNoCase(head, "http/1.") || head.size() < 12 || head[8] != ' ') {
    error_ = "not an HTTP/1.x status line";
    return false;
  }
  status_ = std::atoi(std::string(head.substr(9, 3)).c_str());
  if (status_ < 100 || status_ > 599) {
    error_ = "bad status code";
    return false;
  }
  bool framed = false;
  size_t pos = head.find("\r\n") + 2;
  while (pos < head.size()) {
    const size_t eol = head.find("\r\n", pos);
    const std::string_view line = head.substr(pos, eol - pos);
    pos = eol + 2;
    if (startsWithNoCase(line, "content-length:")) {
      const std::string value(trim(line.substr(15)));
      // Digits only: strtoull alone would take "-1" (as 2^64 - 1) and
      // saturate on overflow, and the reader would then wait forever for a body.
      char* endp = nullptr;
      errno = 0;
      const unsigned long long n = std::strtoull(value.c_str(), &endp, 10);
      if (value.empty() || !std::isdigit(static_cast<unsigned char>(value[0])) || *endp != '\0' ||
          errno == ERANGE) {
        error_ = "bad Content-Length";
        return false;
      }
      bodyLeft_ = static_cast<size_t>(n);
      framed = true;
    } else if (startsWithNoCase(line, "transfer-encoding:")) {
      error_ = "chunked responses are not supported by duet-load";
      return false;
    }
  }
  // 1xx, 204 and 304 have no body by definition.
  if (!framed && !(status_ < 200 || status_ == 204 || status_ == 304)) {
    if (!bodyUntilCloseAllowed_) {
      error_ = "response without Content-Length";
      return false;
    }
    bodyUntilClose_ = true;
  }
  if (!framed) bodyLeft_ = 0;
  return true;
}

bool HttpResponseReader::finishAtClose() {
  if (!inBody_ || !bodyUntilClose_) return false;
  inBody_ = false;
  bodyUntilClose_ = false;
  return true;
}

}  // namespace duetload
