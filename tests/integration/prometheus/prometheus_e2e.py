#!/usr/bin/env python3
"""End-to-end: a real Prometheus server scrapes metrics_demo running under the shim.

Usage: prometheus_e2e.py SHIM DEMO RULES.yml DASHBOARD.json WORKDIR DEADLOCK_RING [GPU_FEED]

DEADLOCK_RING (tests/integration/deadlock_ring.c) is a third target of the job: two threads that
deadlock for real, so the critical LockauditDeadlock alert must fire and stay firing.

GPU_FEED (tests/integration/prometheus/gpu_feed.cc), when given, is a second target of the same
job: it feeds the GPU and dispatcher families (a real CPU-only dispatcher and a replay of CUPTI
callbacks: this machine has no GPU), and the expressions on those families are evaluated for its
instance instead of being skipped.

1. metrics_demo runs under the shim with LOCKAUDIT_PROMETHEUS=127.0.0.1:0 (port logged);
2. one scrape: every §6 family the demo feeds is present, no exporter-internal lock is audited,
   `promtool check metrics` accepts it; `promtool check rules` accepts the rules file;
3. prometheus (temporary config and storage, 127.0.0.1, scrape and rule evaluation every 1 s)
   scrapes it until samples arrive;
4. every PromQL expression of the dashboard (targets and template variables) and of the rules
   (as loaded by the server, /api/v1/rules) goes through /api/v1/query and must return data;
   expressions on GPU/dispatcher families are skipped, with the reason, only when the scrape
   shows those families absent (no GPU on the machine); alert expressions must evaluate, and the
   alerts the demo provokes (new finding, stalls, slow wakes) must be pending or firing;
5. sensible values: the contended queue lock leads, the slow notifier's wake p99 is above its
   20 ms of work under the mutex, the fast ping-pong's is below it, stalls and the start-up
   lock-order cycle are counted.
Exit 0 pass, 1 fail, 77 skip (no prometheus/promtool binary). Every process is stopped by pid.
"""
import json
import os
import re
import shutil
import subprocess
import sys
import time
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from promtest import Processes, fail, free_port, http_get, parse_exposition, prom_query, shim_env  # noqa: E402

JOB = "lockaudit-demo"
DEMO_FAMILIES = [
    "lockaudit_lock_acquisitions_total", "lockaudit_lock_contentions_total",
    "lockaudit_lock_wait_seconds_bucket", "lockaudit_lock_hold_sampled_seconds_bucket",
    "lockaudit_cond_wake_latency_seconds_bucket", "lockaudit_stalls_total",
    "lockaudit_findings_total", "lockaudit_graph_locks", "lockaudit_graph_edges", "lockaudit_threads",
]
GPU_FAMILIES = ["lockaudit_gpu_sync_seconds", "lockaudit_gpu_kernel_seconds", "lockaudit_dispatch_total",
                "lockaudit_lock_gpu_sync_seconds_total"]
GPU_RULE_INPUTS = {"instance_api_under_lock:lockaudit_gpu_sync_seconds:p99_rate5m": "lockaudit_gpu_sync_seconds",
                   "instance_lock:lockaudit_lock_gpu_sync_seconds:rate5m": "lockaudit_lock_gpu_sync_seconds_total"}
# Alerts the demo provokes, and those it cannot (they need an hour of history or a spike).
PROVOKED_ALERTS = {"LockauditNewFinding", "LockauditStalls", "LockauditWakeLatencyHigh", "LockauditDeadlock"}
DEADLINE_S = 75


