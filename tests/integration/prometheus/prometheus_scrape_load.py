#!/usr/bin/env python3
"""Scrape load: 50 concurrent scrapers against a program whose 4 threads hammer 8 mutexes.

Usage: prometheus_scrape_load.py SHIM HAMMER WORKDIR

metrics_hammer runs under the shim with the exporter on 127.0.0.1:0 and reports lock+unlock pairs
per 500 ms round (CLOCK_MONOTONIC stamps). The test cycles five times through 2 s quiet, 2 s of 50
clients requesting a missing page back to back (HTTP 404: the cost of the clients and of the HTTP
server alone, no statistics read) and 2 s of 50 clients scraping /metrics back to back. Asserts: every scrape answers 200 with the lock
families, each loaded window saw at least 50 scrapes, the program exits 0 on its own (nothing
crashed or hung), and hammering went on while scraped (at least a quarter of the quiet rate:
a scrape must never hold up the audited threads). Prints the throughput lost while scraped, and
while only 404s were served (the part of the loss that is the clients' and civetweb's CPU).
"""
import os
import statistics
import urllib.error
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from promtest import Processes, fail, http_get, shim_env  # noqa: E402

CLIENTS = 50
CYCLES = 5
PHASE_S = 2.0
ROUND_MS = 500


def main():
    if len(sys.argv) != 4:
        print(__doc__, file=sys.stderr)
        return 2
    shim, hammer, workdir = sys.argv[1:]
    os.makedirs(workdir, exist_ok=True)
    # The program must outlive the last scrape window by a margin (clients start and join
    # slowly on a loaded 2-core machine): 10 s of rounds more than the windows need.
    rounds_total = int((1.0 + CYCLES * 3 * PHASE_S + 10.0) * 1000 / ROUND_MS)
    with Processes(workdir) as procs:
        p = procs.start("metrics_hammer", [hammer, str(rounds_total), str(ROUND_MS)],
                        shim_env(shim, LOCKAUDIT_PROMETHEUS="127.0.0.1:0"))
        url = procs.wait_metrics_url(p)
        time.sleep(1.0)
        windows = []  # (start, end, scraped)
        results = {"ok": 0, "bad": []}
        lock = threading.Lock()
        missing = url.rsplit("/", 1)[0] + "/no-such-page"
        for _ in range(CYCLES):
            t0 = time.monotonic()
            time.sleep(PHASE_S)
            windows.append((t0, time.monotonic(), "quiet"))
            for kind, target in (("404", missing), ("scraped", url)):
                stop = threading.Event()
                count = [0]

                def client(target=target, kind=kind, stop=stop, count=count):
                    while not stop.is_set():
                        try:
                            status, body = http_get(target, timeout=30)
                            good = status == 200 and "lockaudit_lock_acquisitions_total" in body
                        except urllib.error.HTTPError as e:
                            good, status = kind == "404" and e.code == 404, e.code
                        except Exception as e:  # noqa: BLE001
                            good, status = False, repr(e)
                        with lock:
                            count[0] += 1
                            if good and kind == "scraped":
                                results["ok"] += 1
                            elif not good:
                                results["bad"].append(f"{kind}: {status}")
                threads = [threading.Thread(target=client) for _ in range(CLIENTS)]
                t0 = time.monotonic()
                for t in threads:
                    t.start()
                time.sleep(PHASE_S)
                stop.set()
                for t in threads:
                    t.join()
                windows.append((t0, time.monotonic(), kind))
                if count[0] < CLIENTS:
                    fail(f"only {count[0]} requests answered in a {PHASE_S} s window of {CLIENTS} clients")
        try:
            p.wait(60)
        except Exception:  # noqa: BLE001
            fail("metrics_hammer did not finish")
        if p.returncode != 0:
            fail(f"metrics_hammer exited {p.returncode}: {procs.log('metrics_hammer')[-2000:]}")
        if results["bad"]:
            fail(f"{len(results['bad'])} scrape(s) failed: {results['bad'][:5]}")

        rates = {"quiet": [], "404": [], "scraped": []}
        for line in procs.log("metrics_hammer", "out").splitlines():
            _, _, start, end, pairs = line.split()
            s, e = int(start) / 1e9, int(end) / 1e9
            for w0, w1, kind in windows:
                if w0 <= s and e <= w1:
                    rates[kind].append(int(pairs) / (e - s))
        if any(len(v) < 3 for v in rates.values()):
            fail(f"too few whole rounds inside the windows: { {k: len(v) for k, v in rates.items()} }")
        q, n, l = (statistics.median(rates[k]) for k in ("quiet", "404", "scraped"))
        print(f"scrapes: {results['ok']} answered, 0 failed ({CLIENTS} concurrent clients, "
              f"{CYCLES} windows of {PHASE_S} s, {results['ok'] / (CYCLES * PHASE_S):.0f} scrapes/s)")
        print(f"lock+unlock pairs/s, median of whole 500 ms rounds: quiet {q:,.0f}; "
              f"50 clients getting 404s {n:,.0f} ({100 * (1 - n / q):.1f}% lost); "
              f"50 clients scraping /metrics {l:,.0f} ({100 * (1 - l / q):.1f}% lost)")
        if l < q / 4:
            fail("hammering nearly stopped while scraped")
    print("prometheus_scrape_load: OK")
    return 0


if __name__ == "__main__":
    sys.exit(main())
