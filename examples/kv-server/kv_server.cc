// kv-server: a line-based key-value store on duet, built against an
// installed duet (see README.md). One loop owns the map, so it needs no lock.
//
//   SET key value   ->  OK
//   GET key         ->  VALUE value   or  NOT_FOUND
//   anything else   ->  ERROR <why>   (and the connection stays open)
//
// Usage: kv-server [--backend auto|epoll|poll|select|uring] [--port N]
#include <cstdlib>
#include <iostream>
#include <map>
#include <string>
#include <string_view>

#include "core/backend.h"
#include "core/event_loop.h"
#include "core/tcp_server.h"
#include "core/termination_signals.h"

namespace {

std::map<std::string, std::string, std::less<>> store;

std::string answer(std::string_view line) {
  const auto space = line.find(' ');
  const std::string_view command = line.substr(0, space);
  const std::string_view rest = space == std::string_view::npos ? "" : line.substr(space + 1);
  if (command == "SET") {
    const auto split = rest.find(' ');
    if (split == std::string_view::npos || split == 0) return "ERROR usage: SET key value\n";
    store.insert_or_assign(std::string(rest.substr(0, split)), std::string(rest.substr(split + 1)));
    return "OK\n";
  }
  if (command == "GET") {
    const auto found = store.find(rest);
    return found == store.end() ? "NOT_FOUND\n" : "VALUE " + found->second + "\n";
  }
  return "ERROR unknown command (SET key value | GET key)\n";
}

// Every complete line in the input gets its answer; a partial line waits for the rest.
void onMessage(const duet::ConnectionPtr& conn, duet::Buffer& in) {
  while (const char* eol = in.findEOL()) {
    std::string_view line(in.peek(), static_cast<std::size_t>(eol - in.peek()));
    if (line.ends_with('\r')) line.remove_suffix(1);
    conn->send(answer(line));
    in.retrieveUntil(eol + 1);
  }
}

}  // namespace

int main(int argc, char** argv) {
  std::string backendFlag = "auto";
  int port = 0;  // 0: any free port, printed below
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string_view flag = argv[i];
    if (flag == "--backend") backendFlag = argv[i + 1];
    else if (flag == "--port") port = std::atoi(argv[i + 1]);
    else return std::cerr << "kv-server: unknown flag " << flag << "\n", 2;
  }
  std::string announcement;
  const auto backend = duet::resolveBackend(backendFlag, &announcement);
  if (!backend)
    return std::cerr << "kv-server: unknown backend " << backendFlag << " (choose "
                     << duet::backendFlagChoices() << ")\n",
           2;
  if (!announcement.empty())
    std::cout << announcement << std::endl;  // --backend auto: which and why

  duet::TerminationSignals::blockInThisProcess();  // before any thread starts
  try {
    auto loop = duet::makeEventLoop({.backend = *backend});
    duet::ConnectionCallbacks callbacks;
    callbacks.onMessage = onMessage;
    duet::TcpServer server(
        *loop, {.listen = duet::InetAddress(static_cast<std::uint16_t>(port), true)}, callbacks);
    std::string error;
    if (!server.start(&error)) return std::cerr << "kv-server: " << error << "\n", 2;
    std::cout << "kv-server: listening on " << server.listenAddress().toIpPort()
              << " backend=" << duet::backendName(loop->backend()) << std::endl;
    duet::TerminationSignals signals(*loop, [&](int) { server.stop([&] { loop->quit(); }); });
    loop->run();
  } catch (const duet::BackendUnavailable& e) {  // e.g. --backend uring where io_uring is refused
    std::cerr << "kv-server: " << e.what() << "\n";
    return 2;
  }
  return 0;
}
