#!/usr/bin/env python3
"""`lockaudit report --format html` (issue 17) in a real browser: headless Chromium.

usage: html_test.py LOCKAUDIT PROGRAM WORKDIR

Runs PROGRAM (cycle_and_contention: a lock-order cycle and a contended lock) under `lockaudit run`,
writes the HTML report, and checks:
  * the page is self-contained: no script, stylesheet, image or frame loaded from anywhere;
  * Chromium (Debian's `chromium`, headless) loads it with no console message and no failed
    load (its log on stderr), and takes a screenshot (a PNG that the test does not judge);
  * the DOM Chromium dumps has the cycle's finding with both edges, each with its two stacks
    (the acquiring and the held lock's frames, Transfer() in both), the lock-order graph as inline
    SVG whose cycle edges link to the finding, the contended lock's table row and a flame graph.
"""
import html.parser
import os
import re
import shutil
import subprocess
import sys


def fail(msg):
    print("FAILED: " + msg)
    sys.exit(1)


class Dom(html.parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.stack, self.ids, self.links, self.text_by_id = [], {}, [], {}
        self.tags = []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        self.tags.append((tag, a))
        self.stack.append(a.get("id"))
        if a.get("id"):
            self.ids[a["id"]] = tag
            self.text_by_id.setdefault(a["id"], "")
        for key in ("href", "xlink:href"):
            if key in a:
                self.links.append(a[key])

    def handle_endtag(self, tag):
        if self.stack:
            self.stack.pop()

    def handle_data(self, data):
        for ident in self.stack:
            if ident:
                self.text_by_id[ident] = self.text_by_id.get(ident, "") + data


def main():
    lockaudit, program, work = sys.argv[1:4]
    os.makedirs(work, exist_ok=True)
    chromium = shutil.which("chromium")
    if chromium is None:
        fail("no 'chromium' command: the README's apt line installs Debian's chromium")
    report = os.path.join(work, "report.jsonl")
    subprocess.run([lockaudit, "run", "-q", "--report", report, "--", program],
                   env=dict(os.environ, LOCKAUDIT_LOG="off"), capture_output=True, timeout=120)
    page = os.path.join(work, "report.html")
    p = subprocess.run([lockaudit, "report", "--format", "html", "-o", page, report],
                       capture_output=True, text=True)
    if p.returncode != 1 or not os.path.getsize(page):
        fail("report --format html: exit %d %s" % (p.returncode, p.stderr))
    source = open(page).read()
    for pattern in (r"<script", r"<link", r"<img", r"<iframe", r"src\s*=", r"url\(", r"@import",
                    r"href=\"(?!#)"):
        if re.search(pattern, source, re.I):
            fail("the page is not self-contained: it has %s" % pattern)
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             "--user-data-dir=" + os.path.join(work, "profile"), "--enable-logging=stderr", "--v=0"]
    url = "file://" + os.path.abspath(page)
    dump = subprocess.run([chromium] + flags + ["--dump-dom", url], capture_output=True, text=True,
                          timeout=120)
    if dump.returncode != 0 or "</html>" not in dump.stdout:
        fail("chromium could not load the page: %d\n%s" % (dump.returncode, dump.stderr[-2000:]))
    page_errors = [l for l in dump.stderr.splitlines()
                   if "CONSOLE" in l or "net::ERR" in l or "Failed to load" in l or
                   "Uncaught" in l]
    if page_errors:
        fail("the page logged in the browser:\n" + "\n".join(page_errors[:10]))
    shot = os.path.join(work, "report.png")
    subprocess.run([chromium] + flags + ["--screenshot=" + shot, "--window-size=1300,1800", url],
                   capture_output=True, timeout=120)
    if not os.path.exists(shot) or os.path.getsize(shot) < 1000:
        fail("chromium took no screenshot")
    dom = Dom()
    dom.feed(dump.stdout)
    if "finding-0" not in dom.ids:
        fail("the DOM has no finding section")
    for edge in ("finding-0-edge-1", "finding-0-edge-2"):
        text = dom.text_by_id.get(edge, "")
        if text.count("Transfer") < 2 or "acquired at" not in text or "while holding" not in text:
            fail("%s lacks its two stacks: %r" % (edge, text[:400]))
    if "#finding-0" not in dom.links:
        fail("no cycle edge of the graph links to its finding: %s" % dom.links[:20])
    graph = dom.text_by_id.get("graph", "")
    if "g_checking" not in graph or "g_savings" not in graph:
        fail("the graph does not show the cycle's locks: %r" % graph[:300])
    if not any(tag == "svg" for tag, _ in dom.tags):
        fail("no inline SVG in the DOM")
    contention = dom.text_by_id.get("contention", "")
    if "g_journal" not in contention or "Journal()" not in contention:
        fail("the contention section lacks the hot lock or its flame graph: %r" % contention[:300])
    times = dom.text_by_id.get("times", "")
    if "g_queue_cv" not in times or "wake" not in times or "hold p50 / p90 / p99" not in times:
        fail("the times section lacks the hold quantiles or the condvar's wake latency: %r" % times[:600])
    if "held while others waited" not in contention or "whose holds made others wait longest" not in contention:
        fail("the contention section lacks the holder column or the holder top list: %r" % contention[:600])
    print("html: loaded in headless Chromium without console output; DOM has the cycle's 2 edges "
          "with both stacks, linked graph edges, contention table and flame graph; screenshot %d "
          "bytes" % os.path.getsize(shot))
    print("PASSED")


if __name__ == "__main__":
    main()
