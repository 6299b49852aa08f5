// HeadChecker: the strict syntax of a request head (RFC 9112 2-5), checked
// byte by byte, ahead of llhttp.
//
// llhttp (even built in its strict mode) lets through some things RFC 9112
// says a server MUST refuse: obs-fold, an empty field name, two spaces in the
// request-line, a bare LF ending a line. And its data callbacks arrive at
// places that depend on how the bytes were split, so a limit checked in them
// can fire before or after a syntax error further on, depending on the split.
//
// This checker sees the same bytes first and knows the exact byte at which
// the head goes wrong or grows past a limit. RequestParser then feeds llhttp
// only the bytes before that one: whatever is wrong earliest in the stream is
// reported, and that is the same for every split.
//
// Grammar enforced (no leniency anywhere):
//   *( CRLF )                                    empty lines before a request
//   method SP request-target SP HTTP-version CRLF
//   *( field-name ":" OWS field-value OWS CRLF )
//   CRLF
// with method and field-name tokens, the target visible US-ASCII only, the
// version "HTTP/" DIGIT "." DIGIT, and field values of VCHAR, obs-text, SP and
// HTAB only. A trailer section (after a chunked body) is checked as field
// lines too: beginTrailers().
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "apps/http/http_limits.h"

namespace duet::http {

class HeadChecker {
 public:
  explicit HeadChecker(const HttpLimits& limits) : limits_(limits) {}

  // Checks the next bytes of the stream. Returns how many of them belong to
  // the head and are fine: all of `data` while the head goes on; fewer when it
  // ended (ended()) or when the byte at the returned offset is the first bad
  // one (failed()). After either, scan() returns 0 until reset().
  std::size_t scan(std::string_view data);

  bool ended() const { return state_ == State::Ended; }
  bool failed() const { return status_ != 0; }
  bool active() const { return state_ != State::Ended && status_ == 0 && state_ != State::Idle; }
  int status() const { return status_; }
  const char* reason() const { return reason_; }

  // The method token is complete (followed by SP) or known not to be one:
  // methodIsToken() tells which. Decides 501 against 400 for an unknown method.
  bool methodDecided() const { return methodDecided_; }
  bool methodIsToken() const { return methodIsToken_; }

  // A new request begins: check its head from the next byte on.
  void reset();
  // A chunked body's last chunk line ended: field lines follow, up to CRLF.
  // They share the header section's byte and line budget.
  void beginTrailers();

 private:
  enum class State : std::uint8_t {
    Idle,       // not checking (the body, or before reset())
    LeadingLf,  // a CR before the request-line: LF must follow
    Start,      // before the method (empty lines allowed)
    Method,
    Target,
    Version,        // matching "HTTP/" DIGIT "." DIGIT
    RequestLineLf,  // CR seen after the version
    LineStart,      // start of a field line, or CR of the final CRLF
    FinalLf,        // CR of the final CRLF seen
    Name,
    ValueStart,  // after ':' (OWS)
    Value,
    ValueLf,  // CR seen after a value
    Ended,
  };

  bool fail(int status, const char* reason);
  bool step(unsigned char c);  // false: stop scanning (ended or failed)

  const HttpLimits& limits_;
  State state_ = State::Start;
  int status_ = 0;
  const char* reason_ = "";
  std::size_t leadingBytes_ = 0;  // empty lines before the request-line
  std::size_t methodBytes_ = 0;
  std::size_t targetBytes_ = 0;
  std::size_t versionBytes_ = 0;
  std::size_t fieldBytes_ = 0;  // raw bytes of field lines (header + trailer sections)
  std::size_t fieldLines_ = 0;
  bool methodDecided_ = false;
  bool methodIsToken_ = false;
};

}  // namespace duet::http
