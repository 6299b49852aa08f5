#include "tests/support/server_harness.h"

#include <future>

namespace duet::test {

ServerHarness::ServerHarness(const LoopOptions& loopOptions, ServerOptions serverOptions,
                             ConnectionCallbacks callbacks) {
  std::promise<void> ready;
  auto started = ready.get_future();
  runEndedFuture_ = runEnded_.get_future().share();
  auto release = release_.get_future();
  thread_ = std::thread([&, release = std::move(release), serverOptions = std::move(serverOptions),
                         callbacks = std::move(callbacks)]() mutable {
    try {
      loop_ = makeEventLoop(loopOptions);
      loop_->setName("test-main");
      server_ = std::make_unique<TcpServer>(*loop_, std::move(serverOptions), std::move(callbacks));
      std::string err;
      if (!server_->start(&err)) error_ = err.empty() ? "start failed" : err;
      address_ = server_->listenAddress();
    } catch (const std::exception& e) {
      error_ = e.what();
    }
    if (!error_.empty()) {
      server_.reset();
      loop_.reset();
      ready.set_value();
      return;
    }
    ready.set_value();
    loop_->run();
    runEnded_.set_value();
    release.wait();
    server_.reset();  // closes whatever the graceful stop left open
    loop_.reset();    // on its own thread, as it was made
  });
  started.wait();
  if (!error_.empty()) thread_.join();
}

ServerHarness::~ServerHarness() { stop(); }

void ServerHarness::runSync(const std::function<void()>& fn) {
  std::promise<void> done;
  auto finished = done.get_future();
  loop_->runInLoop([&] {
    fn();
    done.set_value();
  });
  finished.wait();
}

void ServerHarness::stop() {
  if (!thread_.joinable()) return;
  if (runEndedFuture_.wait_for(std::chrono::seconds(0)) != std::future_status::ready) {
    EventLoop* loop = loop_.get();
    TcpServer* server = server_.get();
    loop->runInLoop([loop, server] { server->stop([loop] { loop->quit(); }); });
  }
  runEndedFuture_.wait();
  release_.set_value();
  thread_.join();
}

}  // namespace duet::test
