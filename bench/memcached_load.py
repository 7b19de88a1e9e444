#!/usr/bin/env python3
"""Bounded memcached load generator (text protocol, Python 3 standard library only).

Used by bench/real_server.sh to keep a real multithreaded server busy, natively and under the
lockaudit shim, with the same load. N client processes (not threads: the GIL would cap the load)
each open their own TCP connection and run a mix of `get` and `set` over a fixed key space, for a
fixed duration or a fixed number of operations per client, whichever comes first. Every reply is
checked: a value read back must be exactly the value any client writes for that key.

Output: human-readable lines, then one machine-readable line
    RESULT ops=N seconds=S ops_per_s=R gets=G sets=S hits=H misses=M errors=E
Exit status: 0 on success; 1 on any protocol error, unexpected reply, connection failure, or a
client that did not finish in time; 2 for bad arguments.
"""

import argparse
import multiprocessing
import os
import random
import socket
import sys
import time

CRLF = b"\r\n"


class ProtocolError(Exception):
    pass


def key_name(i):
    return b"la:%d" % i


def value_for(key, size):
    """The one value any client stores under `key`, so reads can be checked exactly."""
    pattern = key + b"|"
    return (pattern * (size // len(pattern) + 1))[:size]


class Conn:
    """A blocking connection with a receive buffer and an absolute deadline on every read."""

    def __init__(self, host, port, io_timeout):
        self.sock = socket.create_connection((host, port), timeout=io_timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = bytearray()

    def send(self, data):
        self.sock.sendall(data)

    def _fill(self):
        chunk = self.sock.recv(65536)  # raises socket.timeout after io_timeout
        if not chunk:
            raise ProtocolError("server closed the connection")
        self.buf += chunk

    def line(self):
        while True:
            i = self.buf.find(CRLF)
            if i >= 0:
                out = bytes(self.buf[:i])
                del self.buf[: i + 2]
                return out
            if len(self.buf) > 1 << 20:
                raise ProtocolError("reply line longer than 1 MiB")
            self._fill()

    def exact(self, n):
        while len(self.buf) < n:
            self._fill()
        out = bytes(self.buf[:n])
        del self.buf[:n]
        return out

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


def read_get_reply(conn, key, value_size):
    """Reads the reply to `get key`; returns True on a hit, False on a miss."""
    first = conn.line()
    if first == b"END":
        return False
    parts = first.split()
    if len(parts) != 4 or parts[0] != b"VALUE" or parts[1] != key or parts[2] != b"0":
        raise ProtocolError("get %r: unexpected reply %r" % (key, first[:200]))
    try:
        n = int(parts[3])
    except ValueError:
        raise ProtocolError("get %r: bad length in %r" % (key, first[:200]))
    data = conn.exact(n + 2)
    if data[-2:] != CRLF:
        raise ProtocolError("get %r: value not terminated by CRLF" % key)
    if data[:-2] != value_for(key, value_size):
        raise ProtocolError("get %r: value differs from what was stored: %r" % (key, data[:80]))
    end = conn.line()
    if end != b"END":
        raise ProtocolError("get %r: expected END, got %r" % (key, end[:200]))
    return True


def read_set_reply(conn, key):
    reply = conn.line()
    if reply != b"STORED":
        raise ProtocolError("set %r: expected STORED, got %r" % (key, reply[:200]))


def set_command(key, value_size):
    value = value_for(key, value_size)
    return b"set %s 0 0 %d\r\n%s\r\n" % (key, len(value), value)


def prefill(args):
    """Stores every key once, pipelined, so that gets mostly hit."""
    conn = Conn(args.host, args.port, args.io_timeout)
    try:
        batch = 200
        for start in range(0, args.keys, batch):
            keys = [key_name(i) for i in range(start, min(start + batch, args.keys))]
            conn.send(b"".join(set_command(k, args.value_size) for k in keys))
            for k in keys:
                read_set_reply(conn, k)
    finally:
        conn.close()


def client(index, args, start_event, start_at, results):
    """One client process: its own connection, its own random stream, its own counters."""
    counts = {"ops": 0, "gets": 0, "sets": 0, "hits": 0, "misses": 0, "error": None, "elapsed": 0.0}
    conn = None
    try:
        rng = random.Random(args.seed * 1000003 + index)
        conn = Conn(args.host, args.port, args.io_timeout)
        if not start_event.wait(30):
            raise ProtocolError("start signal never came")
        t0 = start_at.value
        deadline = t0 + args.duration
        budget = args.count if args.count > 0 else None
        while time.monotonic() < deadline and (budget is None or counts["ops"] < budget):
            n = args.pipeline if budget is None else min(args.pipeline, budget - counts["ops"])
            batch = []
            for _ in range(n):
                key = key_name(rng.randrange(args.keys))
                is_set = rng.random() < args.set_ratio
                batch.append((key, is_set))
            conn.send(b"".join(set_command(k, args.value_size) if s else b"get %s\r\n" % k
                               for k, s in batch))
            for key, is_set in batch:
                if is_set:
                    read_set_reply(conn, key)
                    counts["sets"] += 1
                else:
                    if read_get_reply(conn, key, args.value_size):
                        counts["hits"] += 1
                    else:
                        counts["misses"] += 1
                    counts["gets"] += 1
                counts["ops"] += 1
        counts["elapsed"] = time.monotonic() - t0
    except (OSError, ProtocolError) as e:  # socket.timeout is an OSError
        counts["error"] = "client %d: %s: %s" % (index, type(e).__name__, e)
    finally:
        if conn is not None:
            conn.close()
        results.put((index, counts))


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--clients", type=int, default=4, help="client processes (default 4)")
    p.add_argument("--duration", type=float, default=10.0, help="seconds of load (default 10)")
    p.add_argument("--count", type=int, default=0,
                   help="stop each client after this many operations (default: duration only)")
    p.add_argument("--keys", type=int, default=10000, help="key space (default 10000)")
    p.add_argument("--set-ratio", type=float, default=0.1, help="fraction of sets (default 0.1)")
    p.add_argument("--value-size", type=int, default=32, help="value bytes (default 32)")
    p.add_argument("--pipeline", type=int, default=8,
                   help="requests sent per round trip (default 8)")
    p.add_argument("--io-timeout", type=float, default=5.0,
                   help="seconds any single socket operation may take (default 5)")
    p.add_argument("--no-prefill", action="store_true", help="do not store every key first")
    p.add_argument("--seed", type=int, default=1)
    args = p.parse_args(argv)
    if not (1 <= args.clients <= 256 and 0 < args.duration <= 3600 and args.keys >= 1
            and 0.0 <= args.set_ratio <= 1.0 and 1 <= args.value_size <= 100000
            and 1 <= args.pipeline <= 1000 and args.count >= 0 and args.io_timeout > 0):
        p.error("argument out of range")
    return args


def main(argv):
    args = parse_args(argv)
    try:
        if not args.no_prefill:
            prefill(args)
    except (OSError, ProtocolError) as e:
        print("memcached_load: prefill failed: %s: %s" % (type(e).__name__, e), file=sys.stderr)
        return 1

    ctx = multiprocessing.get_context("fork")
    start_event = ctx.Event()
    start_at = ctx.Value("d", 0.0)
    results = ctx.Queue()
    procs = [ctx.Process(target=client, args=(i, args, start_event, start_at, results), daemon=True)
             for i in range(args.clients)]
    for pr in procs:
        pr.start()
    time.sleep(0.2)  # let the clients connect before the clock starts
    start_at.value = time.monotonic()
    start_event.set()

    # Strict bound: every client must report within duration + io_timeout + slack.
    hard_deadline = start_at.value + args.duration + args.io_timeout + 10.0
    collected = {}
    while len(collected) < len(procs):
        left = hard_deadline - time.monotonic()
        if left <= 0:
            break
        try:
            index, counts = results.get(timeout=left)
        except Exception:  # queue.Empty
            break
        collected[index] = counts
    wall = time.monotonic() - start_at.value
    for pr in procs:
        pr.join(timeout=max(0.0, hard_deadline - time.monotonic()) + 1.0)
        if pr.is_alive():
            pr.terminate()
            pr.join(2.0)

    errors = [c["error"] for c in collected.values() if c["error"]]
    missing = [i for i in range(len(procs)) if i not in collected]
    errors += ["client %d: did not finish in time" % i for i in missing]
    total = {k: sum(c[k] for c in collected.values()) for k in ("ops", "gets", "sets", "hits", "misses")}
    elapsed = max([c["elapsed"] for c in collected.values() if not c["error"]] or [wall])
    rate = total["ops"] / elapsed if elapsed > 0 else 0.0
    for e in errors[:10]:
        print("memcached_load: error: " + e, file=sys.stderr)
    print("memcached_load: %d clients, %.2f s, %d ops (%d get: %d hit, %d miss; %d set), %.0f ops/s"
          % (args.clients, elapsed, total["ops"], total["gets"], total["hits"], total["misses"],
             total["sets"], rate))
    print("RESULT ops=%d seconds=%.3f ops_per_s=%.1f gets=%d sets=%d hits=%d misses=%d errors=%d"
          % (total["ops"], elapsed, rate, total["gets"], total["sets"], total["hits"],
             total["misses"], len(errors)))
    sys.stdout.flush()
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
