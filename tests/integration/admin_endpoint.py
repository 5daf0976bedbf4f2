#!/usr/bin/env python3
"""File: tests/integration/admin_endpoint.py

otpnet-echo with --admin 127.0.0.1:0: the admin HTTP endpoint, asked by
Python's http.client and by raw sockets. Checked:
  - /metrics parses line by line as the Prometheus text format (HELP and
    TYPE before each family's samples, names and labels in the grammar),
    and counts what the test did: 3 clients connected, connections_total,
    listener_up 1, a process count;
  - /tree is JSON whose tcp_client_sup has one child per connected client,
    and which shows the admin endpoint's own tree;
  - /processes lists the listener (gen_nb_server) and one echo_fsm per
    client, in its state wait_for_data;
  - /sockets lists the echo port's listen socket and one connected socket,
    owned by a process, per client;
  - /healthz, /, HEAD (no body), 404, 405, 400 for garbage, 431 for a line
    past the limit;
  - a silent client gets 408 at the request timeout (5 s) while others are
    answered meanwhile;
  - each refused request (404, 405, 400, 431, 408) has a report line naming
    the client, the answer and the request line, an answered one none; a
    flood of 60 bad requests is answered in full but logged in part, and
    the next line counts the lines left out.
Loopback only; every wait bounded; the server ended by its pid.

  python3 admin_endpoint.py --echo PATH
"""

import argparse
import http.client
import json
import os
import re
import socket
import struct
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "support"))
from bounded import BOUND, stop, wait_until  # noqa: E402
SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{([a-zA-Z_][a-zA-Z0-9_]*="(\\.|[^"\\])*",?)*\})? (\S+)$')


def get(port, path, method="GET"):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=BOUND)
    c.request(method, path)
    r = c.getresponse()
    body = r.read()
    c.close()
    return r.status, r.getheader("Content-Type"), body


def raw(port, data):
    s = socket.create_connection(("127.0.0.1", port), timeout=BOUND)
    s.sendall(data)
    out = b""
    while True:
        chunk = s.recv(65536)
        if not chunk:
            break
        out += chunk
    s.close()
    return out


def family_of(name, histograms):
    """The family a sample belongs to: a histogram's NAME_bucket, NAME_sum
    and NAME_count are NAME's."""
    for suffix in ("_bucket", "_sum", "_count"):
        if name.endswith(suffix) and name[: -len(suffix)] in histograms:
            return name[: -len(suffix)]
    return name


def check_histograms(samples, histograms):
    """Each histogram's buckets: cumulative, the last one le="+Inf", equal
    to its _count; a _sum beside it."""
    for (name, labels), value in samples.items():
        if not name.endswith("_count") or name[: -len("_count")] not in histograms:
            continue
        base = name[: -len("_count")]
        inner = labels[1:-1] if labels else ""
        prefix = "{" + inner + ("," if inner else "") + 'le="'
        buckets = [(k[1][len(prefix):-2], v) for k, v in samples.items()
                   if k[0] == base + "_bucket" and k[1].startswith(prefix)]
        if not buckets or buckets[-1][0] != "+Inf" or buckets[-1][1] != value:
            raise AssertionError("%s%s: the +Inf bucket is not the count: %r" % (base, labels, buckets[-3:]))
        counts = [v for _, v in buckets]
        bounds = [float(b) for b, _ in buckets[:-1]]
        if counts != sorted(counts) or bounds != sorted(bounds):
            raise AssertionError("%s%s: buckets not cumulative in order: %r" % (base, labels, buckets))
        if (base + "_sum", labels) not in samples:
            raise AssertionError("%s%s: no _sum" % (base, labels))


