// libFuzzer target: duet::Buffer against a std::string model.
//
// The input is a little program: each op is one byte (the op code) followed by
// two argument bytes. The interpreter applies the op to a Buffer and to a
// std::string holding what the readable region must contain, and checks after
// every op that the two agree (contents, sizes, the region invariants). Bytes
// left over after the op stream are the payload appended by the append ops.
//
// readFd is driven through a real non-blocking pipe, so the readv + 64 KiB
// spill path (and the grow-from-spill path) run exactly as on a socket.
#include <fcntl.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>

#include "core/buffer.h"

namespace {

[[noreturn]] void fail(const char* what, std::size_t op) {
  std::fprintf(stderr, "buffer_fuzz: invariant broken after op %zu: %s\n", op, what);
  std::abort();
}

struct Pipe {
  int r = -1, w = -1;
  Pipe() {
    int fds[2];
    if (::pipe2(fds, O_NONBLOCK | O_CLOEXEC) != 0) std::abort();
    r = fds[0];
    w = fds[1];
  }
  ~Pipe() {
    ::close(r);
    ::close(w);
  }
};

class Bytes {
 public:
  Bytes(const std::uint8_t* data, std::size_t size) : p_(data), n_(size) {}
  bool empty() const { return n_ == 0; }
  std::uint8_t take() {
    if (n_ == 0) return 0;
    --n_;
    return *p_++;
  }
  std::uint16_t take16() {  // two statements: the order of operands of | is unspecified
    const std::uint16_t lo = take();
    return static_cast<std::uint16_t>(lo | (take() << 8));
  }

