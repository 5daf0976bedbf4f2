#!/usr/bin/env python3
"""File: tests/interop/haproxy_proxy.py

otpnet-echo behind a real HAProxy (TCP mode) that sends the PROXY protocol
header, version 1 (`send-proxy`) or 2 (`send-proxy-v2`, with a CRC32C and
a unique-id TLV): a Python client connects to HAProxy, its {packet, 2}
frames are echoed through it, and otpnet-echo logs the client's own
address and port (not HAProxy's). HAProxy's health checks with PROXY
headers (LOCAL in version 2) come in as well and must not disturb it.
Loopback only; every wait bounded; both programs are started here and
ended by their pids. Exits 77 (skipped) without haproxy.

  python3 haproxy_proxy.py --echo PATH --version 1|2
"""

import argparse
import os
import shutil
import socket
import struct
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "support"))
from bounded import BOUND, read_exact, stop, wait_until  # noqa: E402


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def listening(port):
    """Whether a socket listens on 127.0.0.1:port, read from /proc/net/tcp
    (a probe connection would go through HAProxy to otpnet-echo and count
    as a client there)."""
    want = "0100007F:%04X" % port
    with open("/proc/net/tcp") as f:
        for line in f.readlines()[1:]:
            fields = line.split()
            if fields[1] == want and fields[3] == "0A":  # TCP_LISTEN
                return True
    return False


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--echo", required=True)
    ap.add_argument("--version", choices=["1", "2"], required=True)
    args = ap.parse_args()
    haproxy = shutil.which("haproxy") or ("/usr/sbin/haproxy" if os.path.exists("/usr/sbin/haproxy") else None)
    if haproxy is None:
        print("haproxy is not installed: skipped")
        return 77

    work = tempfile.mkdtemp(prefix="otpnet-haproxy-")
    port_file = os.path.join(work, "port")
    echo_log = open(os.path.join(work, "echo.log"), "w+")
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTPNET_")}
    echo = subprocess.Popen(
        [args.echo, "--bind", "127.0.0.1", "--port", "0", "--port-file", port_file, "--proxy-protocol",
         "--log-connections", "--schedulers", "2"],
        stdout=echo_log, stderr=subprocess.STDOUT, env=env)
    ha = None
    try:
        wait_until(lambda: os.path.exists(port_file) and open(port_file).read().strip() != "", "otpnet-echo's port")
        echo_port = int(open(port_file).read().strip())
        front = free_port()
        send = "send-proxy" if args.version == "1" else "send-proxy-v2 proxy-v2-options crc32c,unique-id"
        cfg = os.path.join(work, "haproxy.cfg")
        with open(cfg, "w") as f:
            f.write("""global
  maxconn 64
defaults
  mode tcp
  timeout connect 5s
  timeout client 30s
  timeout server 30s
frontend fe
  bind 127.0.0.1:%d
  unique-id-format otpnet-%%[src_port]
  default_backend be
backend be
  server echo 127.0.0.1:%d %s check inter 200ms check-send-proxy
""" % (front, echo_port, send))
        ha = subprocess.Popen([haproxy, "-f", cfg, "-db"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        wait_until(lambda: ha.poll() is not None or listening(front), "haproxy's port")
        if ha.poll() is not None:
            raise AssertionError("haproxy ended: " + ha.stderr.read().decode(errors="replace"))

        clients = []
        for i in range(3):
            s = socket.create_connection(("127.0.0.1", front), timeout=BOUND)
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            clients.append(s)
        for i, s in enumerate(clients):
            body = ("frame %d through haproxy" % i).encode()
            s.sendall(struct.pack(">H", len(body)) + body)
            got = read_exact(s, 2 + len(body))
            if got[2:] != body:
                raise AssertionError("client %d: sent %r, got %r" % (i, body, got))
        # Many frames in one write, after the header's connection is up.
        s = clients[0]
        bodies = [("b%d" % k).encode() * (k % 7 + 1) for k in range(200)]
        s.sendall(b"".join(struct.pack(">H", len(b)) + b for b in bodies))
        for k, b in enumerate(bodies):
            n = struct.unpack(">H", read_exact(s, 2))[0]
            if read_exact(s, n) != b:
                raise AssertionError("burst frame %d" % k)

        # Each client is logged by its own address (HAProxy's header), not
        # HAProxy's outgoing one.
        for s in clients:
            want = "echo: client 127.0.0.1:%d connected" % s.getsockname()[1]
            wait_until(lambda: want in open(echo_log.name).read(), "the line '%s'" % want)
        # HAProxy's health checks (every 200 ms, each with its own PROXY
        # header: LOCAL in version 2) are served too: at least one more
        # connection than the clients'. Nothing was refused.
        wait_until(lambda: open(echo_log.name).read().count(" connected") > len(clients), "a health check")
        log = open(echo_log.name).read()
        if "did not start with a valid PROXY protocol header" in log:
            raise AssertionError("a PROXY header from haproxy was refused:\n" + log)
        for s in clients:
            s.close()
        print("ok: PROXY v%s through %s" % (args.version, subprocess.run(
            [haproxy, "-v"], capture_output=True, text=True).stdout.splitlines()[0]))
        return 0
    except AssertionError as e:
        print("FAILED:", e)
        echo_log.flush()
        print("-- otpnet-echo --\n" + open(echo_log.name).read())
        return 1
    finally:
        if ha is not None:
            stop(ha)
        stop(echo)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
