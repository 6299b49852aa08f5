// duet-thread-echo: the classic thread-per-connection echo server, with
// blocking sockets and no framework. The "before" picture: what every event
// loop in this repository replaces, measured on the same workload.
//
// The whole model fits in one sentence: the main thread blocks in accept(),
// and every connection gets its own thread that blocks in read() and write().
//
//   main thread:    accept() -> TCP_NODELAY -> pthread_create(serveConnection)
//   per connection: read() whatever has arrived; write() all of it back;
//                   repeat until the peer closes
//
// This file is only the "per connection" line: the echo. The "main thread"
// line, and how the threads are started, counted, limited, stopped and
// reaped, is thread_per_connection.h (and .cc), shared with thread_http.cc.
//
// What it gets for free, and what an event loop must work for:
//   - Back-pressure: a peer that does not read its echoes fills the socket's
//     send buffer, write() blocks, this thread stops reading, and the peer's
//     own sends stall. No high-water mark, no output queue, no EPOLLOUT.
//   - State: the connection's whole state is this thread's stack frame.
//   - Fairness: the kernel's scheduler interleaves the connections.
// What it pays:
//   - A thread per connection: a stack, a kernel task, a scheduler entry.
//     Every message costs two context switches (the reader wakes, then
//     sleeps again) instead of one epoll_wait return shared by many sockets.
//   - Threads are a resource that runs out (thread_per_connection.h says
//     what happens to a connection that gets none).
//   - A stack each: 64 KiB (thread_per_connection.cc says why), of which
//     this file touches its 16 KiB read buffer and little more.
//
// What it costs here: every figure is in the committed full run,
// docs/results/2026-11-30-full-2 (report.md; the command in command.txt), in
// "Models side by side", where "CPU × callbacks" is this server's CPU per
// message over callbacks on epoll, per-round pairs:
//   - `echo c1 s128`: one connection, on par with the event loops (the
//     thread's blocking read against epoll_wait + read).
//   - `echo c100 s128`, `echo c1000 s128`, `echo c10000 s128`: more CPU per
//     message than every event-driven model, and a longer p99 (at 1,000 and
//     10,000 resting on few load cycles, as the table says). Every message
//     wakes a different thread, a context switch each way, where epoll hands
//     one wakeup many ready sockets: the same run's Summary table shows
//     events per wake-up for `thread` beside `epoll`.
//   - "RSS per idle connection", row `thread`: the touched stack pages,
//     mostly the read buffer, many times any event loop's row; the
//     kernel stack of every thread (/proc/meminfo KernelStack) comes on top,
//     unseen by RSS. That row is also where it went to 10,000 connections
//     (a thread each); pid_max and the descriptor limit (command.txt's
//     ulimit -n) are the next walls. A thread that cannot be created is the
//     refusal path in thread_per_connection.cc, tested with --max-threads in
//     tests/baselines/thread_baselines_test.cc.
//   - Its churn rows (`churn echo ...`) are not a measurement: that run's
//     duet-load summed the CPU of the live threads only and lost every
//     thread that had exited (fixed in bench/load/server_cpu.h since).
//
// Usage: duet-thread-echo [--port P] [--cpu C] [--stats] [--max-threads N]
// Prints "listening on PORT" when ready, like duet-raw-epoll.

#include <cstddef>

#include "thread_per_connection.h"

namespace {

using threadbaseline::Counters;
using threadbaseline::readSome;
using threadbaseline::writeAll;

constexpr size_t kReadBytes = 16 * 1024;  // on the thread's stack: see the top

// One connection, start to end, on its own thread. The caller closes fd.
void serveConnection(int fd, Counters& c) {
  char buf[kReadBytes];
  for (;;) {
    const size_t n = readSome(fd, buf, sizeof buf, c);  // sleeps until the peer sends
    if (n == 0) break;                                  // the peer closed, or reset
    if (!writeAll(fd, buf, n, c)) break;                // sleeps while the peer's window is full
  }
}

}  // namespace

int main(int argc, char** argv) {
  return threadbaseline::run(
      {.name = "thread-echo",
       .description = "duet-thread-echo: one blocking thread per connection echo server",
       .serveConnection = serveConnection},
      argc, argv);
}
