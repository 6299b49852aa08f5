// What duet-http does with a connection, written as a coroutine (--api
// coroutines). The callback version is http_connection.h/.cc; both use the
// same RequestParser, Router and ResponseWriter, so the bytes on the wire are
// the same. What differs is who remembers where a connection is:
//
//   callbacks (HttpConnection)            coroutine (serveHttpConnection)
//   ----------------------------------    ----------------------------------
//   onInput / onWriteComplete / onTimer   one function, top to bottom:
//   all call advance(), which works out   read -> parse -> answer -> write,
//   from a dozen flags what to do next    and the position in it is the state
//   waiting_ queue while output is full   the coroutine waits in write(): it
//                                         parses nothing meanwhile
//   stopReading() at maxPipelined         the Stream stops reading on its own
//                                         (kReadAheadBytes) while nobody reads
//   a sweep timer per loop checks every   a slow request's head or body and
//   connection's deadlines                the lingering close carry their own
//                                         limit (withTimeout); reads between
//                                         requests and writes none: the
//                                         engine's idle eviction closes a
//                                         connection where no byte moved for
//                                         keepAliveTimeout (a timer per
//                                         request cost 1.15-1.28x the CPU).
//                                         So a peer that stops reading is
//                                         closed after keepAliveTimeout, not
//                                         sendTimeout.
//   pumpStream + defer for large files    a loop: co_await a chunk's read
//   (Transport::readFile's callback)      (coro::readFile), co_await its
//                                         write, now and then yield
//
// Output of one read still leaves together: every request the input holds
// is answered into one string, written once (the same one write per read as
// the callback version's gathering gives).
#pragma once

#include "apps/http/http_connection.h"  // HttpContext
#include "core/coro/stream.h"
#include "core/coro/task.h"

namespace duet::http {

// asyncFileReads: file bodies are read with the loop's readFile (--file-io
// async), else with pread on the loop thread (--file-io loop).
coro::Task<void> serveHttpConnection(coro::Stream conn, const HttpContext& context,
                                     bool asyncFileReads);

}  // namespace duet::http
