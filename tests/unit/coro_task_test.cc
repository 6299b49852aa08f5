// Task<T> and spawn() without a loop: a hand-driven event stands in for I/O,
// so each test decides exactly when a suspended coroutine resumes.
#include "core/coro/spawn.h"
#include "core/coro/task.h"

#include <coroutine>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include <gtest/gtest.h>

namespace duet::coro {
namespace {

// co_await event.wait(): suspends until the test calls fire(). (Awaited
// through a small awaiter, not as an lvalue: g++ 12 copies an lvalue awaiter
// captured by reference in a lambda coroutine, and the copy would be the one
// holding the handle.)
class ManualEvent {
 public:
  ManualEvent() = default;
  ManualEvent(const ManualEvent&) = delete;
  ManualEvent& operator=(const ManualEvent&) = delete;
  struct Awaiter {
    ManualEvent& event;
    bool await_ready() const noexcept { return event.fired_; }
    void await_suspend(std::coroutine_handle<> h) { event.waiting_ = h; }
    void await_resume() const noexcept {}
  };
  Awaiter wait() { return {*this}; }
  bool waiting() const { return static_cast<bool>(waiting_); }
  void fire() {
    fired_ = true;
    if (auto h = std::exchange(waiting_, {})) h.resume();
  }

 private:
  bool fired_ = false;
  std::coroutine_handle<> waiting_;
};

// Counts the frames alive that hold one, so a test can see frames destroyed.
struct FrameCounter {
  explicit FrameCounter(int& n) : live(n) { ++live; }
  ~FrameCounter() { --live; }
  int& live;
};

Task<int> answer(std::vector<std::string>& trace) {
  trace.push_back("answer runs");
  co_return 42;
}

TEST(CoroTask, IsLazyAndHandsItsValueToTheAwaiter) {
  std::vector<std::string> trace;
  int got = 0;
  auto outer = [&]() -> Task<void> {
    Task<int> child = answer(trace);
    trace.push_back("child created");  // not started yet: lazy
    got = co_await child;
  };
  spawn(outer());
  EXPECT_EQ(trace, (std::vector<std::string>{"child created", "answer runs"}));
  EXPECT_EQ(got, 42);
  EXPECT_EQ(liveSpawnedCount(), 0u);
}

TEST(CoroTask, ANeverAwaitedTaskNeverRunsAndFreesItsFrame) {
  std::vector<std::string> trace;
  { Task<int> unused = answer(trace); }
  EXPECT_TRUE(trace.empty());
}

Task<int> throwsAfter(ManualEvent& event) {
  co_await event.wait();
  throw std::runtime_error("boom");
}

TEST(CoroTask, ExceptionReachesTheAwaiterAfterASuspension) {
  ManualEvent event;
  std::string caught;
  auto outer = [&]() -> Task<void> {
    try {
      (void)co_await throwsAfter(event);
    } catch (const std::runtime_error& e) {
      caught = e.what();
    }
  };
  spawn(outer());
  EXPECT_EQ(liveSpawnedCount(), 1u);  // suspended in the child
  EXPECT_TRUE(caught.empty());
  event.fire();
  EXPECT_EQ(caught, "boom");
  EXPECT_EQ(liveSpawnedCount(), 0u);
}

TEST(CoroTask, ExceptionEscapingASpawnedTaskEndsOnlyThatTask) {
  ManualEvent event;
  auto failing = [&]() -> Task<void> {
    co_await event.wait();
    throw std::runtime_error("handler failed");
  };
  spawn(failing());
  EXPECT_EQ(liveSpawnedCount(), 1u);
  event.fire();  // logged, not rethrown here
  EXPECT_EQ(liveSpawnedCount(), 0u);
}

Task<long> depth(int n) {
  if (n == 0) co_return 0;
  co_return 1 + co_await depth(n - 1);
}

// Symmetric transfer is a tail call only where the compiler can make one:
// under AddressSanitizer g++ keeps a stack frame per transfer, so a sanitized
// build checks a shallower chain.
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
constexpr int kDeepChain = 2000;
#else
constexpr int kDeepChain = 200000;
#endif

TEST(CoroTask, DeepChainOfImmediateCompletionsUsesConstantStack) {
  // Each level starts its child and is resumed by it through symmetric
  // transfer: with resume() calls instead, 200,000 nested frames of stack
  // would overflow the thread's 8 MiB.
  long got = -1;
  auto outer = [&]() -> Task<void> { got = co_await depth(kDeepChain); };
  spawn(outer());
  EXPECT_EQ(got, kDeepChain);
}

TEST(CoroTask, ResumesWhereItWaitedAndDestroysEveryFrameAtTheEnd) {
  int live = 0;
  ManualEvent first, second;
  std::vector<int> seen;
  auto inner = [&](ManualEvent& e, int tag) -> Task<int> {
    FrameCounter c(live);
    co_await e.wait();
    co_return tag;
  };
  auto outer = [&]() -> Task<void> {
    FrameCounter c(live);
    seen.push_back(co_await inner(first, 1));
    seen.push_back(co_await inner(second, 2));
  };
  spawn(outer());
  EXPECT_EQ(live, 2);
  EXPECT_TRUE(first.waiting());
  first.fire();
  EXPECT_EQ(seen, std::vector<int>{1});
  EXPECT_TRUE(second.waiting());
  second.fire();
  EXPECT_EQ(seen, (std::vector<int>{1, 2}));
  EXPECT_EQ(live, 0);
  EXPECT_EQ(liveSpawnedCount(), 0u);
}

TEST(CoroTask, MoveOnlyValuesComeOutWhole) {
  auto make = []() -> Task<std::unique_ptr<std::string>> {
    co_return std::make_unique<std::string>("moved");
  };
  std::string got;
  auto outer = [&]() -> Task<void> { got = *co_await make(); };
  spawn(outer());
  EXPECT_EQ(got, "moved");
}

}  // namespace
}  // namespace duet::coro