def parse_metrics(text):
    """{(name, labels-text): value}, in the text's order; checks the format
    as it goes (histograms too)."""
    samples = {}
    typed = set()
    histograms = set()
    for line in text.splitlines():
        if line.startswith("# HELP "):
            continue
        if line.startswith("# TYPE "):
            name, kind = line[7:].split(" ")
            if kind not in ("counter", "gauge", "untyped", "histogram"):
                raise AssertionError("bad TYPE: " + line)
            typed.add(name)
            if kind == "histogram":
                histograms.add(name)
            continue
        m = SAMPLE.match(line)
        if not m:
            raise AssertionError("not a sample line: %r" % line)
        if family_of(m.group(1), histograms) not in typed:
            raise AssertionError("a sample before its TYPE: %r" % line)
        samples[(m.group(1), m.group(2) or "")] = float(m.group(5))
    check_histograms(samples, histograms)
    return samples


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--echo", required=True)
    args = ap.parse_args()
    work = tempfile.mkdtemp(prefix="otpnet-admin-")
    out_path = os.path.join(work, "out")
    out = open(out_path, "w+")
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTPNET_") and not k.startswith("LISTEN_")}
    echo = subprocess.Popen([args.echo, "--bind", "127.0.0.1", "--port", "0", "--admin", "127.0.0.1:0",
                             "--schedulers", "2"], stdout=out, stderr=subprocess.STDOUT, env=env)
    try:
        text = lambda: open(out_path).read()
        wait_until(lambda: "admin on 127.0.0.1:" in text() or echo.poll() is not None, "the admin line")
        port = int(re.search(r"listening on 127\.0\.0\.1:(\d+)", text()).group(1))
        admin = int(re.search(r"admin on 127\.0\.0\.1:(\d+)", text()).group(1))

        clients = []
        for i in range(3):
            c = socket.create_connection(("127.0.0.1", port), timeout=BOUND)
            c.sendall(struct.pack(">H", 2) + b"hi")
            got = b""
            while len(got) < 4:
                chunk = c.recv(4 - len(got))
                if not chunk:
                    break
                got += chunk
            if got != b"\x00\x02hi":
                raise AssertionError("echo: %r" % got)
            clients.append(c)

        status, ctype, body = get(admin, "/metrics")
        if status != 200 or not ctype.startswith("text/plain; version=0.0.4"):
            raise AssertionError("/metrics: %s %s" % (status, ctype))
        m = parse_metrics(body.decode())
        lst = '{listener="tcp_listener"}'
        want = {("otpnet_listener_up", lst): 1, ("otpnet_listener_active_connections", lst): 3}
        for k, v in want.items():
            if m.get(k) != v:
                raise AssertionError("%s%s: %s, not %s\n%s" % (k[0], k[1], m.get(k), v, body.decode()))
        if m.get(("otpnet_listener_connections_total", lst), 0) < 3:
            raise AssertionError("connections_total")
        if m.get(("otpnet_processes", ""), 0) < 8:
            raise AssertionError("otpnet_processes")
        if not any(k[0] == "otpnet_scheduler_turns_total" for k in m):
            raise AssertionError("no scheduler counters")
        if m.get(("otpnet_listener_handoff_seconds_count", lst)) != 3:
            raise AssertionError("the hand-off histogram does not count the 3 clients:\n" + body.decode())
        if m.get(("otpnet_listener_handoff_seconds_sum", lst), 0) <= 0:
            raise AssertionError("the hand-off histogram's sum")
        if m.get(("otpnet_tls_handshakes_total", '{result="ok"}')) != 0:
            raise AssertionError("TLS handshakes counted in a server without TLS")
        if ("otpnet_tls_handshake_seconds_count", "") not in m:
            raise AssertionError("no TLS handshake histogram")

        status, ctype, body = get(admin, "/tree")
        tree = json.loads(body)
        if status != 200 or ctype != "application/json" or tree[0]["name"] != "tcp_server_sup":
            raise AssertionError("/tree: %s %s %r" % (status, ctype, body[:200]))
        kids = {c["id"]: c for c in tree[0]["children"]}
        handlers = kids["tcp_client_sup"]["children"]
        if len(handlers) != 3 or any(h["pid"] is None or h["restart"] != "temporary" for h in handlers):
            raise AssertionError("tcp_client_sup's children: %r" % handlers)
        if "admin_sup" not in kids or kids["admin_sup"]["type"] != "supervisor":
            raise AssertionError("the admin tree is missing: %r" % list(kids))

        status, ctype, body = get(admin, "/processes")
        procs = json.loads(body)["processes"]
        if status != 200 or not any(p["name"] == "tcp_listener" and p["behaviour"] == "gen_nb_server" for p in procs):
            raise AssertionError("/processes: no tcp_listener: %r" % procs[:5])
        fsms = [p for p in procs if p["behaviour"] == "gen_statem" and p["state"] == "wait_for_data"]
        if len(fsms) != 3:
            raise AssertionError("/processes: the echo_fsms: %r" % fsms)

        # One process in full: the listener, with its link to its
        # supervisor, the monitors of its handlers and its listen socket.
        lst_pid = next(p["pid"] for p in procs if p["name"] == "tcp_listener")
        sup_pid = tree[0]["pid"]
        for form in (lst_pid, lst_pid[1:-1], lst_pid.replace("<", "%3C").replace(">", "%3E")):
            status, ctype, body = get(admin, "/processes/" + form)
            one = json.loads(body) if status == 200 else None
            if status != 200 or ctype != "application/json" or one["pid"] != lst_pid:
                raise AssertionError("/processes/%s: %s %r" % (form, status, body[:200]))
        if one["name"] != "tcp_listener" or sup_pid not in one["links"] or len(one["monitors"]) < 3:
            raise AssertionError("/processes/%s: links %r, monitors %r" % (lst_pid, one["links"], one["monitors"]))
        if not any(x.get("local") == "127.0.0.1:%d" % port and "listening" in x["states"] for x in one["sockets"]):
            raise AssertionError("/processes/%s: its listen socket is not among %r" % (lst_pid, one["sockets"]))
        fsm = json.loads(get(admin, "/processes/" + fsms[0]["pid"])[2])
        if len(fsm["sockets"]) != 1 or "connected" not in fsm["sockets"][0]["states"]:
            raise AssertionError("an echo_fsm's own socket: %r" % fsm["sockets"])
        if get(admin, "/processes/<0.999999.7>")[0] != 404:
            raise AssertionError("a pid that is not alive is not 404")
        if get(admin, "/processes/nonsense")[0] != 400:
            raise AssertionError("a malformed pid is not 400")

        status, ctype, body = get(admin, "/sockets")
        socks = json.loads(body)
        if status != 200 or ctype != "application/json":
            raise AssertionError("/sockets: %s %s" % (status, ctype))
        listening = [x for x in socks["sockets"] if "listening" in x["states"]]
        if not any(x.get("local") == "127.0.0.1:%d" % port for x in listening):
            raise AssertionError("/sockets: no listen socket on the echo port: %r" % listening)
        for c in clients:
            me = "127.0.0.1:%d" % c.getsockname()[1]
            mine = [x for x in socks["sockets"] if x.get("peer") == me]
            if len(mine) != 1 or mine[0]["owner"] is None or "connected" not in mine[0]["states"]:
                raise AssertionError("/sockets: the connection of %s: %r" % (me, mine))

        if get(admin, "/healthz")[::2] != (200, b"ok\n"):
            raise AssertionError("/healthz")
        status, ctype, body = get(admin, "/")
        if status != 200 or "text/html" not in ctype or b"/tree" not in body:
            raise AssertionError("/")
        status, _, body = get(admin, "/metrics", "HEAD")
        if status != 200 or body != b"":
            raise AssertionError("HEAD: %s %r" % (status, body[:50]))
        if get(admin, "/nope")[0] != 404:
            raise AssertionError("404")
        c = http.client.HTTPConnection("127.0.0.1", admin, timeout=BOUND)
        c.request("POST", "/metrics")
        r = c.getresponse()
        r.read()
        c.close()
        if r.status != 405 or r.getheader("Allow") != "GET, HEAD":
            raise AssertionError("405: %s, Allow %r" % (r.status, r.getheader("Allow")))
        # An error answer to a HEAD has no body either.
        answer = raw(admin, b"HEAD / HTTP/1.1\r\nX-Long: " + b"a" * 10000 + b"\r\n\r\n")
        if not answer.startswith(b"HTTP/1.1 431 ") or not answer.endswith(b"\r\n\r\n"):
            raise AssertionError("HEAD with a long header: %r" % answer[-80:])
        if not raw(admin, b"\x16\x03\x01 garbage\r\n\r\n").startswith(b"HTTP/1.1 400 "):
            raise AssertionError("400 for garbage")
        if not raw(admin, b"GET /" + b"a" * 10000 + b" HTTP/1.1\r\n\r\n").startswith(b"HTTP/1.1 431 "):
            raise AssertionError("431 for a long line")

        # A silent client holds its own connection only, until the timeout.
        silent = socket.create_connection(("127.0.0.1", admin), timeout=BOUND)
        silent.sendall(b"GET /metrics HTTP/1.1\r\n")  # and no end of headers
        started = time.monotonic()
        if get(admin, "/healthz")[0] != 200:
            raise AssertionError("a request behind a silent client")
        answer = b""
        while True:
            chunk = silent.recv(4096)
            if not chunk:
                break
            answer += chunk
        if not answer.startswith(b"HTTP/1.1 408 ") or time.monotonic() - started > BOUND:
            raise AssertionError("the silent client: %r" % answer[:80])

        # Each refused request has its report line, written before its
        # answer: the client, the status, why, the request line escaped.
        log = text()
        for want in ("404 Not Found (/metrics, /tree", ": GET /nope HTTP/1.1",
                     "405 Method Not Allowed (GET or HEAD): POST /metrics HTTP/1.1",
                     "431 Request Header Fields Too Large (line too long): HEAD / HTTP/1.1",
                     "400 Bad Request (not an HTTP/1 request line): ??? garbage",
                     "408 Request Timeout (the request did not end in time): GET /metrics HTTP/1.1"):
            if not re.search(r"admin: client 127\.0\.0\.1:\d+: .*" + re.escape(want), log):
                raise AssertionError("no report line with %r:\n%s" % (want, log))
        if "200 OK" in log:
            raise AssertionError("a report line for an answered request:\n" + log)

        # A flood of bad requests does not flood the log: a burst of 20
        # lines, then 10 a second; every request is still answered, and the
        # next line written says how many were left out.
        before = text().count("admin: client")
        for i in range(60):
            if not raw(admin, b"FLOOD%d / HTTP/1.1\r\n\r\n" % i).startswith(b"HTTP/1.1 405 "):
                raise AssertionError("flood request %d not answered 405" % i)
        flood_lines = text().count("admin: client") - before
        if not 1 <= flood_lines <= 45:
            raise AssertionError("%d report lines for 60 bad requests" % flood_lines)
        time.sleep(0.3)  # (the budget refills with time: 3 lines' worth)
        raw(admin, b"AFTER / HTTP/1.1\r\n\r\n")
        after = [l for l in text().splitlines() if "AFTER / HTTP/1.1" in l]
        if len(after) != 1:
            raise AssertionError("no line for the request after the flood: %r" % after)
        # The lines left out are counted in the next line written: the one
        # after the flood, or one within it once the budget refilled.
        counted = [l for l in text().splitlines() if "FLOOD" in l or "AFTER / HTTP/1.1" in l]
        left_out = sum(int(m.group(1)) for l in counted
                       for m in [re.search(r"\((\d+) refused requests not logged", l)] if m)
        if flood_lines + left_out != 60:
            raise AssertionError("%d written + %d left out != 60" % (flood_lines, left_out))
        for c in clients:
            c.close()
        print("ok: /metrics, /tree, /processes, /processes/<pid>, /sockets, /healthz, /, HEAD, 404, 405, 400, 431, "
              "a silent client, report lines, a flood")
        return 0
    except (AssertionError, OSError, KeyError, ValueError) as e:
        print("FAILED:", repr(e))
        print("-- otpnet-echo --\n" + open(out_path).read())
        return 1
    finally:
        stop(echo)


if __name__ == "__main__":
    sys.exit(main())
