// libFuzzer target: HTTP request handling, bytes in -> response bytes out.
//
// Drives HttpConnection (parser, router, static files, pipelining, limits,
// timeouts) through an in-memory Transport, the same socket-free seam the unit
// tests use. The input's first byte picks the configuration and seeds the way
// the remaining bytes (raw HTTP, so any request file is a seed) are split and
// interleaved with output drains and timer turns.
//
// Every input runs three times:
//   A. all bytes at once, output drained at once, no timers;
//   B. the same bytes in pseudo-random pieces, with output held back and
//      drained at pseudo-random moments, honouring stopReading/startReading;
//   C. like B, with the clock jumping forward and timer turns in between.
// and must satisfy:
//   - A and B wrote the same bytes (modulo Date and "100 Continue" lines):
//     how TCP splits a request, and how fast the client reads, must not change
//     the answer, not even which error status a malformed request gets
//     (request smuggling and desync bugs show up here);
//   - nothing is sent after shutdown() or forceClose();
//   - a file outside the document root (reached by "..", encodings, or a
//     symlink inside the root) never appears in the output;
//   - the output is a sequence of well-formed HTTP/1.1 responses (in C, the
//     last body may be cut short when the send timeout closed a connection
//     whose peer read nothing for that long: see runOnce in http_replay.h);
//   - whatever the input, the bytes waiting in the connection stay bounded.
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "apps/http/http_connection.h"
#include "apps/http/http_limits.h"
#include "apps/http/router.h"
#include "core/log.h"
#include "tests/fuzz/http_replay.h"

namespace {

using namespace duet::http;
using replay::Run;

constexpr std::string_view kSecret = "DUET_FUZZ_SECRET_7f3a";

[[noreturn]] void fail(const std::string& what) {
  std::fprintf(stderr, "http_fuzz: %s\n", what.c_str());
  std::abort();
}

const replay::FailFn kFail = [](const std::string& what) { fail(what); };

struct Fixture {
  std::filesystem::path dir;
  std::unique_ptr<Router> router;        // files inline up to 64 KiB
  std::unique_ptr<Router> streamRouter;  // files over 16 bytes are streamed
};

Fixture& fixture() {
  static Fixture* f = [] {
    auto* fx = new Fixture;
    char tmpl[] = "/tmp/duet-http-fuzz-XXXXXX";
    if (!mkdtemp(tmpl)) fail("mkdtemp failed");
    fx->dir = tmpl;
    const auto root = fx->dir / "root";
    std::filesystem::create_directories(root / "sub");
    std::ofstream(fx->dir / "secret.txt") << kSecret << '\n';
    std::ofstream(root / "index.html") << "<h1>hello</h1>\n";
    std::ofstream(root / "a.txt") << std::string(300, 'a');
    std::ofstream(root / "sub" / "b.css") << "body{}\n";
    std::ofstream(root / "sub" / "index.html") << "sub\n";
    std::error_code ec;
    std::filesystem::create_symlink("../secret.txt", root / "link-out", ec);
    std::filesystem::create_symlink("../../secret.txt", root / "sub" / "up", ec);
    std::filesystem::create_directory_symlink("..", root / "parent", ec);
    fx->router = std::make_unique<Router>(
        RouterOptions{.root = root.string(), .statsJson = {}, .inlineFileLimit = 64 * 1024});
    fx->streamRouter = std::make_unique<Router>(
        RouterOptions{.root = root.string(), .statsJson = {}, .inlineFileLimit = 16});
    return fx;
  }();
  return *f;
}

std::size_t occurrences(std::string_view text, std::string_view needle) {
  std::size_t n = 0;
  for (std::size_t at = 0; (at = text.find(needle, at)) != std::string_view::npos;
       at += needle.size())
    ++n;
  return n;
}

replay::Replayed runOnce(std::string_view input, std::uint8_t config, Run mode) {
  Fixture& fx = fixture();
  return replay::runOnce(input, config, mode, config,
                         replay::Routers{fx.router.get(), fx.streamRouter.get()}, kFail);
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  duet::setLogLevel(duet::LogLevel::Off);
  fixture();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1 || size > 64 * 1024) return 0;
  const std::uint8_t config = data[0];
  const std::string_view input(reinterpret_cast<const char*>(data + 1), size - 1);

  const replay::Replayed wholeRun = runOnce(input, config, Run::Whole);
  const replay::Replayed splitRun = runOnce(input, config, Run::Split);
  const replay::Replayed timedRun = runOnce(input, config, Run::Timers);
  const std::string& whole = wholeRun.wire;
  const std::string& split = splitRun.wire;
  // /echo sends request bodies back, and the fuzzer learns the secret's bytes
  // from this very comparison: every copy in the input may come back once,
  // one more means the file was served.
  const std::size_t secretsIn = occurrences(input, kSecret);
  for (const replay::Replayed* run : {&wholeRun, &splitRun, &timedRun}) {
    if (occurrences(run->wire, kSecret) > secretsIn)
      fail("a file outside the document root was served");
    replay::checkWellFormed(*run, kFail);
  }
  // Strict: the same bytes, whatever the split. (Until issue 11 a final
  // error status was allowed to differ, 400 vs 501 or 414 vs 400; no more.)
  if (replay::normalize(whole) != replay::normalize(split)) {
    fail("the response depends on how the request was split or how fast it was read\n--- whole:\n" +
         replay::normalize(whole).substr(0, 2000) + "\n--- split:\n" +
         replay::normalize(split).substr(0, 2000));
  }
  return 0;
}
