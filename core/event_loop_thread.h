// A thread that makes its own EventLoop and runs it: "one loop per thread".
// The loop is constructed inside the thread because an io_uring ring set up
// with SINGLE_ISSUER belongs to the thread that created it.
#pragma once

#include <functional>
#include <future>
#include <memory>
#include <string>
#include <thread>

#include "core/event_loop.h"

namespace duet {

class EventLoopThread {
 public:
  using LoopFactory = std::function<std::unique_ptr<EventLoop>()>;

  EventLoopThread(LoopFactory factory, std::string name);
  ~EventLoopThread();  // quits the loop and joins
  EventLoopThread(const EventLoopThread&) = delete;
  EventLoopThread& operator=(const EventLoopThread&) = delete;

  // Starts the thread and returns its loop once it exists. Rethrows whatever
  // the factory threw (e.g. BackendUnavailable) on the calling thread.
  EventLoop* start();
  // Asks the loop to quit and waits for the thread. Idempotent.
  void stop();
  EventLoop* loop() const { return loop_; }

 private:
  LoopFactory factory_;
  std::string name_;
  std::thread thread_;
  std::promise<void> stopSignalled_;  // the loop outlives stop()'s wake-up write
  EventLoop* loop_ = nullptr;
};

}  // namespace duet
