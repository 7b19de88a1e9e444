#!/usr/bin/env python3
"""Schema check of exporters/grafana/lockaudit.json (python3 standard library only).

Usage: prometheus_dashboard_check.py DASHBOARD.json RULES.yml

Checks what Grafana needs to import the file as is and what the dashboard promises:
  * top level: title, uid, integer schemaVersion, panels, templating.list;
  * template variables: a `datasource` variable of type datasource for prometheus, and `job` and
    `instance` query variables on that data source (instance filtered by $job);
  * every panel: unique integer id, a known type, a title, a gridPos inside the 24-column grid;
    every non-row panel uses the ${datasource} variable and has targets with unique refIds and a
    non-empty expr;
  * every metric selector in every expr carries job=~"$job" and instance=~"$instance";
  * every metric name used is a DESIGN.md §6 family (or its _bucket/_sum/_count series) or a
    recording rule defined in RULES.yml;
  * the issue-5 topics each have a panel;
  * rules: recording rule names are level:metric:operations over a lockaudit family, no range
    window is shorter than 4 minutes (4 samples at a 1-minute scrape), every alert has a
    runbook_url to a heading of a file in the repository, an actual deadlock is critical;
  * docs/metrics.md describes every family.
Exits 1 listing every violation.
"""
import json
import os
import re
import sys

PANEL_TYPES = {"row", "stat", "timeseries", "bargauge", "table", "piechart", "gauge", "heatmap", "text"}
FAMILIES = {
    "lockaudit_lock_acquisitions_total": "counter", "lockaudit_lock_contentions_total": "counter",
    "lockaudit_lock_wait_seconds": "histogram", "lockaudit_lock_hold_sampled_seconds": "histogram",
    "lockaudit_lock_hold_sample_period": "gauge", "lockaudit_lock_gpu_sync_seconds_total": "counter",
    "lockaudit_cond_wake_latency_seconds": "histogram",
    "lockaudit_cond_wake_budget_violations_total": "counter", "lockaudit_stalls_total": "counter",
    "lockaudit_findings_total": "counter", "lockaudit_graph_locks": "gauge",
    "lockaudit_graph_edges": "gauge", "lockaudit_threads": "gauge",
    "lockaudit_threads_blocked": "gauge", "lockaudit_threads_deadlocked": "gauge",
    "lockaudit_build_info": "gauge",
    "lockaudit_gpu_sync_seconds": "histogram", "lockaudit_gpu_kernel_seconds": "histogram",
    "lockaudit_dispatch_total": "counter", "lockaudit_blocking_under_lock_seconds": "histogram",
    "lockaudit_lock_churn_total": "counter", "lockaudit_rwlock_acquisitions_total": "counter",
    "lockaudit_rwlock_contentions_total": "counter",
    "lockaudit_channel_depth": "gauge", "lockaudit_channel_capacity": "gauge",
    "lockaudit_channel_waiting_threads": "gauge", "lockaudit_channel_items_total": "counter",
    "lockaudit_channel_wait_seconds": "histogram",
}
# Shortest range window a rule may use: 4 samples at Prometheus' default 1-minute scrape.
MIN_WINDOW_S = 240
RECORD_NAME = re.compile(r"^([a-z_]+):(lockaudit_[a-z0-9_]+):([a-z0-9_]+)$")
# Topic -> regular expression one panel title must match.
TOPICS = {
    "top contended locks": r"top contended",
    "wait quantiles": r"wait time p50 / p99",
    "hold quantiles": r"hold time p50 / p99",
    "contention rate": r"contention rate",
    "wake-latency quantiles": r"wake latency p50 / p99",
    "stalls": r"stalls",
    "findings by kind": r"findings by kind",
    "graph size": r"graph size",
    "threads": r"threads",
    "GPU sync under lock": r"gpu sync under lock",
    "dispatch split": r"dispatch split",
}
SELECTOR = re.compile(r"\b((?:[a-z_]+:)?lockaudit[a-zA-Z0-9_:]*)\s*(\{[^}]*\})?")


def allowed_metrics(rules_text):
    names = set(re.findall(r"^\s*-?\s*record:\s*(\S+)\s*$", rules_text, re.M))
    for family, kind in FAMILIES.items():
        names.add(family)
        if kind == "histogram":
            names.update({family + "_bucket", family + "_sum", family + "_count"})
    return names


