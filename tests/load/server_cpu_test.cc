// processCpuNs: the server's CPU read at the edges of every measured window.
// A thread-per-connection server under connection churn starts and ends
// threads inside one window; the CPU those threads used must still count.
//
// The reference is each thread's own CPU clock (CLOCK_THREAD_CPUTIME_ID), read
// by the thread itself just before it exits: the process as a whole ran at
// least that long, so no timing threshold decides the outcome.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cstdint>
#include <thread>
#include <vector>

#include "server_cpu.h"

namespace duetload {
namespace {

int64_t ownThreadCpuNs() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return int64_t{ts.tv_sec} * 1'000'000'000 + ts.tv_nsec;
}

// Spins until this thread has run `ns` of CPU; returns what it has run.
int64_t burnCpu(int64_t ns) {
  volatile uint64_t sink = 0;
  int64_t used = 0;
  while ((used = ownThreadCpuNs()) < ns)
    for (int i = 0; i < 10'000; ++i) sink = sink * 31 + static_cast<uint64_t>(i);
  return used;
}

// One byte each way between the test and its child; false if the other side
// is gone or (a bounded wait for the child) did not answer within 60 s.
bool sendByte(int fd) {
  const char b = 'x';
  return write(fd, &b, 1) == 1;
}
bool receive(int fd, void* into, size_t size) {
  pollfd p{fd, POLLIN, 0};
  if (poll(&p, 1, 60'000) != 1) return false;
  return read(fd, into, size) == static_cast<ssize_t>(size);
}

// The child: waits for "go", runs threads that burn CPU and exit (all joined
// before it answers), sends the sum of their own CPU clocks, and stays alive
// until the test has read its CPU a second time.
[[noreturn]] void childBody(int fromTest, int toTest) {
  char go = 0;
  if (read(fromTest, &go, 1) != 1) _exit(1);
  constexpr int kThreads = 4;
  constexpr int64_t kBurnNsPerThread = 30'000'000;  // 30 ms each
  std::vector<int64_t> used(kThreads, 0);
  std::vector<std::thread> threads;
  for (int i = 0; i < kThreads; ++i)
    threads.emplace_back([&used, i] { used[static_cast<size_t>(i)] = burnCpu(kBurnNsPerThread); });
  for (auto& t : threads) t.join();
  int64_t sum = 0;
  for (int64_t u : used) sum += u;
  if (write(toTest, &sum, sizeof sum) != static_cast<ssize_t>(sizeof sum)) _exit(1);
  char done = 0;
  if (read(fromTest, &done, 1) != 1) _exit(1);
  _exit(0);
}

TEST(ServerCpu, CountsTheCpuOfThreadsThatExitedInsideTheWindow) {
  int toChild[2], fromChild[2];
  ASSERT_EQ(pipe2(toChild, O_CLOEXEC), 0);
  ASSERT_EQ(pipe2(fromChild, O_CLOEXEC), 0);
  const pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) childBody(toChild[0], fromChild[1]);
  close(toChild[0]);
  close(fromChild[1]);

  const int64_t before = processCpuNs(child);  // the child waits for "go": one live thread
  int64_t threadsRan = 0;
  const bool answered =
      sendByte(toChild[1]) && receive(fromChild[0], &threadsRan, sizeof threadsRan);
  const int64_t after = processCpuNs(child);  // its burning threads have all exited
  sendByte(toChild[1]);  // "done" (or, closed, the child's read fails and it exits)
  close(toChild[1]);
  close(fromChild[0]);
  int status = 0;
  ASSERT_EQ(waitpid(child, &status, 0), child);
  ASSERT_TRUE(answered) << "the child did not report its threads' CPU";
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;

  ASSERT_GE(before, 0);
  ASSERT_GE(after, 0);
  ASSERT_GE(threadsRan, 4 * 30'000'000);
  // >= 90%: the process ran at least as long as its threads' own clocks say;
  // the margin only allows for a different rounding of the same time.
  EXPECT_GE(after - before, threadsRan / 10 * 9)
      << "read " << after - before << " ns of CPU across the window; the exited threads alone ran "
      << threadsRan << " ns";
}

// Our own process (duet-load reads its own CPU the same way), with the
// threads started and ended between the two readings.
TEST(ServerCpu, CountsOwnExitedThreads) {
  const int64_t before = processCpuNs(getpid());
  int64_t threadsRan = 0;
  std::thread([&threadsRan] { threadsRan = burnCpu(30'000'000); }).join();
  const int64_t after = processCpuNs(getpid());
  ASSERT_GE(before, 0);
  ASSERT_GE(threadsRan, 30'000'000);
  EXPECT_GE(after - before, threadsRan / 10 * 9);
}

TEST(ServerCpu, UnreadableWithoutAProcess) { EXPECT_EQ(processCpuNs(0), -1); }

}  // namespace
}  // namespace duetload
