#include "core/event_loop_thread.h"

#include <exception>
#include <future>

namespace duet {

EventLoopThread::EventLoopThread(LoopFactory factory, std::string name)
    : factory_(std::move(factory)), name_(std::move(name)) {}

EventLoopThread::~EventLoopThread() { stop(); }

EventLoop* EventLoopThread::start() {
  std::promise<EventLoop*> ready;
  auto future = ready.get_future();
  auto stopSignalled = stopSignalled_.get_future();
  thread_ = std::thread([this, &ready, stopSignalled = std::move(stopSignalled)] {
    std::unique_ptr<EventLoop> loop;
    try {
      loop = factory_();
      loop->setName(name_);
    } catch (...) {
      ready.set_exception(std::current_exception());
      return;
    }
    ready.set_value(loop.get());
    loop->run();
    // Wait until stop() has finished waking us: quit() sets the flag and then
    // writes the wake-up, and the loop must still exist for that write.
    stopSignalled.wait();
    // The loop dies on its own thread, as it was born: a ring with
    // SINGLE_ISSUER may only be torn down by its owner's submissions.
  });
  try {
    loop_ = future.get();
  } catch (...) {
    thread_.join();
    throw;
  }
  return loop_;
}

void EventLoopThread::stop() {
  if (!thread_.joinable()) return;
  if (loop_) loop_->quit();
  stopSignalled_.set_value();
  thread_.join();
  loop_ = nullptr;
}

}  // namespace duet
