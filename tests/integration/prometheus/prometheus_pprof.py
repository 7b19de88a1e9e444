#!/usr/bin/env python3
"""The live contention profile on the exporter's port: GET /debug/pprof/mutex (issue 17).

usage: prometheus_pprof.py SHIM HOLDER_BLAME LOCKAUDIT WORKDIR

Runs holder_blame (one thread holds table_mu ~3 ms in Rebuild(); three readers wait for it in
Lookup()) under the shim with LOCKAUDIT_PROMETHEUS on a free port, and while it runs checks:
  * `go tool pprof -top URL` fetches /debug/pprof/mutex itself (as for a Go server) and ranks
    Lookup (the waiters); ?by=holder ranks Rebuild (the holder's site);
  * the answer is a gzipped profile.proto; ?debug=1 is the text top list; ?seconds=1 is a delta
    (what one second added: less than the whole, more than nothing);
  * a bad parameter is a 400 with a one-line reason, a POST a 405, and /metrics still works;
then, after the program's exit, that the live numbers never exceed the report's final ones.
With LOCKAUDIT_PROFILE_RATE=0 the endpoint answers an empty profile and says why in debug=1.
"""
import gzip
import json
import os
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from profile_helpers import pprof_flat  # noqa: E402
from promtest import Processes, fail, free_port, http_get, shim_env  # noqa: E402


def get(url, timeout=30):
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return r.status, r.headers.get("Content-Type", ""), r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers.get("Content-Type", ""), e.read()


def share(flat, name):
    total = sum(flat.values())
    return sum(v for k, v in flat.items() if k.endswith(name)) / total if total else 0.0


