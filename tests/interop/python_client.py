#!/usr/bin/env python3
"""File: tests/interop/python_client.py

A Python client (socket + struct only) against an otpnet echo server:
starts `otpnet_interop_echo_peer server <packet>`, reads its port, and
checks the echo of frames sent whole, many in one write, one byte at a
time, over several interleaved connections, and of a frame split across
writes. Exits non-zero on any mismatch.

  python3 python_client.py --peer PATH --packet 1|2|4|line
"""

import argparse
import sys
import time

import framing


def sizes_for(packet):
    limit = {"1": 255, "2": 65535, "4": 300000, "line": 4000}[packet]
    base = [1, 2, 3, 10, 100, 255, 256, 1000, 4000, 16384, 16385, 65535, 65536, 300000]
    out = [n for n in base if n <= limit]
    if packet != "line":
        out.insert(0, 0)  # an empty frame
    return out


def expect_echo(rd, body, what):
    got = rd.frame()
    want = body + b"\n" if rd.packet == "line" else body
    if got != want:
        raise AssertionError(
            "%s: sent %d bytes, got back %s" % (what, len(want), "nothing" if got is None else "%d bytes" % len(got))
        )


step = "start"


def check(port, packet):
    global step
    step = "frames of every size"
    # 1. Frames of every size, each sent whole and echoed before the next.
    s = framing.connect(port)
    rd = framing.reader(s, packet)
    for i, n in enumerate(sizes_for(packet)):
        body = framing.pattern(i, n)
        s.sendall(framing.encode(packet, body))
        expect_echo(rd, body, "frame %d (%d bytes)" % (i, n))

    step = "many frames in one write"
    # 2. Many frames in one write.
    bodies = [framing.pattern(i, i % 50 + 1) for i in range(500)]
    s.sendall(b"".join(framing.encode(packet, b) for b in bodies))
    for i, b in enumerate(bodies):
        expect_echo(rd, b, "burst frame %d" % i)

    step = "one byte at a time"
    # 3. One frame a byte at a time (TCP_NODELAY: separate segments).
    body = framing.pattern(7, 200)
    for byte in framing.encode(packet, body):
        s.send(bytes([byte]))
        time.sleep(0.0005)
    expect_echo(rd, body, "byte-by-byte frame")

    step = "split frame"
    # 4. A frame split across two writes, the split inside the header.
    wire = framing.encode(packet, framing.pattern(9, 300 if packet != "1" else 200))
    s.sendall(wire[:1])
    time.sleep(0.01)
    s.sendall(wire[1:])
    expect_echo(rd, framing.pattern(9, 300 if packet != "1" else 200), "split frame")

    step = "several connections"
    # 5. Several connections, interleaved.
    conns = [framing.connect(port) for _ in range(4)]
    readers = [framing.reader(c, packet) for c in conns]
    for round_ in range(20):
        for k, c in enumerate(conns):
            c.sendall(framing.encode(packet, framing.pattern(round_ * 4 + k, 30 + k)))
        for k, r in enumerate(readers):
            expect_echo(r, framing.pattern(round_ * 4 + k, 30 + k), "connection %d round %d" % (k, round_))
    for c in conns:
        c.close()

    step = "clean end"
    # 6. A clean end: our close, then the server closes too.
    s.shutdown(framing.socket.SHUT_WR)
    if rd.frame() is not None:
        raise AssertionError("data after the end")
    s.close()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--peer", required=True)
    ap.add_argument("--packet", required=True, choices=["1", "2", "4", "line"])
    args = ap.parse_args()
    proc, port = framing.start_peer([args.peer, "server", args.packet])
    try:
        check(port, args.packet)
    except Exception as e:  # report, then fail
        print("FAILED ({packet %s}, %s): %s" % (args.packet, step, e), file=sys.stderr)
        proc.kill()
        return 1
    proc.stdin.close()  # the peer exits when its stdin closes
    try:
        rc = proc.wait(timeout=20)
    except Exception:
        proc.kill()
        print("FAILED: the peer did not exit after stdin closed", file=sys.stderr)
        return 1
    if rc != 0:
        print("FAILED: the peer exited with %d" % rc, file=sys.stderr)
        return 1
    print("ok: python client <-> otpnet server, {packet, %s}" % args.packet)
    return 0


if __name__ == "__main__":
    sys.exit(main())
