// HttpHarness: an HttpServer on its own loop thread, as duet-http runs it,
// for the end-to-end HTTP tests.
#pragma once

#include <future>
#include <memory>
#include <string>
#include <thread>

#include "apps/http/http_server.h"
#include "core/event_loop.h"

namespace duet::http {

// Runs an HttpServer on its own loop thread, like duet-http does, and stops it
// gracefully when destroyed.
class HttpHarness {
 public:
  HttpHarness(const LoopOptions& loopOptions, HttpServerOptions options) {
    std::promise<void> ready;
    auto started = ready.get_future();
    thread_ =
        std::thread([&, options = std::move(options), release = release_.get_future()]() mutable {
          std::unique_ptr<EventLoop> loop;
          std::unique_ptr<HttpServer> server;
          try {
            loop = makeEventLoop(loopOptions);
            server = std::make_unique<HttpServer>(*loop, std::move(options));
            std::string err;
            if (!server->start(&err)) error_ = err.empty() ? "start failed" : err;
            address_ = server->listenAddress();
          } catch (const BackendUnavailable& e) {
            unavailable_ = e.what();
          } catch (const std::exception& e) {
            error_ = e.what();
          }
          if (!error_.empty() || !unavailable_.empty()) {
            server.reset();
            loop.reset();
            ready.set_value();
            return;
          }
          loop_ = loop.get();
          server_ = server.get();
          ready.set_value();
          loop->run();
          // Not before the destructor has left runInLoop(): queueInLoop() still
          // wakes the loop after queueing the stop, which may already have run.
          release.wait();
          server.reset();
          loop.reset();
        });
    started.wait();
    if (!loop_) thread_.join();
  }
  ~HttpHarness() {
    if (!thread_.joinable()) return;
    EventLoop* loop = loop_;
    HttpServer* server = server_;
    loop->runInLoop([loop, server] { server->stop([loop] { loop->quit(); }); });
    release_.set_value();
    thread_.join();
  }
  // Connections open on the server (an atomic counter: any thread).
  std::size_t connections() const { return server_->tcp().connectionCount(); }
  const std::string& error() const { return error_; }
  const std::string& unavailable() const { return unavailable_; }
  const InetAddress& address() const { return address_; }
  std::string url(const std::string& path) const { return "http://" + address_.toIpPort() + path; }

 private:
  std::promise<void> release_;
  std::thread thread_;
  EventLoop* loop_ = nullptr;
  HttpServer* server_ = nullptr;
  InetAddress address_;
  std::string error_;
  std::string unavailable_;
};

}  // namespace duet::http
