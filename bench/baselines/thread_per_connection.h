// The thread-per-connection model's machinery, shared by duet-thread-echo
// (thread_echo.cc) and duet-thread-http (thread_http.cc). Each of those files
// is its protocol: what one connection's thread does, from the accepted
// socket to the end. This pair (the .h and thread_per_connection.cc) is
// everything around it, the same for both:
//
//   main thread:    accept() -> TCP_NODELAY -> pthread_create(serve the connection)
//   per connection: the protocol's serveConnection(fd), on its own thread,
//                   then the descriptor is closed and the thread's counters
//                   added to the totals
//
// How threads are started: one per connection, detached, with a 64 KiB stack
// (thread_per_connection.cc says why that size). How they are limited: threads
// are a resource that runs out (RLIMIT_NPROC, kernel.threads-max, pid_max,
// memory for stacks); when one cannot be created, or --max-threads are already
// running, that connection is closed at once, counted, and one line per burst
// of such refusals goes to stderr. Everyone already connected is still served.
// The same happens when accept() runs out of descriptors. How they are
// counted: each thread counts into its own Counters and adds them to the
// totals once, as it ends. How they are stopped and reaped: SIGINT/SIGTERM
// shut the listener and then every live connection down, which wakes each
// blocked thread; the main thread waits until the last one has finished,
// prints --stats and exits 0.
//
// Flags, the same for both servers:
//   --port P          TCP port on 127.0.0.1 (0 = ephemeral)
//   --cpu C           pin the process (and so every connection's thread) to C
//   --stats           print the counters at exit, one "stats loop=raw ..." line
//   --max-threads N   connections served at once; the next is refused
// Prints "listening on PORT" when ready, like duet-raw-epoll.
#pragma once

#include <cstddef>
#include <cstdint>

namespace threadbaseline {

// What one connection's thread counted. Every thread has its own, on its
// stack, and adds it to the totals once, as it ends: while the threads run
// they never share a counter (nor its cache line), and no lock or atomic
// sits on the path of a message.
struct Counters {
  uint64_t syscalls = 0;  // every system call, counted by hand
  uint64_t wakeups = 0;   // blocking reads that returned: each is a thread waking up
  uint64_t events = 0;    // those that brought bytes
  uint64_t bytesIn = 0;
  uint64_t bytesOut = 0;
  uint64_t requests = 0;  // answered, errors included (a protocol with requests: HTTP)
};

// The two blocking calls every protocol makes, counted the same way.
//
// read() once: the thread sleeps until the peer sends. Returns the bytes read
// (at most n), or 0 when the connection is over: the peer closed or reset
// it, or stopping shut it down. An interrupted read is tried again.
size_t readSome(int fd, char* buf, size_t n, Counters& c);

// write() until everything is out: a blocking socket may still take only
// part of a large buffer (a signal, or a send buffer smaller than the data).
// False when the connection is gone (EPIPE, ECONNRESET) or stopping shut it
// down.
bool writeAll(int fd, const char* p, size_t n, Counters& c);

// One server: its protocol and the names it goes by.
struct Server {
  const char* name;         // "thread-echo": the stats line's mode=, the start of stderr lines
  const char* description;  // the first line of --help
  // Serves one connection on its own thread, start to end, counting into
  // `counters`; returns when the connection is over. It does not close fd:
  // the caller does, after taking it out of the live connections (see
  // thread_per_connection.cc).
  void (*serveConnection)(int fd, Counters& counters);
  // --stats also prints "requests=N" (the sum of Counters::requests).
  bool countsRequests = false;
};

// The whole process around the protocol: flags, listening socket, accept
// loop, stopping, --stats. Returns main()'s exit code.
int run(const Server& server, int argc, char** argv);

}  // namespace threadbaseline
