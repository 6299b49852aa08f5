// duet-echo: sends back every byte it receives, on any backend. What it does
// per connection (and its backpressure) is in echo_callbacks.h, or, with
// --api coroutines, in echo_coroutine.h.
#include <CLI/CLI.hpp>

#include "apps/common/server_flags.h"
#include "apps/common/server_runner.h"
#include "apps/echo/echo_callbacks.h"
#include "apps/echo/echo_coroutine.h"

int main(int argc, char** argv) {
  CLI::App app{"duet-echo: a TCP echo server on any duet backend", "duet-echo"};
  duet::app::ServerFlags flags;
  duet::app::addServerFlags(app, flags);
  if (int status = duet::app::parseOrExit(app, argc, argv); status >= 0) return status;
  return duet::app::runServer(
      "duet-echo", flags,
      duet::app::tcpServerFactory(flags.api == duet::app::ApiStyle::Coroutines
                                      ? duet::echo::coroutineCallbacks()
                                      : duet::echo::callbacks()));
}
