#include "source_address.h"

#include <arpa/inet.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

namespace duetload {

SourceAddresses::SourceAddresses(in_addr target) {
  spreading_ = (ntohl(target.s_addr) >> 24) == 127;
}

void SourceAddresses::bindNext(int fd) {
  if (!spreading_) return;
  const int one = 1;
  setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
  sockaddr_in src{};
  src.sin_family = AF_INET;
  src.sin_port = 0;
  src.sin_addr.s_addr = htonl((127u << 24) | (42u << 16) | (1 + next_));  // 127.42.0.1 ...
  next_ = (next_ + 1) % kCount;
  if (bind(fd, reinterpret_cast<const sockaddr*>(&src), sizeof src) != 0) {
    std::fprintf(
        stderr,
        "duet-load: cannot bind to loopback source 127.42.0.x (%s); using the kernel's choice\n",
        std::strerror(errno));
    spreading_ = false;
  }
}

}  // namespace duetload
