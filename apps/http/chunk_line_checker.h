// ChunkLineChecker: one chunk-size line of a chunked body (RFC 9112 7.1),
// checked byte by byte, extensions and all, in place of llhttp.
//
//   chunk-size [ chunk-ext ] CRLF
//   chunk-size     = 1*HEXDIG
//   chunk-ext      = *( BWS ";" BWS chunk-ext-name [ BWS "=" BWS chunk-ext-val ] )
//   chunk-ext-name = token
//   chunk-ext-val  = token / quoted-string
//
// Why our own code reads this line: a recipient MUST parse and remove BWS
// (RFC 9110 5.6.3) and MUST ignore extensions it does not know (RFC 9112
// 7.1.1), and llhttp 8.1.0 refuses BWS around ";" and "=" and an unquoted
// value followed by another extension (`1;a=b;c`). duet knows no extension,
// so all it needs from the line is the size. RequestParser therefore feeds
// this checker the line instead of llhttp, and hands llhttp a line of its own
// making, "<size in hex>\r\n", when it ends; llhttp keeps the chunk data, the
// CRLF after it and the trailer section. (Decoding the whole chunked body
// ourselves would take those over too, for no gain: llhttp gets them right.)
//
// Like HeadChecker, it knows the exact byte at which the line goes wrong, so
// the verdict is the same however the bytes were split. It keeps no copy of
// the line: its length costs no memory, and the chunked body's wire limit
// (RequestParser) bounds it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace duet::http {

class ChunkLineChecker {
 public:
  // A chunk-size line begins at the next byte.
  void begin();
  // Not inside a chunk-size line (the body's data, or no chunked body).
  void stop() { state_ = State::Idle; }

  // Checks the next bytes of the stream. Returns how many of them belong to
  // the line and are fine: all of `data` while the line goes on; fewer when it
  // ended (ended(): its LF is counted) or when the byte at the returned offset
  // is the first bad one (failed()). Returns 0 when not active().
  std::size_t scan(std::string_view data);

  bool active() const {
    return state_ != State::Idle && state_ != State::Ended && reason_ == nullptr;
  }
  bool ended() const { return state_ == State::Ended; }
  bool failed() const { return reason_ != nullptr; }
  // A malformed line is always 400 (RFC 9112 7.1, 2.2).
  const char* reason() const { return reason_; }
  // The chunk size the line declared (after ended()).
  std::uint64_t size() const { return size_; }

 private:
  enum class State : std::uint8_t {
    Idle,
    SizeStart,      // the first HEXDIG
    Size,           // more HEXDIG, or what may follow the size
    BwsBeforeSemi,  // whitespace after the size or a value: only ";" may end it
    NameStart,      // after ";" (BWS allowed), before the name's first tchar
    Name,
    BwsAfterName,  // whitespace after a name: "=" or ";" must follow
    ValueStart,    // after "=" (BWS allowed)
    TokenValue,
    QuotedValue,       // inside the quotes
    QuotedPair,        // after a backslash inside the quotes
    AfterQuotedValue,  // the closing quote seen
    Lf,                // the CR seen: the LF must follow
    Ended,
  };

  bool fail(const char* reason);
  bool step(unsigned char c);  // false: stop scanning (ended or failed)

  State state_ = State::Idle;
  const char* reason_ = nullptr;
  std::uint64_t size_ = 0;
};

}  // namespace duet::http
