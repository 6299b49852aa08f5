#include "core/inet_address.h"

#include <arpa/inet.h>

#include <charconv>
#include <cstring>

namespace duet {

InetAddress::InetAddress() : InetAddress(0) {}

InetAddress::InetAddress(std::uint16_t port, bool loopbackOnly, bool ipv6) {
  if (ipv6) {
    auto* a = (&storage_.v6);
    a->sin6_family = AF_INET6;
    a->sin6_addr = loopbackOnly ? in6addr_loopback : in6addr_any;
    a->sin6_port = htons(port);
  } else {
    auto* a = (&storage_.v4);
    a->sin_family = AF_INET;
    a->sin_addr.s_addr = htonl(loopbackOnly ? INADDR_LOOPBACK : INADDR_ANY);
    a->sin_port = htons(port);
  }
}

InetAddress::InetAddress(const sockaddr_in& addr) { storage_.v4 = addr; }
InetAddress::InetAddress(const sockaddr_in6& addr) { storage_.v6 = addr; }

std::optional<InetAddress> InetAddress::fromSockaddr(const sockaddr* addr, socklen_t len) {
  if (addr->sa_family == AF_INET && len >= sizeof(sockaddr_in)) {
    return InetAddress(*reinterpret_cast<const sockaddr_in*>(addr));
  }
  if (addr->sa_family == AF_INET6 && len >= sizeof(sockaddr_in6)) {
    return InetAddress(*reinterpret_cast<const sockaddr_in6*>(addr));
  }
  return std::nullopt;
}

namespace {
std::optional<InetAddress> fail(std::string* error, std::string message) {
  if (error) *error = std::move(message);
  return std::nullopt;
}
}  // namespace

std::optional<InetAddress> InetAddress::parse(std::string_view text, std::string* error) {
  const std::string quoted = "'" + std::string(text) + "'";
  std::string_view host;
  std::string_view portText;
  bool bracketed = false;
  if (!text.empty() && text.front() == '[') {
    const auto close = text.find(']');
    if (close == std::string_view::npos)
      return fail(error, quoted + ": missing ']' after an IPv6 address");
    host = text.substr(1, close - 1);
    bracketed = true;
    if (close + 1 >= text.size() || text[close + 1] != ':') {
      return fail(error, quoted + ": expected ':PORT' after ']'");
    }
    portText = text.substr(close + 2);
  } else {
    const auto colon = text.rfind(':');
    if (colon == std::string_view::npos) {
      portText = text;  // "8080"
    } else {
      if (text.find(':') != colon) {
        return fail(error, quoted + ": an IPv6 address needs brackets, as in [::1]:8080");
      }
      host = text.substr(0, colon);
      portText = text.substr(colon + 1);
    }
  }
  if (portText.empty()) return fail(error, quoted + ": missing port");
  unsigned port = 0;
  const auto [end, ec] = std::from_chars(portText.data(), portText.data() + portText.size(), port);
  if (ec != std::errc() || end != portText.data() + portText.size() || port > 65535) {
    return fail(error, quoted + ": port must be a number from 0 to 65535");
  }
  const auto port16 = static_cast<std::uint16_t>(port);
  if (host.empty() && !bracketed) return InetAddress(port16);
  if (host == "localhost") return InetAddress(port16, /*loopbackOnly=*/true);

  const std::string hostStr(host);
  if (bracketed) {
    sockaddr_in6 a{};
    a.sin6_family = AF_INET6;
    a.sin6_port = htons(port16);
    if (::inet_pton(AF_INET6, hostStr.c_str(), &a.sin6_addr) != 1) {
      return fail(error, quoted + ": '" + hostStr + "' is not an IPv6 address");
    }
    return InetAddress(a);
  }
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port16);
  if (::inet_pton(AF_INET, hostStr.c_str(), &a.sin_addr) != 1) {
    return fail(
        error, quoted + ": '" + hostStr + "' is not an IPv4 address (host names are not resolved)");
  }
  return InetAddress(a);
}

std::uint16_t InetAddress::port() const {
  if (isIpv6()) return ntohs((&storage_.v6)->sin6_port);
  return ntohs((&storage_.v4)->sin_port);
}

void InetAddress::setPort(std::uint16_t port) {
  if (isIpv6()) {
    (&storage_.v6)->sin6_port = htons(port);
  } else {
    (&storage_.v4)->sin_port = htons(port);
  }
}

std::string InetAddress::toIp() const {
  char buf[INET6_ADDRSTRLEN] = {};
  if (isIpv6()) {
    ::inet_ntop(AF_INET6, &(&storage_.v6)->sin6_addr, buf, sizeof buf);
  } else {
    ::inet_ntop(AF_INET, &(&storage_.v4)->sin_addr, buf, sizeof buf);
  }
  return buf;
}

std::string InetAddress::toIpPort() const {
  const std::string ip = toIp();
  const std::string portStr = std::to_string(port());
  return isIpv6() ? "[" + ip + "]:" + portStr : ip + ":" + portStr;
}

bool operator==(const InetAddress& a, const InetAddress& b) {
  return a.family() == b.family() && a.port() == b.port() && a.toIp() == b.toIp();
}

}  // namespace duet
