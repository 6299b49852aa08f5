// An IPv4 or IPv6 socket address, and "host:port" parsing with errors a person
// can act on.
#pragma once

#include <netinet/in.h>
#include <sys/socket.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace duet {

class InetAddress {
 public:
  // 0.0.0.0:0
  InetAddress();
  // Any address (or loopback) on `port`; IPv6 when ipv6 is true.
  explicit InetAddress(std::uint16_t port, bool loopbackOnly = false, bool ipv6 = false);
  explicit InetAddress(const sockaddr_in& addr);
  explicit InetAddress(const sockaddr_in6& addr);
  // From what accept/getsockname filled in (AF_INET or AF_INET6).
  static std::optional<InetAddress> fromSockaddr(const sockaddr* addr, socklen_t len);

  // Numeric forms only, no DNS (a server must not block on a resolver):
  //   "127.0.0.1:8080"  "[::1]:8080"  "localhost:8080"  ":8080" / "8080" (all IPv4 interfaces)
  // On failure returns nullopt and sets *error to a sentence naming what was wrong.
  static std::optional<InetAddress> parse(std::string_view text, std::string* error = nullptr);

  sa_family_t family() const { return storage_.v4.sin_family; }
  bool isIpv6() const { return family() == AF_INET6; }
  std::uint16_t port() const;
  void setPort(std::uint16_t port);
  std::string toIp() const;
  std::string toIpPort() const;  // "1.2.3.4:80" or "[::1]:80"

  static constexpr socklen_t kMaxLength = sizeof(sockaddr_in6);  // room accept() needs
  const sockaddr* sockaddrPtr() const { return reinterpret_cast<const sockaddr*>(&storage_); }
  sockaddr* sockaddrPtr() { return reinterpret_cast<sockaddr*>(&storage_); }
  socklen_t length() const { return isIpv6() ? sizeof(sockaddr_in6) : sizeof(sockaddr_in); }

  friend bool operator==(const InetAddress& a, const InetAddress& b);

 private:
  // sockaddr_in6 is the larger of the two (28 bytes); sockaddr_storage would be
  // 128, and every connection holds two addresses.
  union Storage {
    sockaddr_in v4;
    sockaddr_in6 v6;
  } storage_{};
};

}  // namespace duet
