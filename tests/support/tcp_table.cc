#include "tests/support/tcp_table.h"

#include <netinet/tcp.h>

#include <fstream>
#include <sstream>
#include <string>

namespace duet::test {

namespace {

// "0100007F:1F90" -> 0x1F90: the port is the hex after the colon, host order.
int portOf(const std::string& address) {
  const auto colon = address.rfind(':');
  if (colon == std::string::npos) return -1;
  return std::stoi(address.substr(colon + 1), nullptr, 16);
}

}  // namespace

int tcpStateByAddress(const InetAddress& local, const InetAddress& peer) {
  for (const char* table : {"/proc/net/tcp", "/proc/net/tcp6"}) {
    std::ifstream in(table);
    std::string line;
    std::getline(in, line);  // the header
    while (std::getline(in, line)) {
      // "  sl  local_address rem_address   st ..."
      std::istringstream fields(line);
      std::string slot, localAddress, remoteAddress, state;
      if (!(fields >> slot >> localAddress >> remoteAddress >> state)) continue;
      if (portOf(localAddress) == local.port() && portOf(remoteAddress) == peer.port()) {
        return std::stoi(state, nullptr, 16);
      }
    }
  }
  return TCP_CLOSE;
}

}  // namespace duet::test
