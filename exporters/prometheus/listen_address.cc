#include "listen_address.h"

#include <arpa/inet.h>

#include <charconv>

namespace lockaudit::exporters {
namespace {

std::string Quoted(std::string_view text) { return "'" + std::string(text) + "'"; }

}  // namespace

std::string ListenAddress::Civetweb() const {
  return (ipv6 ? "[" + host + "]" : host) + ":" + std::to_string(port);
}

std::string ListenAddress::Url(int bound_port) const {
  return "http://" + (ipv6 ? "[" + host + "]" : host) + ":" + std::to_string(bound_port) +
         "/metrics";
}

std::optional<ListenAddress> ParseListenAddress(std::string_view text, std::string* why) {
  ListenAddress out;
  out.host = "127.0.0.1";
  std::string_view host, port = text;
  if (!text.empty() && text.front() == '[') {
    const size_t close = text.find(']');
    if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':') {
      *why = Quoted(text) + " is not [IPV6]:PORT";
      return std::nullopt;
    }
    host = text.substr(1, close - 1);
    port = text.substr(close + 2);
    out.ipv6 = true;
  } else if (const size_t colon = text.rfind(':'); colon != std::string_view::npos) {
    host = text.substr(0, colon);
    port = text.substr(colon + 1);
  }
  int value = -1;
  const auto [end, error] = std::from_chars(port.data(), port.data() + port.size(), value);
  if (port.empty() || error != std::errc() || end != port.data() + port.size() || value < 0 ||
      value > 65535) {
    *why = Quoted(text) + " has no port from 0 to 65535; expected [HOST:]PORT";
    return std::nullopt;
  }
  out.port = value;
  if (out.ipv6) {
    in6_addr a6;
    if (inet_pton(AF_INET6, std::string(host).c_str(), &a6) != 1) {
      *why = Quoted(host) + " is not an IPv6 address";
      return std::nullopt;
    }
    out.host = std::string(host);
  } else if (host == "localhost") {
    out.host = "127.0.0.1";
  } else if (!host.empty()) {
    in_addr a4;
    if (inet_pton(AF_INET, std::string(host).c_str(), &a4) != 1) {
      *why = Quoted(host) + " is not an IP address (use e.g. 127.0.0.1 or 0.0.0.0)";
      return std::nullopt;
    }
    out.host = std::string(host);
  }
  return out;
}

}  // namespace lockaudit::exporters
