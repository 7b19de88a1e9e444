// ListenAddress: the "[HOST:]PORT" of LOCKAUDIT_PROMETHEUS / serve_metrics, checked and turned
// into one civetweb listening_ports entry.
//
// Accepted: "PORT", ":PORT", "IPV4:PORT", "localhost:PORT" (= 127.0.0.1), "[IPV6]:PORT"; PORT
// 0-65535, 0 meaning "any free port". Everything civetweb would also take but that is not an
// address (lists with ',', the 's'/'r' suffixes, host names) is rejected, so a typo never opens
// a TLS port or a second socket.
// Thread-safety: a pure function. Cost: trivial.
#ifndef LOCKAUDIT_EXPORTERS_PROMETHEUS_LISTEN_ADDRESS_H_
#define LOCKAUDIT_EXPORTERS_PROMETHEUS_LISTEN_ADDRESS_H_

#include <optional>
#include <string>
#include <string_view>

namespace lockaudit::exporters {

struct ListenAddress {
  std::string host;      // "127.0.0.1", "0.0.0.0", "::1" (no brackets)
  int port = 0;          // 0: any free port
  bool ipv6 = false;
  std::string Civetweb() const;                // "127.0.0.1:9464", "[::1]:9464"
  std::string Url(int bound_port) const;       // "http://127.0.0.1:9464/metrics"
};

// The address, or nullopt with the reason in *why (for "...: <why>; metrics off").
std::optional<ListenAddress> ParseListenAddress(std::string_view text, std::string* why);

}  // namespace lockaudit::exporters

#endif  // LOCKAUDIT_EXPORTERS_PROMETHEUS_LISTEN_ADDRESS_H_
