// Host-side start of the Prometheus exporter (metrics.cc), for the engine hosts' start-up code.
#ifndef LOCKAUDIT_SRC_METRICS_H_
#define LOCKAUDIT_SRC_METRICS_H_

namespace lockaudit::metrics {

// When LOCKAUDIT_PROMETHEUS is set (and auditing is not disabled), loads the exporter and serves
// /metrics there; on any failure one warning line "lockaudit: warning: LOCKAUDIT_PROMETHEUS:
// <why>; metrics off" and the program runs on. Call after core::EnsureInitialized().
void StartFromOptions() noexcept;

}  // namespace lockaudit::metrics

#endif  // LOCKAUDIT_SRC_METRICS_H_
