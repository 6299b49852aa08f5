#include "apps/http/head_checker.h"

#include "apps/http/char_classes.h"

namespace duet::http {

namespace {

// How many bytes of empty lines we skip before a request-line (RFC 9112 2.2
// asks for "at least one"); more is a client that sends nothing but CRLFs.
constexpr std::size_t kMaxLeadingBytes = 64;
// The longest method we wait for before deciding that an unknown one is 501:
// longer than any registered method, and llhttp has refused it long before.
constexpr std::size_t kMaxMethodBytes = 64;

}  // namespace

void HeadChecker::reset() {
  state_ = State::Start;
  status_ = 0;
  reason_ = "";
  leadingBytes_ = methodBytes_ = targetBytes_ = versionBytes_ = 0;
  fieldBytes_ = fieldLines_ = 0;
  methodDecided_ = methodIsToken_ = false;
}

void HeadChecker::beginTrailers() {
  if (status_ != 0) return;
  state_ = State::LineStart;
}

bool HeadChecker::fail(int status, const char* reason) {
  status_ = status;
  reason_ = reason;
  return false;
}

std::size_t HeadChecker::scan(std::string_view data) {
  if (!active()) return 0;
  std::size_t i = 0;
  while (i < data.size()) {
    if (!step(static_cast<unsigned char>(data[i]))) {
      // Ended: the final LF belongs to the head. Failed: the bad byte does not.
      return state_ == State::Ended ? i + 1 : i;
    }
    ++i;
  }
  return i;
}

bool HeadChecker::step(unsigned char c) {
  switch (state_) {
    case State::Idle:
    case State::Ended:
      return false;

    case State::Start:
      if (c == '\r') {
        if (++leadingBytes_ > kMaxLeadingBytes)
          return fail(400, "too many empty lines before the request");
        state_ = State::LeadingLf;
        return true;
      }
      if (!isTchar(c)) {
        methodDecided_ = true;
        return fail(400, "request-line does not start with a method token");
      }
      state_ = State::Method;
      methodBytes_ = 1;
      return true;
    case State::LeadingLf:
      if (c != '\n') return fail(400, "CR without LF before the request-line");
      ++leadingBytes_;
      state_ = State::Start;
      return true;

    case State::Method:
      if (c == ' ') {
        methodDecided_ = methodIsToken_ = true;
        state_ = State::Target;
        return true;
      }
      if (!isTchar(c)) {
        methodDecided_ = true;
        return fail(400, "method is not a token followed by one SP");
      }
      if (++methodBytes_ > kMaxMethodBytes) {
        methodDecided_ = methodIsToken_ = true;  // a (long) token: an unknown method
        return fail(501, "method too long to be one we implement");
      }
      return true;

    case State::Target:
      if (c == ' ') {
        if (targetBytes_ == 0) return fail(400, "empty request-target (two SPs after the method?)");
        state_ = State::Version;
        return true;
      }
      if (!isVchar(c)) return fail(400, "invalid byte in the request-target");
      if (++targetBytes_ > limits_.maxUrlBytes) return fail(414, "request-target too long");
      return true;

    case State::Version: {
      // "HTTP/" DIGIT "." DIGIT, then CR: exactly 8 bytes, case-sensitive.
      static constexpr std::string_view kName = "HTTP/";
      const std::size_t at = versionBytes_++;
      bool ok;
      if (at < kName.size()) ok = c == static_cast<unsigned char>(kName[at]);
      else if (at == 5 || at == 7) ok = isDigit(c);
      else if (at == 6) ok = c == '.';
      else ok = c == '\r';
      if (!ok) return fail(400, "malformed HTTP-version or request-line end");
      if (at == 8) state_ = State::RequestLineLf;
      return true;
    }
    case State::RequestLineLf:
      if (c != '\n') return fail(400, "CR without LF after the request-line");
      state_ = State::LineStart;
      return true;

    default:
      break;
  }

  // The field section (or trailer section): every byte counts toward its limit.
  if (++fieldBytes_ > limits_.maxHeaderBytes) return fail(431, "header section too large");
  switch (state_) {
    case State::LineStart:
      if (c == '\r') {
        state_ = State::FinalLf;
        return true;
      }
      if (c == ' ' || c == '\t') return fail(400, "obs-fold or whitespace before a field line");
      if (c == ':') return fail(400, "empty field name");
      if (!isTchar(c)) return fail(400, "invalid byte in a field name");
      if (++fieldLines_ > limits_.maxHeaderCount) return fail(431, "too many header fields");
      state_ = State::Name;
      return true;
    case State::FinalLf:
      if (c != '\n') return fail(400, "CR without LF at the end of the head");
      state_ = State::Ended;
      return false;
    case State::Name:
      if (c == ':') {
        state_ = State::ValueStart;
        return true;
      }
      if (c == ' ' || c == '\t') return fail(400, "whitespace between field name and colon");
      if (!isTchar(c)) return fail(400, "invalid byte in a field name");
      return true;
    case State::ValueStart:
    case State::Value:
      if (c == '\r') {
        state_ = State::ValueLf;
        return true;
      }
      if (c == ' ' || c == '\t' || isVchar(c) || isObsText(c)) {
        state_ = State::Value;
        return true;
      }
      return fail(400,
                  c == '\n' ? "bare LF in a field line" : "control character in a field value");
    case State::ValueLf:
      if (c != '\n') return fail(400, "bare CR in a field value");
      state_ = State::LineStart;
      return true;
    default:
      return fail(400, "internal: unexpected checker state");
  }
}

}  // namespace duet::http
