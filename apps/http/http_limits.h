// The limits and timeouts of the HTTP server, in one place.
//
// Each limit answers a different abuse with its own status code, and none of
// them may disturb other connections: a limit is checked as the bytes arrive
// (never after buffering a whole request), so a hostile request costs at most
// about one limit's worth of memory before it is refused.
#pragma once

#include <chrono>
#include <cstddef>

#include "core/timer_queue.h"

namespace duet::http {

struct HttpLimits {
  // Request-target longer than this: 414 URI Too Long.
  std::size_t maxUrlBytes = 8 * 1024;
  // Header names + values (trailers included) beyond this, or more than
  // maxHeaderCount fields: 431 Request Header Fields Too Large.
  std::size_t maxHeaderBytes = 16 * 1024;
  std::size_t maxHeaderCount = 100;
  // Request body (Content-Length or the sum of chunks) beyond this: 413.
  std::size_t maxBodyBytes = 1024 * 1024;

  // Requests parsed but not yet answered (pipelining while a response is still
  // streaming or the output is full). At the cap we stop reading the socket.
  std::size_t maxPipelined = 16;
  // Pending output above which we stop answering queued requests: a client
  // that pipelines without reading cannot make us buffer without bound.
  std::size_t outputHighWater = 1024 * 1024;

  // Large files: read this much per pread, and keep at most streamHighWater
  // bytes queued in the connection's output before waiting for it to drain.
  std::size_t streamChunkBytes = 256 * 1024;
  std::size_t streamHighWater = 512 * 1024;
  // Chunks read per turn of the loop before yielding to other connections.
  int streamChunksPerTurn = 8;

  // From a request's first byte to the end of its headers (slowloris), and
  // between two reads of its body: 408 Request Timeout, then close.
  Duration headerTimeout = std::chrono::seconds(10);
  // A keep-alive connection with nothing to do for this long is closed.
  Duration keepAliveTimeout = std::chrono::seconds(30);
  // Output pending with no progress for this long: the peer stopped reading.
  // Progress is any of the output taken, not only all of it (a slow reader).
  Duration sendTimeout = std::chrono::seconds(60);
  // After our last response and FIN, how long we keep reading (and discarding)
  // before closing hard. Closing at once could turn unread input into a reset
  // that destroys the response before the client read it ("lingering close").
  Duration lingerTimeout = std::chrono::seconds(5);
};

}  // namespace duet::http