 private:
  const std::uint8_t* p_;
  std::size_t n_;
};

// Deterministic filler, so payloads are not all zeros and a misplaced byte shows.
std::string filler(std::size_t len, std::uint32_t seed) {
  std::string s(len, '\0');
  for (std::size_t i = 0; i < len; ++i) {
    seed = seed * 1103515245u + 12345u;
    // Mostly printable, with CR and LF common enough for findCRLF to matter.
    const std::uint8_t x = static_cast<std::uint8_t>(seed >> 16);
    s[i] = (x % 7 == 0) ? '\r' : (x % 11 == 0) ? '\n' : static_cast<char>('a' + x % 26);
  }
  return s;
}

void check(const duet::Buffer& b, const std::string& model, std::size_t op) {
  if (b.readableBytes() != model.size()) fail("readableBytes differs from the model", op);
  if (b.view() != model) fail("contents differ from the model", op);
  if (b.empty() != model.empty()) fail("empty() differs", op);
  if (b.capacity() != 0 &&
      b.prependableBytes() + b.readableBytes() + b.writableBytes() != b.capacity())
    fail("regions do not add up to the capacity", op);
  if (b.capacity() == 0 && (b.writableBytes() != 0 || b.prependableBytes() != 0))
    fail("no storage but room", op);
  // findCRLF / findEOL against std::string.
  const char* crlf = b.findCRLF();
  const std::size_t want = model.find("\r\n");
  if ((crlf == nullptr) != (want == std::string::npos)) fail("findCRLF presence", op);
  if (crlf && static_cast<std::size_t>(crlf - b.peek()) != want) fail("findCRLF position", op);
  const char* eol = b.findEOL();
  const std::size_t wantEol = model.find('\n');
  if ((eol == nullptr) != (wantEol == std::string::npos)) fail("findEOL presence", op);
  if (eol && static_cast<std::size_t>(eol - b.peek()) != wantEol) fail("findEOL position", op);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  Bytes in(data, size);
  duet::Buffer buf;
  duet::Buffer other;  // for swap / move
  std::string model, otherModel;
  Pipe pipe;
  std::size_t op = 0;
  static const bool trace = std::getenv("DUET_FUZZ_TRACE") != nullptr;
  while (!in.empty() && op < 4096) {
    const std::uint8_t code = in.take();
    const std::uint16_t arg = in.take16();
    if (trace)
      std::fprintf(stderr, "op %zu: %d(%u) readable=%zu cap=%zu\n", op, code % 14, arg,
                   buf.readableBytes(), buf.capacity());
    switch (code % 14) {
      case 0: {  // append small
        const std::string s = filler(arg % 300, arg + static_cast<std::uint32_t>(op));
        buf.append(s);
        model += s;
        break;
      }
      case 1: {  // append large (crosses the initial size and doubling steps)
        const std::string s =
            filler(static_cast<std::size_t>(arg) * 3, static_cast<std::uint32_t>(op));
        buf.append(s.data(), s.size());
        model += s;
        break;
      }
      case 2: {  // retrieve
        const std::size_t n = model.empty() ? 0 : arg % (model.size() + 1);
        buf.retrieve(n);
        model.erase(0, n);
        break;
      }
      case 3: {  // retrieveAsString
        const std::size_t n = model.empty() ? 0 : arg % (model.size() + 1);
        const std::string got = buf.retrieveAsString(n);
        if (got != model.substr(0, n)) fail("retrieveAsString returned the wrong bytes", op);
        model.erase(0, n);
        break;
      }
      case 4:
        buf.retrieveAll();
        model.clear();
        break;
      case 5: {  // prepend, within what is prependable
        const std::size_t room = buf.prependableBytes();
        if (room == 0) break;
        const std::size_t n = arg % (room + 1);
        const std::string s = filler(n, arg);
        buf.prepend(s.data(), n);
        model.insert(0, s);
        break;
      }
      case 6:  // shrink
        buf.shrink(arg % 2048);
        break;
      case 7: {  // ensureWritable + write in place + hasWritten
        const std::size_t n = arg % 5000;
        buf.ensureWritable(n);
        if (buf.writableBytes() < n) fail("ensureWritable gave too little room", op);
        const std::string s = filler(n, arg ^ 0x5a5a);
        if (n) std::memcpy(buf.beginWrite(), s.data(), n);
        buf.hasWritten(n);
        model += s;
        break;
      }
      case 8: {  // unwrite
        const std::size_t n = model.empty() ? 0 : arg % (model.size() + 1);
        buf.unwrite(n);
        model.resize(model.size() - n);
        break;
      }
      case 9: {  // readFd from a pipe: up to 64 KiB written, read until EAGAIN
        const std::size_t n = (static_cast<std::size_t>(arg) * 7) % 65537;
        const std::string s = filler(n, arg);
        std::size_t written = 0;
        while (written < n) {
          const ssize_t w = ::write(pipe.w, s.data() + written, n - written);
          if (w <= 0) break;  // pipe full (EAGAIN)
          written += static_cast<std::size_t>(w);
        }
        std::size_t readTotal = 0;
        for (;;) {
          int err = 0;
          const ssize_t r = buf.readFd(pipe.r, &err);
          if (r < 0) {
            if (err != EAGAIN) fail("readFd failed with an unexpected errno", op);
            break;
          }
          if (r == 0) fail("readFd saw EOF on an open pipe", op);
          readTotal += static_cast<std::size_t>(r);
        }
        if (readTotal != written) fail("readFd lost or invented bytes", op);
        model.append(s, 0, written);
        break;
      }
      case 10:  // swap
        buf.swap(other);
        std::swap(model, otherModel);
        check(other, otherModel, op);
        break;
      case 11: {  // move-assign into the other, then back
        other = std::move(buf);
        otherModel = std::move(model);
        model.clear();
        check(buf, model, op);  // a moved-from Buffer is empty and usable
        buf = std::move(other);
        model = std::move(otherModel);
        otherModel.clear();
        break;
      }
      case 12: {  // findCRLF from an offset
        if (model.empty()) break;
        const std::size_t start = arg % (model.size() + 1);
        const char* hit = buf.findCRLF(buf.peek() + start);
        const std::size_t want = model.find("\r\n", start);
        if ((hit == nullptr) != (want == std::string::npos)) fail("findCRLF(start) presence", op);
        if (hit && static_cast<std::size_t>(hit - buf.peek()) != want)
          fail("findCRLF(start) position", op);
        break;
      }
      case 13: {  // retrieveUntil the first CRLF (a line protocol's step)
        if (const char* crlf = buf.findCRLF()) {
          const std::size_t n = static_cast<std::size_t>(crlf - buf.peek()) + 2;
          buf.retrieveUntil(crlf + 2);
          model.erase(0, n);
        }
        break;
      }
    }
    check(buf, model, op);
    ++op;
  }
  return 0;
}