def main():
    shim, program, lockaudit, work = sys.argv[1:5]
    os.makedirs(work, exist_ok=True)
    report = os.path.join(work, "live.jsonl")
    with Processes(work) as procs:
        port = free_port()
        p = procs.start("holder_blame", [program, "1500"],
                        shim_env(shim, LOCKAUDIT_PROMETHEUS=f"127.0.0.1:{port}", LOCKAUDIT_REPORT=report))
        base = procs.wait_metrics_url(p).rsplit("/metrics", 1)[0]
        time.sleep(1.0)
        url = base + "/debug/pprof/mutex"
        flat, text = pprof_flat(url, work)  # go tool pprof fetches the URL itself
        if not share(flat, "Lookup") > 0.8:
            fail("the live waiter profile does not rank Lookup:\n" + text)
        flat_h, text_h = pprof_flat(url + "?by=holder", work)
        if not share(flat_h, "Rebuild") > 0.8:
            fail("the live holder profile does not rank Rebuild:\n" + text_h)
        status, ctype, body = get(url)
        if status != 200 or ctype != "application/octet-stream" or body[:2] != b"\x1f\x8b":
            fail("GET %s: %d %s, not a gzipped profile" % (url, status, ctype))
        gzip.decompress(body)
        status, ctype, body = get(url + "?debug=1")
        text = body.decode()
        if status != 200 or not ctype.startswith("text/plain") or \
                "where threads waited longest" not in text or "Lookup" not in text:
            fail("?debug=1: %d %s %r" % (status, ctype, text[:400]))
        live_total = sum(flat.values())
        delta_path = os.path.join(work, "delta.pb.gz")
        status, _, body = get(url + "?seconds=1")
        with open(delta_path, "wb") as f:
            f.write(body)
        flat_d, text_d = pprof_flat(delta_path, work)
        later, _ = pprof_flat(url, work)
        if status != 200 or not 0 < sum(flat_d.values()) < sum(later.values()):
            fail("?seconds=1: %d, delta %.0f ns of %.0f ns in all:\n%s" %
                 (status, sum(flat_d.values()), sum(later.values()), text_d))
        for bad in ("?seconds=301", "?seconds=x", "?by=owner", "?debug=2"):
            status, _, body = get(url + bad)
            if status != 400 or b"takes debug=0|1, by=waiter|holder and seconds=0-300" not in body:
                fail("%s: %d %r" % (bad, status, body[:200]))
        req = urllib.request.Request(url, data=b"x", method="POST")
        try:
            urllib.request.urlopen(req, timeout=10)
            fail("POST was answered 200")
        except urllib.error.HTTPError as e:
            if e.code != 405:
                fail("POST: %d" % e.code)
        status, metrics = http_get(base + "/metrics")
        if status != 200 or "lockaudit_lock_contentions_total" not in metrics:
            fail("/metrics broke beside /debug/pprof/mutex")
        # The static lock's series is named by its data symbol, as the report names it.
        if 'lock="(anonymous namespace)::table_mu"' not in metrics:
            fail("no series named by table_mu's symbol:\n" +
                 "\n".join(l for l in metrics.splitlines() if "contentions_total{" in l))
        # One ?seconds= request at a time; /metrics still answers meanwhile.
        results = {}

        def slow():
            results["first"] = get(url + "?seconds=2")[0]
        t = threading.Thread(target=slow)
        t.start()
        time.sleep(0.5)
        second = get(url + "?seconds=1")
        scrape_started = time.monotonic()
        status, _ = http_get(base + "/metrics")
        scrape_s = time.monotonic() - scrape_started
        t.join()
        if results.get("first") != 200 or second[0] != 429 or status != 200 or scrape_s > 1.5:
            fail("concurrent ?seconds=: first %s, second %d %r, /metrics %d in %.1f s" %
                 (results.get("first"), second[0], second[2][:100], status, scrape_s))
        p.wait(120)
        if p.returncode != 0:
            fail("holder_blame exit %d:\n%s" % (p.returncode, procs.log("holder_blame")[-2000:]))
    final = sum(json.loads(l)["delay_ns"] for l in open(report) if '"type":"contention"' in l)
    if live_total > final:
        fail("live delay %.0f ns exceeds the report's final %d ns" % (live_total, final))
    # A process that exits during a ?seconds= request exits at once; the request gets a 503 or a
    # closed connection.
    with Processes(work) as procs:
        port = free_port()
        p = procs.start("exiting", [program, "400"],
                        shim_env(shim, LOCKAUDIT_PROMETHEUS=f"127.0.0.1:{port}"))
        base = procs.wait_metrics_url(p).rsplit("/metrics", 1)[0]
        answer = {}

        def waiting():
            try:
                answer["status"] = get(base + "/debug/pprof/mutex?seconds=120", timeout=150)[0]
            except Exception as e:  # the connection closed by the exiting process
                answer["status"] = type(e).__name__
        t = threading.Thread(target=waiting)
        t.start()
        started = time.monotonic()
        p.wait(60)
        exit_s = time.monotonic() - started
        t.join(30)
        if p.returncode != 0 or exit_s > 10 or answer.get("status") == 200:
            fail("exit during ?seconds=120: status %s after %.1f s, the request got %s" %
                 (p.returncode, exit_s, answer.get("status")))
    # Profiling off: an empty profile, and the text says why.
    with Processes(work) as procs:
        port = free_port()
        p = procs.start("off", [program, "300"],
                        shim_env(shim, LOCKAUDIT_PROMETHEUS=f"127.0.0.1:{port}", LOCKAUDIT_PROFILE_RATE=0))
        base = procs.wait_metrics_url(p).rsplit("/metrics", 1)[0]
        status, _, body = get(base + "/debug/pprof/mutex?debug=1")
        if status != 200 or b"LOCKAUDIT_PROFILE_RATE=0" not in body:
            fail("rate 0, debug=1: %d %r" % (status, body[:200]))
        status, _, body = get(base + "/debug/pprof/mutex")
        if status != 200 or body[:2] != b"\x1f\x8b":
            fail("rate 0: %d, not a gzipped (empty) profile" % status)
    print("prometheus_pprof: live Lookup %.0f%% of %.1f ms waited, holder Rebuild %.0f%%; delta 1 s %.1f ms; "
          "report final %.1f ms" % (100 * share(flat, "Lookup"), live_total / 1e6, 100 * share(flat_h, "Rebuild"),
                                    sum(flat_d.values()) / 1e6, final / 1e6))
    print("PASSED")


if __name__ == "__main__":
    main()