def dashboard_exprs(dash, instance):
    subst = {"$job": JOB, "$instance": instance, "$__rate_interval": "20s",
             "$__range": "1m"}
    out = []
    def expand(expr):
        for k, v in subst.items():
            expr = expr.replace(k, v)
        if "$" in expr:
            fail(f"dashboard expression uses an unknown variable: {expr}")
        return expr
    for p in dash["panels"]:
        for t in p.get("targets", []):
            out.append((f"panel '{p['title']}' {t['refId']}", expand(t["expr"])))
    for v in dash["templating"]["list"]:
        if v["type"] != "query":
            continue
        q = v["query"]["query"] if isinstance(v["query"], dict) else v["query"]
        m = re.fullmatch(r"label_values\((.*),\s*(\w+)\)", q)
        if not m:
            fail(f"variable {v['name']}: unsupported query {q}")
        # label_values(SELECTOR, LABEL) is Grafana's; as PromQL: the selector's series carry LABEL.
        out.append((f"variable '{v['name']}'", f"count by ({m.group(2)}) ({expand(m.group(1))})"))
    return out


def uses_gpu(expr):
    return any(f in expr for f in GPU_FAMILIES) or any(r in expr for r in GPU_RULE_INPUTS)


def gpu_skip_reason(expr, present):
    used = [f for f in GPU_FAMILIES if f in expr and f not in present]
    used += [r for r, fam in GPU_RULE_INPUTS.items() if r in expr and fam not in present]
    if used:
        return f"needs {', '.join(used)}, absent from this program's scrape (no GPU/dispatcher)"
    return None


def scalar(base, expr):
    status, result = prom_query(base, expr)
    if status != "success" or not result:
        fail(f"no value for {expr}: {result}")
    return float(result[0]["value"][1])


