// duet-echo: sends back every byte it receives, on any backend.
//
// Backpressure: if a client sends faster than it reads, its echoed bytes pile
// up in our output buffer. At the high-water mark we stop reading from that
// client (its TCP window fills and its sends block) and resume once the output
// has drained, so memory stays bounded whatever the client does.
#include <CLI/CLI.hpp>

#include "apps/common/server_flags.h"
#include "core/connection.h"

int main(int argc, char** argv) {
  CLI::App app{"duet-echo: a TCP echo server on any duet backend", "duet-echo"};
  duet::app::ServerFlags flags;
  duet::app::addServerFlags(app, flags);
  if (int status = duet::app::parseOrExit(app, argc, argv); status >= 0) return status;

  duet::ConnectionCallbacks callbacks;
  callbacks.onMessage = [](const duet::ConnectionPtr& conn, duet::Buffer& input) {
    conn->send(std::move(input));  // hands the bytes over whole: a proactor can send them without a copy
  };
  callbacks.onHighWaterMark = [](const duet::ConnectionPtr& conn, std::size_t) { conn->stopReading(); };
  callbacks.onWriteComplete = [](const duet::ConnectionPtr& conn) {
    if (!conn->isReading()) conn->startReading();
  };
  return duet::app::runServer("duet-echo", flags, std::move(callbacks));
}
