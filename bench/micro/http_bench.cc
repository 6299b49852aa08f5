// HTTP parse-and-respond without sockets: a typical browser-ish GET /hello
// goes through HttpConnection (llhttp parsing, routing, response writing)
// over an in-memory Transport, and the response bytes come back. This is the
// HTTP server's own work per request, with the loop and the kernel left out;
// compare it with duet-compare's CPU µs per HTTP request to see how much of a
// request is HTTP and how much is the loop and the TCP stack.
#include <chrono>
#include <cstddef>
#include <functional>
#include <string>
#include <vector>

#include <benchmark/benchmark.h>

#include "apps/http/date_cache.h"
#include "apps/http/http_connection.h"
#include "apps/http/router.h"
#include "core/buffer.h"

namespace duet::bench {
namespace {

// The smallest Transport: bytes in from a Buffer, bytes out into a string.
class MemoryTransport final : public http::Transport {
 public:
  Buffer in;
  std::string out;
  std::vector<std::function<void()>> deferred;

  Buffer& input() override { return in; }
  void send(std::string&& bytes) override { out += bytes; }
  std::size_t pendingOutputBytes() const override { return 0; }
  void shutdown() override {}
  void forceClose() override {}
  void stopReading() override {}
  void startReading() override {}
  void defer(std::function<void()> task) override { deferred.push_back(std::move(task)); }
  TimePoint now() const override { return TimePoint{} + std::chrono::hours(1); }
  std::string_view date() override {
    return http::DateCache::forThisThread().now();
  }  // the real cost
  std::string peerName() const override { return "bench"; }
};

constexpr std::string_view kRequest =
    "GET /hello HTTP/1.1\r\n"
    "Host: 127.0.0.1:8080\r\n"
    "User-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:109.0) Gecko/20100101 Firefox/115.0\r\n"
    "Accept: text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8\r\n"
    "Accept-Language: en-US,en;q=0.5\r\n"
    "Accept-Encoding: gzip, deflate, br\r\n"
    "Connection: keep-alive\r\n"
    "\r\n";

// One keep-alive connection answering `pipelined` requests per read.
void BM_HttpParseRespond(benchmark::State& state) {
  const auto pipelined = static_cast<std::size_t>(state.range(0));
  http::Router router(http::RouterOptions{});
  http::HttpContext context;
  context.router = &router;
  MemoryTransport transport;
  http::HttpConnection conn(transport, context);
  std::string batch;
  for (std::size_t i = 0; i < pipelined; ++i) batch += kRequest;
  std::size_t responseBytes = 0;
  for (auto _ : state) {
    transport.in.append(batch);
    conn.onInput();
    for (auto& task : transport.deferred) task();
    transport.deferred.clear();
    responseBytes = transport.out.size();
    benchmark::DoNotOptimize(transport.out.data());
    transport.out.clear();
  }
  if (responseBytes == 0 || !transport.in.empty())
    state.SkipWithError("no response, or the request was not consumed");
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * pipelined));
  state.counters["response_bytes"] =
      static_cast<double>(responseBytes) / static_cast<double>(pipelined);
}
BENCHMARK(BM_HttpParseRespond)->Arg(1)->Arg(16)->Unit(benchmark::kNanosecond);

}  // namespace
}  // namespace duet::bench