def main():
    if len(sys.argv) not in (7, 8):
        print(__doc__, file=sys.stderr)
        return 2
    shim, demo, rules, dashboard, workdir, ring = sys.argv[1:7]
    gpu_feed = sys.argv[7] if len(sys.argv) == 8 else None
    prometheus, promtool = shutil.which("prometheus"), shutil.which("promtool")
    if not prometheus or not promtool:
        print("SKIP: the prometheus server or promtool is not installed (Debian: apt-get install prometheus)")
        return 77
    shutil.rmtree(workdir, ignore_errors=True)
    os.makedirs(workdir)
    with open(dashboard) as f:
        dash = json.load(f)

    r = subprocess.run([promtool, "check", "rules", rules], capture_output=True, text=True)
    print(r.stdout.strip())
    if r.returncode != 0:
        fail(f"promtool check rules: {r.stdout}{r.stderr}")

    with Processes(workdir) as procs:
        demo_p = procs.start("metrics_demo", [demo, "300", "400"],
                             shim_env(shim, LOCKAUDIT_PROMETHEUS="127.0.0.1:0", LOCKAUDIT_STALL_MS=200))
        url = procs.wait_metrics_url(demo_p)
        instance = urllib.parse.urlparse(url).netloc
        time.sleep(1.5)  # a stall and some wakes before the first look
        status, text = http_get(url)
        if status != 200:
            fail(f"GET {url}: HTTP {status}")
        with open(os.path.join(workdir, "scrape.txt"), "w") as f:
            f.write(text)
        series = parse_exposition(text)
        missing = [f for f in DEMO_FAMILIES if f not in series]
        if missing:
            fail(f"families missing from the scrape: {missing}")
        internal = [s for s in series.get("lockaudit_lock_acquisitions_total", ())
                    if re.search(r"civetweb|prometheus|lockaudit", s)]
        if internal:
            fail(f"the exporter's own locks are audited: {internal}")
        present = {n.rsplit("_bucket", 1)[0] for n in series}
        r = subprocess.run([promtool, "check", "metrics"], input=text, capture_output=True, text=True)
        if r.returncode != 0:
            fail(f"promtool check metrics: {r.stdout}{r.stderr}")
        print(f"scrape: {len(text)} bytes, {sum(len(v) for v in series.values())} samples; promtool check metrics: OK")
        gpu_instance = None
        if gpu_feed:
            feed_p = procs.start("gpu_feed", [gpu_feed, "300"],
                                 shim_env(shim, LOCKAUDIT_PROMETHEUS="127.0.0.1:0"))
            gpu_url = procs.wait_metrics_url(feed_p)
            gpu_instance = urllib.parse.urlparse(gpu_url).netloc
            time.sleep(0.5)
            status, gpu_text = http_get(gpu_url)
            gpu_series = parse_exposition(gpu_text)
            present |= {n.rsplit("_bucket", 1)[0] for n in gpu_series}
            missing = [f for f in GPU_FAMILIES if not any(n.startswith(f) for n in gpu_series)]
            if missing:
                fail(f"gpu_feed does not expose {missing}")
            r = subprocess.run([promtool, "check", "metrics"], input=gpu_text, capture_output=True, text=True)
            if r.returncode != 0:
                fail(f"promtool check metrics (gpu_feed): {r.stdout}{r.stderr}")
            print(f"gpu_feed at {gpu_instance}: {', '.join(GPU_FAMILIES)} present")

        ring_p = procs.start("deadlock_ring", [ring, "mutex", "2"],
                             shim_env(shim, LOCKAUDIT_PROMETHEUS="127.0.0.1:0", LOCKAUDIT_STALL_MS=200))
        ring_instance = urllib.parse.urlparse(procs.wait_metrics_url(ring_p)).netloc

        prom_port = free_port()
        config = os.path.join(workdir, "prometheus.yml")
        with open(config, "w") as f:
            f.write(f"""global:
  scrape_interval: 1s
  evaluation_interval: 1s
rule_files:
  - {os.path.abspath(rules)}
scrape_configs:
  - job_name: {JOB}
    static_configs:
      - targets: ['{instance}', '{ring_instance}'{f", '{gpu_instance}'" if gpu_instance else ""}]
""")
        procs.start("prometheus", [prometheus, f"--config.file={config}",
                                   f"--storage.tsdb.path={os.path.join(workdir, 'data')}",
                                   f"--web.listen-address=127.0.0.1:{prom_port}", "--log.level=warn"])
        base = f"http://127.0.0.1:{prom_port}"
        deadline = time.monotonic() + DEADLINE_S
        while True:
            try:
                status, result = prom_query(base, f'up{{job="{JOB}"}} == 1')
                if status == "success" and result:
                    status, result = prom_query(base, "count(lockaudit_lock_acquisitions_total)")
                    if status == "success" and result:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                fail(f"no samples from {instance} in Prometheus; its log:\n{procs.log('prometheus')[-3000:]}")
            time.sleep(0.5)
        print(f"prometheus at {base} has samples from {instance}")

        status, groups = None, None
        _, body = http_get(f"{base}/api/v1/rules")
        groups = json.loads(body)["data"]["groups"]
        rule_exprs = [(f"rule '{r.get('name')}'", r["query"], r["type"]) for g in groups for r in g["rules"]]
        if len(rule_exprs) < 10:
            fail(f"Prometheus loaded only {len(rule_exprs)} rules from {rules}")
        demo_exprs = dashboard_exprs(dash, instance)
        gpu_exprs = dashboard_exprs(dash, gpu_instance) if gpu_instance else demo_exprs
        exprs = [(where, g if uses_gpu(e) else e, "panel")
                 for (where, e), (_, g) in zip(demo_exprs, gpu_exprs)] + rule_exprs

        # Poll until every expression has data (rates need two samples, rules one evaluation).
        skipped, pending = [], list(exprs)
        while pending:
            still = []
            for where, expr, kind in pending:
                reason = gpu_skip_reason(expr, present)
                if reason:
                    skipped.append((where, reason))
                    continue
                status, result = prom_query(base, expr)
                if status != "success":
                    fail(f"{where}: query error {result}: {expr}")
                if kind == "alerting" and where.split("'")[1] not in PROVOKED_ALERTS:
                    continue  # evaluates; its inputs are recording rules checked on their own
                if not result:
                    still.append((where, expr, kind))
            pending = still
            if pending and time.monotonic() > deadline:
                for where, expr, _ in pending:
                    print(f"NO DATA: {where}: {expr}")
                fail(f"{len(pending)} expression(s) returned no data")
            if pending:
                time.sleep(1)
        for where, reason in skipped:
            print(f"skipped: {where}: {reason}")
        print(f"{len(exprs) - len(skipped)} of {len(exprs)} dashboard/rule expressions returned data "
              f"({len(skipped)} skipped: GPU/dispatcher families absent)"
              + (f"; GPU/dispatcher expressions evaluated on gpu_feed ({gpu_instance})" if gpu_instance else ""))

        while True:
            _, body = http_get(f"{base}/api/v1/alerts")
            active = {a["labels"]["alertname"]: a["state"] for a in json.loads(body)["data"]["alerts"]}
            if PROVOKED_ALERTS <= set(active):
                break
            if time.monotonic() > deadline:
                fail(f"alerts not active: {sorted(PROVOKED_ALERTS - set(active))} (active: {active})")
            time.sleep(1)
        print(f"alerts active: {active}")
        _, body = http_get(f"{base}/api/v1/alerts")
        dead = [a for a in json.loads(body)["data"]["alerts"] if a["labels"]["alertname"] == "LockauditDeadlock"]
        if [a["labels"].get("instance") for a in dead] != [ring_instance] or dead[0]["labels"].get("severity") != "critical":
            fail(f"LockauditDeadlock should be critical and on {ring_instance} only: {dead}")
        if not dead[0]["annotations"].get("runbook_url", "").startswith("docs/runbook.md#"):
            fail(f"LockauditDeadlock has no runbook_url: {dead[0]['annotations']}")
        time.sleep(3)  # it keeps firing while the program is hung
        _, body = http_get(f"{base}/api/v1/alerts")
        states = [a["state"] for a in json.loads(body)["data"]["alerts"] if a["labels"]["alertname"] == "LockauditDeadlock"]
        if states != ["firing"]:
            fail(f"LockauditDeadlock is {states} 3 s later, want firing while deadlock_ring is hung")
        print(f"LockauditDeadlock: critical, firing for {ring_instance} while it is hung")

        top = prom_query(base, f'topk(1, lockaudit_lock_contentions_total{{job="{JOB}",instance="{instance}"}})')[1]
        if top[0]["metric"]["lock"] != "g_queue_mu":
            fail(f"most contended lock is {top[0]['metric']['lock']}, expected g_queue_mu")
        slow = scalar(base, 'instance_cond:lockaudit_cond_wake_latency_seconds:p99_rate5m{cond="g_slow_cv"}')
        fast = scalar(base, 'instance_cond:lockaudit_cond_wake_latency_seconds:p99_rate5m{cond="g_ping_cv"}')
        if not (slow >= 0.016 and fast < slow):
            fail(f"wake p99: g_slow_cv {slow} s (notifier works 20 ms under the mutex), g_ping_cv {fast} s")
        on_demo = f'instance="{instance}"'
        for expr, least in ((f'lockaudit_stalls_total{{kind="hold",{on_demo}}}', 1),
                            (f'lockaudit_stalls_total{{kind="wait",{on_demo}}}', 1),
                            (f'lockaudit_findings_total{{kind="lock_order_cycle",{on_demo}}}', 1),
                            (f'lockaudit_graph_edges{{{on_demo}}}', 2), (f'lockaudit_threads{{{on_demo}}}', 11)):
            value = scalar(base, expr)
            if value < least:
                fail(f"{expr} = {value}, expected >= {least}")
        print(f"values: top lock g_queue_mu; wake p99 g_slow_cv {slow * 1e3:.1f} ms, g_ping_cv {fast * 1e3:.3f} ms")

        if demo_p.poll() is not None:
            fail(f"metrics_demo exited early ({demo_p.returncode})")
    print("prometheus_e2e: OK")
    return 0


if __name__ == "__main__":
    sys.exit(main())