def check(dash, rules_text):
    errors = []
    err = errors.append
    for key, kind in (("title", str), ("uid", str), ("schemaVersion", int), ("panels", list),
                      ("templating", dict)):
        if not isinstance(dash.get(key), kind):
            err(f"top level: '{key}' missing or not {kind.__name__}")
    if errors:
        return errors
    variables = {v.get("name"): v for v in dash["templating"].get("list", [])}
    ds = variables.get("datasource")
    if not ds or ds.get("type") != "datasource" or ds.get("query") != "prometheus":
        err("templating: no 'datasource' variable of type datasource with query 'prometheus'")
    for name in ("job", "instance"):
        v = variables.get(name)
        if not v or v.get("type") != "query":
            err(f"templating: no query variable '{name}'")
            continue
        if (v.get("datasource") or {}).get("uid") != "${datasource}":
            err(f"templating: variable '{name}' does not use ${{datasource}}")
        q = v.get("query")
        q = q.get("query") if isinstance(q, dict) else q
        if not isinstance(q, str) or not q.startswith("label_values(") or f", {name})" not in q:
            err(f"templating: variable '{name}' query {q!r} is not label_values(..., {name})")
        if name == "instance" and '$job' not in (q or ""):
            err("templating: 'instance' is not filtered by $job")
    metrics = allowed_metrics(rules_text)
    ids = set()
    titles = []
    for p in dash["panels"]:
        pid = p.get("id")
        where = f"panel {pid} '{p.get('title')}'"
        if not isinstance(pid, int) or pid in ids:
            err(f"{where}: id missing, not an integer or duplicated")
        ids.add(pid)
        if p.get("type") not in PANEL_TYPES:
            err(f"{where}: unknown type {p.get('type')!r}")
        if not isinstance(p.get("title"), str) or not p["title"]:
            err(f"{where}: no title")
        titles.append(p.get("title", ""))
        g = p.get("gridPos")
        if (not isinstance(g, dict) or any(not isinstance(g.get(k), int) or g[k] < 0 for k in "xywh")
                or g["w"] < 1 or g["h"] < 1 or g["x"] + g["w"] > 24):
            err(f"{where}: gridPos {g!r} is not inside the 24-column grid")
        if p.get("type") == "row":
            continue
        if (p.get("datasource") or {}).get("uid") != "${datasource}":
            err(f"{where}: datasource is not ${{datasource}}")
        targets = p.get("targets")
        if not isinstance(targets, list) or not targets:
            err(f"{where}: no targets")
            continue
        refs = [t.get("refId") for t in targets]
        if len(set(refs)) != len(refs) or not all(isinstance(r, str) and r for r in refs):
            err(f"{where}: refIds {refs} missing or not unique")
        for t in targets:
            expr = t.get("expr")
            if not isinstance(expr, str) or not expr.strip():
                err(f"{where}: target {t.get('refId')} has no expr")
                continue
            used = SELECTOR.findall(expr)
            if not used:
                err(f"{where}: expr uses no lockaudit metric: {expr}")
            for name, selector in used:
                if name not in metrics:
                    err(f"{where}: '{name}' is neither a docs/metrics.md family nor a recording rule")
                if 'job=~"$job"' not in selector or 'instance=~"$instance"' not in selector:
                    err(f"{where}: '{name}{selector}' lacks the job/instance filters")
    for topic, pattern in TOPICS.items():
        if not any(re.search(pattern, t, re.I) for t in titles):
            err(f"no panel for '{topic}' (title matching /{pattern}/)")
    return errors


def github_anchor(heading):
    """The anchor GitHub gives a Markdown heading."""
    a = heading.strip().lower()
    a = re.sub(r"[^\w\- ]", "", a)
    return a.replace(" ", "-")


def check_rules(rules_text, repo_root):
    """Rule names, windows and runbook links (the rules file is read line by line: no YAML
    module in the standard library; promtool and the e2e test check it as Prometheus does)."""
    errors = []
    err = errors.append
    records = re.findall(r"^\s*-?\s*record:\s*(\S+)\s*$", rules_text, re.M)
    for name in records:
        m = RECORD_NAME.match(name)
        if not m:
            err(f"rules: recording rule '{name}' is not level:metric:operations")
            continue
        metric = m.group(2)
        base = re.sub(r"_(sum|count)$", "", metric)
        if metric not in FAMILIES and metric + "_total" not in FAMILIES and FAMILIES.get(base) != "histogram":
            err(f"rules: recording rule '{name}': '{metric}' is no lockaudit family")
    for window, unit in re.findall(r"\[(\d+)([smhd])\]", rules_text):
        seconds = int(window) * {"s": 1, "m": 60, "h": 3600, "d": 86400}[unit]
        if seconds < MIN_WINDOW_S:
            err(f"rules: range [{window}{unit}] is shorter than {MIN_WINDOW_S} s: no data at a 1-minute scrape")
    blocks = re.split(r"^\s*- alert:\s*", rules_text, flags=re.M)[1:]
    if len(blocks) < 5:
        err(f"rules: only {len(blocks)} alerts")
    severities = {}
    for block in blocks:
        alert = block.split()[0]
        sev = re.search(r"^\s*severity:\s*(\S+)", block, re.M)
        severities[alert] = sev.group(1) if sev else None
        url = re.search(r"^\s*runbook_url:\s*\"?([^\"\s]+)\"?", block, re.M)
        if not url:
            err(f"rules: alert {alert} has no runbook_url")
            continue
        path, _, anchor = url.group(1).partition("#")
        full = os.path.join(repo_root, path)
        if not os.path.isfile(full):
            err(f"rules: alert {alert}: runbook {path} is not in the repository")
            continue
        with open(full) as f:
            anchors = {github_anchor(h) for h in re.findall(r"^#+\s+(.*)$", f.read(), re.M)}
        if anchor not in anchors:
            err(f"rules: alert {alert}: {path} has no heading with anchor #{anchor}")
    if severities.get("LockauditDeadlock") != "critical":
        err("rules: no critical LockauditDeadlock alert")
    return errors


def check_docs(repo_root):
    """Every exported family is documented in docs/metrics.md."""
    path = os.path.join(repo_root, "docs", "metrics.md")
    try:
        with open(path) as f:
            text = f.read()
    except OSError as e:
        return [f"docs: cannot read {path}: {e}"]
    return [f"docs: {name} is not described in docs/metrics.md"
            for name in FAMILIES if f"`{name}`" not in text]


def main():
    if len(sys.argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    with open(sys.argv[1]) as f:
        try:
            dash = json.load(f)
        except json.JSONDecodeError as e:
            print(f"{sys.argv[1]}: not valid JSON: {e}")
            return 1
    with open(sys.argv[2]) as f:
        rules_text = f.read()
    repo_root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(sys.argv[2]))))
    errors = check(dash, rules_text) + check_rules(rules_text, repo_root) + check_docs(repo_root)
    for e in errors:
        print(f"{sys.argv[1]}: {e}")
    if errors:
        print(f"prometheus_dashboard_check: FAILED ({len(errors)} problem(s))")
        return 1
    print(f"prometheus_dashboard_check: OK ({len(dash['panels'])} panels)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
