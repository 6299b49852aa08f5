// The character classes of the HTTP grammar (RFC 9110 5.6, RFC 5234 B.1),
// shared by the byte-level checkers (HeadChecker, ChunkLineChecker).
#pragma once

namespace duet::http {

// RFC 9110 5.6.2: tchar, the characters of a token (methods, field names,
// chunk extension names and unquoted values).
constexpr bool isTchar(unsigned char c) {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
  switch (c) {
    case '!':
    case '#':
    case '$':
    case '%':
    case '&':
    case '\'':
    case '*':
    case '+':
    case '-':
    case '.':
    case '^':
    case '_':
    case '`':
    case '|':
    case '~':
      return true;
    default:
      return false;
  }
}

constexpr bool isVchar(unsigned char c) { return c >= 0x21 && c <= 0x7e; }
constexpr bool isObsText(unsigned char c) { return c >= 0x80; }
constexpr bool isDigit(unsigned char c) { return c >= '0' && c <= '9'; }
// SP or HTAB: what OWS and BWS are made of (RFC 9110 5.6.3).
constexpr bool isWhitespace(unsigned char c) { return c == ' ' || c == '\t'; }

// The value of a HEXDIG, or -1.
constexpr int hexValue(unsigned char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace duet::http
