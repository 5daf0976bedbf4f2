#!/usr/bin/env python3
"""File: tests/interop/python_server.py

A Python server (socket + struct only) for an otpnet client: listens on
127.0.0.1:0, runs `otpnet_interop_echo_peer client <packet> <port> <sizes>`,
checks that frame i is framing.pattern(i, size_i), and answers each with its
bytes reversed, which the otpnet client checks in turn. Exits non-zero on
any mismatch, on either side.

  python3 python_server.py --peer PATH --packet 1|2|4|line
"""

import argparse
import socket
import subprocess
import sys
import threading

import framing


def sizes_for(packet):
    limit = {"1": 255, "2": 65535, "4": 1 << 20, "line": 4000}[packet]
    base = [5, 1, 100, 255, 256, 1000, 3000, 16383, 16384, 16385, 65535, 65536, 200000, 1 << 20]
    out = [n for n in base if n <= limit]
    if packet != "line":
        out.insert(1, 0)
    return out


def serve(ls, packet, sizes, problems):
    try:
        ls.settimeout(20)
        conn, _ = ls.accept()
        conn.settimeout(20)
        rd = framing.reader(conn, packet)
        for i, n in enumerate(sizes):
            got = rd.frame()
            want = framing.pattern(i, n)
            if packet == "line":
                want += b"\n"
            if got != want:
                problems.append(
                    "frame %d: expected %d bytes, got %s" % (i, len(want), "none" if got is None else len(got))
                )
                return
            body = got[:-1] if packet == "line" else got
            conn.sendall(framing.encode(packet, body[::-1]))
        if rd.frame() is not None:
            problems.append("more frames than sent")
        conn.close()
    except Exception as e:
        problems.append("server: %s" % e)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--peer", required=True)
    ap.add_argument("--packet", required=True, choices=["1", "2", "4", "line"])
    args = ap.parse_args()
    sizes = sizes_for(args.packet)
    ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    ls.bind(("127.0.0.1", 0))
    ls.listen(1)
    port = ls.getsockname()[1]
    problems = []
    t = threading.Thread(target=serve, args=(ls, args.packet, sizes, problems))
    t.start()
    try:
        out = subprocess.run(
            [args.peer, "client", args.packet, str(port), ",".join(map(str, sizes))],
            stdout=subprocess.PIPE,
            timeout=40,
        )
    except subprocess.TimeoutExpired:
        problems.append("the otpnet client did not finish")
        out = None
    t.join(30)
    ls.close()
    if out is not None:
        said = out.stdout.decode().strip()
        if out.returncode != 0 or said != "ok %d" % len(sizes):
            problems.append("otpnet client: exit %d, said %r" % (out.returncode, said))
    if problems:
        for p in problems:
            print("FAILED ({packet %s}): %s" % (args.packet, p), file=sys.stderr)
        return 1
    print("ok: otpnet client <-> python server, {packet, %s}, %d frames" % (args.packet, len(sizes)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
