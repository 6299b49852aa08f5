// What duet-echo does with a connection, apart from flags and main(): sends
// back every byte it receives. Here so tests can run the very same callbacks
// in-process.
//
// Backpressure: if a client sends faster than it reads, its echoed bytes pile
// up in our output buffer. At the high-water mark we stop reading from that
// client (its TCP window fills and its sends block) and resume once the output
// has drained, so memory stays bounded whatever the client does.
#pragma once

#include <utility>

#include "core/connection.h"

namespace duet::echo {

inline ConnectionCallbacks callbacks() {
  ConnectionCallbacks cb;
  cb.onMessage = [](const ConnectionPtr& conn, Buffer& input) {
    // Hands the bytes over whole: a proactor can send them without a copy.
    // The Buffer is given up even when the send is refused (the server is
    // draining), so refused input does not pile up here.
    conn->send(std::move(input));
  };
  cb.onHighWaterMark = [](const ConnectionPtr& conn, std::size_t) { conn->stopReading(); };
  cb.onWriteComplete = [](const ConnectionPtr& conn) {
    if (!conn->isReading()) conn->startReading();
  };
  return cb;
}

}  // namespace duet::echo
