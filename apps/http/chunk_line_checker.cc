#include "apps/http/chunk_line_checker.h"

#include "apps/http/char_classes.h"

namespace duet::http {

namespace {

// RFC 9110 5.6.4: qdtext = HTAB / SP / %x21 / %x23-5B / %x5D-7E / obs-text,
// everything but controls, DEL, the quote and the backslash.
bool isQdtext(unsigned char c) {
  return isWhitespace(c) || (isVchar(c) && c != '"' && c != '\\') || isObsText(c);
}
// quoted-pair = "\" ( HTAB / SP / VCHAR / obs-text )
bool isQuotable(unsigned char c) { return isWhitespace(c) || isVchar(c) || isObsText(c); }

// The reason for a byte no state accepts: a line end in the wrong place
// gets a name of its own, it is the likeliest mistake (and the smuggler's).
const char* unexpected(unsigned char c, const char* otherwise) {
  if (c == '\n') return "bare LF in a chunk-size line";
  if (c == '\r') return "CR where a chunk-size line cannot end";
  if (c < 0x20 || c == 0x7f) return "control character in a chunk-size line";
  return otherwise;
}

}  // namespace

void ChunkLineChecker::begin() {
  state_ = State::SizeStart;
  reason_ = nullptr;
  size_ = 0;
}

bool ChunkLineChecker::fail(const char* reason) {
  reason_ = reason;
  return false;
}

std::size_t ChunkLineChecker::scan(std::string_view data) {
  if (!active()) return 0;
  std::size_t i = 0;
  while (i < data.size()) {
    if (!step(static_cast<unsigned char>(data[i]))) {
      // Ended: the LF belongs to the line. Failed: the bad byte does not.
      return ended() ? i + 1 : i;
    }
    ++i;
  }
  return i;
}

bool ChunkLineChecker::step(unsigned char c) {
  switch (state_) {
    case State::SizeStart:
      if (hexValue(c) < 0)
        return fail(unexpected(c, "chunk-size line does not start with a hex digit"));
      size_ = static_cast<std::uint64_t>(hexValue(c));
      state_ = State::Size;
      return true;
    case State::Size:
      if (hexValue(c) >= 0) {
        // RFC 9112 7.1: anticipate large numbers and prevent overflow.
        if (size_ > (UINT64_MAX >> 4)) return fail("chunk size overflow");
        size_ = (size_ << 4) | static_cast<std::uint64_t>(hexValue(c));
        return true;
      }
      if (c == '\r') break;
      if (c == ';') {
        state_ = State::NameStart;
        return true;
      }
      if (isWhitespace(c)) {
        state_ = State::BwsBeforeSemi;
        return true;
      }
      return fail(unexpected(c, "invalid byte after the chunk size"));

    case State::BwsBeforeSemi:
      if (isWhitespace(c)) return true;
      if (c == ';') {
        state_ = State::NameStart;
        return true;
      }
      // Whitespace is BWS only before ";" or "=": not before the line's end.
      return fail(unexpected(c, "whitespace not followed by ';' in a chunk-size line"));

    case State::NameStart:
      if (isWhitespace(c)) return true;
      if (!isTchar(c)) return fail(unexpected(c, "chunk extension name is not a token"));
      state_ = State::Name;
      return true;
    case State::Name:
      if (isTchar(c)) return true;
      if (c == '\r') break;
      if (c == ';') {
        state_ = State::NameStart;
        return true;
      }
      if (c == '=') {
        state_ = State::ValueStart;
        return true;
      }
      if (isWhitespace(c)) {
        state_ = State::BwsAfterName;
        return true;
      }
      return fail(unexpected(c, "chunk extension name is not a token"));
    case State::BwsAfterName:
      if (isWhitespace(c)) return true;
      if (c == ';') {
        state_ = State::NameStart;
        return true;
      }
      if (c == '=') {
        state_ = State::ValueStart;
        return true;
      }
      return fail(unexpected(c, "whitespace not followed by ';' or '=' in a chunk extension"));

    case State::ValueStart:
      if (isWhitespace(c)) return true;
      if (c == '"') {
        state_ = State::QuotedValue;
        return true;
      }
      if (!isTchar(c))
        return fail(unexpected(c, "chunk extension value is neither a token nor a quoted-string"));
      state_ = State::TokenValue;
      return true;
    case State::TokenValue:
      if (isTchar(c)) return true;
      if (c == '\r') break;
      if (c == ';') {
        state_ = State::NameStart;
        return true;
      }
      if (isWhitespace(c)) {
        state_ = State::BwsBeforeSemi;
        return true;
      }
      return fail(unexpected(c, "chunk extension value is not a token"));
    case State::QuotedValue:
      if (c == '"') {
        state_ = State::AfterQuotedValue;
        return true;
      }
      if (c == '\\') {
        state_ = State::QuotedPair;
        return true;
      }
      if (isQdtext(c)) return true;
      return fail(unexpected(c, "invalid byte in a quoted chunk extension value"));
    case State::QuotedPair:
      if (!isQuotable(c))
        return fail(unexpected(c, "invalid quoted-pair in a chunk extension value"));
      state_ = State::QuotedValue;
      return true;
    case State::AfterQuotedValue:
      if (c == '\r') break;
      if (c == ';') {
        state_ = State::NameStart;
        return true;
      }
      if (isWhitespace(c)) {
        state_ = State::BwsBeforeSemi;
        return true;
      }
      return fail(unexpected(c, "invalid byte after a quoted chunk extension value"));

    case State::Lf:
      if (c != '\n') return fail("CR without LF at the end of a chunk-size line");
      state_ = State::Ended;
      return false;

    case State::Idle:
    case State::Ended:
      return false;
  }
  // A CR where the line may end (after the size, a name or a value).
  state_ = State::Lf;
  return true;
}

}  // namespace duet::http
