#include "core/inet_address.h"

#include <arpa/inet.h>

#include <algorithm>
#include <cctype>
#include <cstring>
#include <string>

#include <gtest/gtest.h>

namespace duet {
namespace {

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

InetAddress parseOk(std::string_view text) {
  std::string error;
  auto a = InetAddress::parse(text, &error);
  EXPECT_TRUE(a.has_value()) << "'" << text << "' should parse; error: " << error;
  EXPECT_TRUE(error.empty()) << error;
  return a.value_or(InetAddress());
}

// Parses `text`, expects failure, and returns the error message.
std::string parseError(std::string_view text) {
  std::string error;
  auto a = InetAddress::parse(text, &error);
  EXPECT_FALSE(a.has_value()) << "'" << text << "' should not parse, got " << a->toIpPort();
  EXPECT_FALSE(error.empty()) << "no error message for '" << text << "'";
  // Every message quotes the input, so a user sees which flag was wrong.
  EXPECT_NE(error.find(std::string(text)), std::string::npos) << error;
  return error;
}

TEST(InetAddress, SizeIsSmall) {
  static_assert(sizeof(InetAddress) <= 32, "every connection holds two of these");
  EXPECT_LE(sizeof(InetAddress), 32u);
}

TEST(InetAddress, DefaultIsAnyIpv4PortZero) {
  InetAddress a;
  EXPECT_EQ(a.family(), AF_INET);
  EXPECT_FALSE(a.isIpv6());
  EXPECT_EQ(a.port(), 0);
  EXPECT_EQ(a.toIpPort(), "0.0.0.0:0");
  EXPECT_EQ(a.length(), sizeof(sockaddr_in));
}

TEST(InetAddress, PortConstructor) {
  EXPECT_EQ(InetAddress(80).toIpPort(), "0.0.0.0:80");
  EXPECT_EQ(InetAddress(80, /*loopbackOnly=*/true).toIpPort(), "127.0.0.1:80");
  const InetAddress any6(443, false, /*ipv6=*/true);
  EXPECT_TRUE(any6.isIpv6());
  EXPECT_EQ(any6.toIpPort(), "[::]:443");
  EXPECT_EQ(any6.length(), sizeof(sockaddr_in6));
  const InetAddress lo6(443, true, true);
  EXPECT_EQ(lo6.toIpPort(), "[::1]:443");
  // The parts of sockaddr_in6 that sockaddr_in does not overlap must be zero too
  // (a stray scope id would make bind/connect fail or pick an interface).
  const auto* sa6 = reinterpret_cast<const sockaddr_in6*>(lo6.sockaddrPtr());
  EXPECT_EQ(sa6->sin6_flowinfo, 0u);
  EXPECT_EQ(sa6->sin6_scope_id, 0u);
}

TEST(InetAddress, SetPort) {
  InetAddress a = parseOk("10.1.2.3:1");
  a.setPort(65535);
  EXPECT_EQ(a.toIpPort(), "10.1.2.3:65535");
  InetAddress b = parseOk("[::1]:1");
  b.setPort(8443);
  EXPECT_EQ(b.toIpPort(), "[::1]:8443");
}

TEST(InetAddressParse, Ipv4WithPort) {
  const InetAddress a = parseOk("127.0.0.1:8080");
  EXPECT_EQ(a.family(), AF_INET);
  EXPECT_EQ(a.port(), 8080);
  EXPECT_EQ(a.toIp(), "127.0.0.1");
  EXPECT_EQ(a.toIpPort(), "127.0.0.1:8080");
  const auto* sin = reinterpret_cast<const sockaddr_in*>(a.sockaddrPtr());
  EXPECT_EQ(sin->sin_port, htons(8080));  // network byte order underneath
  EXPECT_EQ(sin->sin_addr.s_addr, htonl(INADDR_LOOPBACK));
}

TEST(InetAddressParse, Ipv6InBrackets) {
  const InetAddress a = parseOk("[::1]:80");
  EXPECT_TRUE(a.isIpv6());
  EXPECT_EQ(a.port(), 80);
  EXPECT_EQ(a.toIp(), "::1");
  EXPECT_EQ(a.toIpPort(), "[::1]:80");
  EXPECT_EQ(a.length(), sizeof(sockaddr_in6));
  const InetAddress b = parseOk("[2001:db8::42]:65535");
  EXPECT_EQ(b.toIpPort(), "[2001:db8::42]:65535");
}

TEST(InetAddressParse, Localhost) {
  const InetAddress a = parseOk("localhost:1");
  EXPECT_EQ(a.family(), AF_INET);
  EXPECT_EQ(a.toIpPort(), "127.0.0.1:1");
}

TEST(InetAddressParse, PortOnlyMeansAllIpv4Interfaces) {
  EXPECT_EQ(parseOk(":8080").toIpPort(), "0.0.0.0:8080");
  EXPECT_EQ(parseOk("8080").toIpPort(), "0.0.0.0:8080");
  EXPECT_EQ(parseOk("0").toIpPort(), "0.0.0.0:0");
  EXPECT_EQ(parseOk("65535").port(), 65535);
}

TEST(InetAddressParse, NullErrorPointerIsAllowed) {
  EXPECT_FALSE(InetAddress::parse("nonsense:x").has_value());
  EXPECT_TRUE(InetAddress::parse("1.2.3.4:5").has_value());
}

TEST(InetAddressParse, Ipv4WithoutPortIsRejected) {
  // A bare number is a port, so "1.2.3.4" is read as a (bad) port.
  const std::string e = parseError("1.2.3.4");
  EXPECT_NE(lower(e).find("port"), std::string::npos) << e;
}

TEST(InetAddressParse, MissingCloseBracket) {
  const std::string e = parseError("[::1");
  EXPECT_NE(e.find("']'"), std::string::npos) << e;
}

TEST(InetAddressParse, BracketsWithoutPort) {
  const std::string e = parseError("[::1]");
  EXPECT_NE(lower(e).find("port"), std::string::npos) << e;
  const std::string e2 = parseError("[::1]80");
  EXPECT_NE(lower(e2).find("port"), std::string::npos) << e2;
  const std::string e3 = parseError("[::1]:");
  EXPECT_NE(lower(e3).find("port"), std::string::npos) << e3;
}

TEST(InetAddressParse, Ipv6NeedsBrackets) {
  const std::string e = parseError("::1:80");
  EXPECT_NE(e.find("bracket"), std::string::npos) << e;
  EXPECT_NE(e.find("[::1]"), std::string::npos) << "should show the bracketed form: " << e;
}

TEST(InetAddressParse, PortOutOfRange) {
  for (const char* text :
       {"host:99999", "1.2.3.4:65536", "1.2.3.4:99999999999999999999", "70000"}) {
    const std::string e = parseError(text);
    EXPECT_NE(lower(e).find("port"), std::string::npos) << e;
    EXPECT_NE(e.find("65535"), std::string::npos) << "should state the valid range: " << e;
  }
}

TEST(InetAddressParse, PortNotANumber) {
  for (const char* text :
       {"1.2.3.4:x", "1.2.3.4:80x", "1.2.3.4:-1", "1.2.3.4:+80", "1.2.3.4: 80", "http"}) {
    const std::string e = parseError(text);
    EXPECT_NE(lower(e).find("port"), std::string::npos) << e;
  }
}

TEST(InetAddressParse, MissingPort) {
  for (const char* text : {"", "1.2.3.4:", "localhost:"}) {
    const std::string e = parseError(text);
    EXPECT_NE(lower(e).find("port"), std::string::npos) << e;
  }
}

TEST(InetAddressParse, HostNamesAreNotResolved) {
  const std::string e = parseError("abc:80");
  EXPECT_NE(e.find("'abc'"), std::string::npos) << "should name the bad host: " << e;
  EXPECT_NE(e.find("not an IPv4 address"), std::string::npos) << e;
  parseError("example.com:80");
  parseError("256.1.1.1:80");
  parseError("1.2.3:80");
}

TEST(InetAddressParse, BadIpv6InBrackets) {
  const std::string e = parseError("[1.2.3.4]:80");
  EXPECT_NE(e.find("IPv6"), std::string::npos) << e;
  parseError("[]:80");
  parseError("[::g]:80");
}

TEST(InetAddressParse, RoundTripsThroughToIpPort) {
  for (const char* text :
       {"127.0.0.1:8080", "0.0.0.0:0", "255.255.255.255:65535", "10.0.0.1:1", "[::1]:80", "[::]:0",
        "[fe80::1]:9", "[2001:db8:1:2:3:4:5:6]:443", "[::ffff:1.2.3.4]:7"}) {
    const InetAddress a = parseOk(text);
    EXPECT_EQ(a.toIpPort(), text);
    const InetAddress b = parseOk(a.toIpPort());
    EXPECT_TRUE(a == b) << text;
  }
}

TEST(InetAddress, Equality) {
  EXPECT_TRUE(parseOk("1.2.3.4:5") == parseOk("1.2.3.4:5"));
  EXPECT_FALSE(parseOk("1.2.3.4:5") == parseOk("1.2.3.4:6"));
  EXPECT_FALSE(parseOk("1.2.3.4:5") == parseOk("1.2.3.5:5"));
  EXPECT_FALSE(parseOk("0.0.0.0:80") == parseOk("[::]:80"));
  EXPECT_TRUE(parseOk("localhost:9") == InetAddress(9, true));
}

TEST(InetAddress, FromSockaddrIpv4) {
  sockaddr_in sin{};
  sin.sin_family = AF_INET;
  sin.sin_port = htons(1234);
  ASSERT_EQ(::inet_pton(AF_INET, "192.168.1.2", &sin.sin_addr), 1);
  auto a = InetAddress::fromSockaddr(reinterpret_cast<const sockaddr*>(&sin), sizeof sin);
  ASSERT_TRUE(a.has_value());
  EXPECT_EQ(a->toIpPort(), "192.168.1.2:1234");
  EXPECT_EQ(std::memcmp(a->sockaddrPtr(), &sin, sizeof sin), 0);
}

TEST(InetAddress, FromSockaddrIpv6) {
  sockaddr_in6 sin6{};
  sin6.sin6_family = AF_INET6;
  sin6.sin6_port = htons(4321);
  ASSERT_EQ(::inet_pton(AF_INET6, "2001:db8::7", &sin6.sin6_addr), 1);
  auto a = InetAddress::fromSockaddr(reinterpret_cast<const sockaddr*>(&sin6), sizeof sin6);
  ASSERT_TRUE(a.has_value());
  EXPECT_TRUE(a->isIpv6());
  EXPECT_EQ(a->toIpPort(), "[2001:db8::7]:4321");
  EXPECT_EQ(a->length(), sizeof sin6);
}

TEST(InetAddress, FromSockaddrStorage) {
  // What accept()/getsockname() hand back: a sockaddr_storage and the real length.
  sockaddr_storage ss{};
  auto* sin = reinterpret_cast<sockaddr_in*>(&ss);
  sin->sin_family = AF_INET;
  sin->sin_port = htons(80);
  sin->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  auto a = InetAddress::fromSockaddr(reinterpret_cast<const sockaddr*>(&ss), sizeof(sockaddr_in));
  ASSERT_TRUE(a.has_value());
  EXPECT_EQ(a->toIpPort(), "127.0.0.1:80");
}

TEST(InetAddress, FromSockaddrRejectsOtherFamiliesAndShortLengths) {
  sockaddr_storage ss{};
  ss.ss_family = AF_UNIX;
  EXPECT_FALSE(
      InetAddress::fromSockaddr(reinterpret_cast<const sockaddr*>(&ss), sizeof ss).has_value());

  sockaddr_in sin{};
  sin.sin_family = AF_INET;
  EXPECT_FALSE(InetAddress::fromSockaddr(reinterpret_cast<const sockaddr*>(&sin), sizeof sin - 1)
                   .has_value());

  sockaddr_in6 sin6{};
  sin6.sin6_family = AF_INET6;
  EXPECT_FALSE(
      InetAddress::fromSockaddr(reinterpret_cast<const sockaddr*>(&sin6), sizeof(sockaddr_in))
          .has_value());
}

}  // namespace
}  // namespace duet
