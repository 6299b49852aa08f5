// What one loop turn costs on each backend, measured from outside the loop:
//
//   BM_LoopWakeup/<backend>   another thread queueInLoop()s a task and waits
//                             until it has run: the cross-thread wake-up
//                             (eventfd write + the wait returning, or MSG_RING)
//                             and the task queue, there and back.
//   BM_EchoRoundTrip/<backend>  one 128-byte message over loopback TCP to a duet
//                             TcpServer echo and back, with a plain blocking
//                             socket as the client: a whole loop turn
//                             (wait, read, onMessage, write) per iteration.
//
// One benchmark per backend, registered from duet::allBackends(); a backend
// that cannot run here (io_uring disabled, say) reports the reason and is
// skipped. The server's loop runs on its own thread; on a 2-core machine the
// client and the loop each get a core only if nothing else runs.
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <future>
#include <memory>
#include <string>
#include <thread>

#include <benchmark/benchmark.h>

#include "bench_util.h"
#include "core/backend.h"
#include "core/event_loop.h"
#include "core/event_loop_thread.h"
#include "core/tcp_server.h"

namespace duet::bench {
namespace {

// Waits for `flag` to reach `want`: spins briefly (a wake-up takes microseconds),
// then yields so a loop thread sharing the core can still run.
void awaitValue(const std::atomic<std::uint64_t>& flag, std::uint64_t want) {
  for (int spins = 0; flag.load(std::memory_order_acquire) < want; ++spins) {
    if (spins > 2000) std::this_thread::yield();
  }
}

void BM_LoopWakeup(benchmark::State& state, Backend backend) {
  EventLoopThread thread([backend] { return makeEventLoop(LoopOptions{.backend = backend}); },
                         "bench-loop");
  EventLoop* loop = nullptr;
  try {
    loop = thread.start();
  } catch (const BackendUnavailable& e) {
    state.SkipWithError((std::string("skipped: ") + e.what()).c_str());
    return;
  }
  std::atomic<std::uint64_t> answered{0};
  std::uint64_t sent = 0;
  for (auto _ : state) {
    ++sent;
    loop->queueInLoop([&answered] { answered.fetch_add(1, std::memory_order_release); });
    awaitValue(answered, sent);
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
  state.counters["loop_wakeups"] = static_cast<double>(loop->stats().wakeups.get());
  thread.stop();
}

// A TcpServer on its own loop thread: made, started, stopped and destroyed
// there, as an application would (the loop belongs to its thread).
class EchoServerThread {
 public:
  explicit EchoServerThread(Backend backend) {
    std::promise<void> ready;
    auto started = ready.get_future();
    thread_ = std::thread([this, backend, &ready] {
      try {
        loop_ = makeEventLoop(LoopOptions{.backend = backend});
        ConnectionCallbacks cb;
        cb.onMessage = [](const ConnectionPtr& conn, Buffer& in) {
          conn->send(in.view());
          in.retrieveAll();
        };
        server_ =
            std::make_unique<TcpServer>(*loop_, ServerOptions{.listen = InetAddress(0, true)}, cb);
        if (!server_->start(&error_) && error_.empty()) error_ = "start failed";
        port_ = server_->listenAddress().port();
      } catch (const std::exception& e) {
        error_ = e.what();
      }
      ready.set_value();
      if (!error_.empty()) {
        server_.reset();
        loop_.reset();
        return;
      }
      loop_->run();
      server_.reset();
      loop_.reset();
    });
    started.wait();
  }

  ~EchoServerThread() {
    if (loop_ && error_.empty()) {
      EventLoop* loop = loop_.get();
      TcpServer* server = server_.get();
      loop->runInLoop([loop, server] { server->stop([loop] { loop->quit(); }); });
    }
    if (thread_.joinable()) thread_.join();
  }

  const std::string& error() const { return error_; }
  std::uint16_t port() const { return port_; }

 private:
  std::thread thread_;
  std::unique_ptr<EventLoop> loop_;
  std::unique_ptr<TcpServer> server_;
  std::string error_;
  std::uint16_t port_ = 0;
};

bool readAll(int fd, char* data, std::size_t len) {
  while (len > 0) {
    const ssize_t n = ::read(fd, data, len);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    data += n;
    len -= static_cast<std::size_t>(n);
  }
  return true;
}

void BM_EchoRoundTrip(benchmark::State& state, Backend backend) {
  const auto size = static_cast<std::size_t>(state.range(0));
  EchoServerThread server(backend);
  if (!server.error().empty()) {
    state.SkipWithError((std::string("skipped: ") + server.error()).c_str());
    return;
  }
  UniqueFd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(server.port());
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  int one = 1;
  ::setsockopt(fd.get(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  if (::connect(fd.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0) {
    state.SkipWithError((std::string("connect: ") + std::strerror(errno)).c_str());
    return;
  }
  std::string out(size, 'x');
  std::string in(size, '\0');
  for (auto _ : state) {
    if (!writeAll(fd.get(), out.data(), out.size()) || !readAll(fd.get(), in.data(), in.size())) {
      state.SkipWithError("the echo connection failed");
      break;
    }
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * size * 2));
}

// Registered at start-up, one per backend duet knows.
const bool kRegistered = [] {
  for (Backend b : allBackends()) {
    const std::string name(backendName(b));
    benchmark::RegisterBenchmark(("BM_LoopWakeup/" + name).c_str(), BM_LoopWakeup, b)
        ->Unit(benchmark::kMicrosecond)
        ->UseRealTime();
    benchmark::RegisterBenchmark(("BM_EchoRoundTrip/" + name).c_str(), BM_EchoRoundTrip, b)
        ->Arg(128)
        ->Unit(benchmark::kMicrosecond)
        ->UseRealTime();
  }
  return true;
}();

}  // namespace
}  // namespace duet::bench
