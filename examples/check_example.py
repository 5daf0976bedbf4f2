#!/usr/bin/env python3
# File: examples/check_example.py
#
# Starts one example program on port 0, reads "listening on port N" from
# its stdout, talks to it over 127.0.0.1 as a user would (with nc), and
# stops it with SIGTERM. Standard library only; every wait is bounded.
#   check_example.py no_soup|line_echo|chat PATH_TO_BINARY
import signal
import socket
import subprocess
import sys
import time

BOUND = 20.0  # seconds for anything that must happen


def fail(msg):
    print("FAIL: " + msg, file=sys.stderr)
    sys.exit(1)


def connect(port):
    s = socket.create_connection(("127.0.0.1", port), timeout=BOUND)
    s.settimeout(BOUND)
    return s


class lines:
    """Reads whole lines from a socket."""

    def __init__(self, sock):
        self.sock = sock
        self.buf = b""

    def next(self):
        while b"\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                fail("connection closed while waiting for a line (have %r)" % self.buf)
            self.buf += chunk
        line, _, self.buf = self.buf.partition(b"\n")
        return line.decode() + "\n"

    def expect(self, want):
        got = self.next()
        if got != want:
            fail("expected %r, got %r" % (want, got))


def read_to_eof(sock):
    out = b""
    while True:
        chunk = sock.recv(65536)
        if not chunk:
            return out
        out += chunk


def check_no_soup(port):
    for _ in range(5):
        s = connect(port)
        got = read_to_eof(s)
        s.close()
        if got != b"No soup for you!\n":
            fail("expected the soup line and a close, got %r" % got)


def check_line_echo(port):
    a, b = connect(port), connect(port)
    la, lb = lines(a), lines(b)
    a.sendall(b"hello\nworld\n")
    la.expect("hello\n")
    la.expect("world\n")
    # A line in pieces comes back whole; the other client is unaffected.
    a.sendall(b"par")
    b.sendall(b"from b\n")
    lb.expect("from b\n")
    time.sleep(0.05)
    a.sendall(b"tial\n")
    la.expect("partial\n")
    big = "x" * 10000 + "\n"
    b.sendall(big.encode())
    lb.expect(big)
    a.close()
    b.sendall(b"still here\n")
    lb.expect("still here\n")
    b.close()


def check_chat(port):
    clients = []
    for k in range(3):
        s = connect(port)
        l = lines(s)
        welcome = l.next()
        if not welcome.startswith("* welcome ") or not welcome.endswith(", %d here\n" % (k + 1)):
            fail("unexpected welcome %r" % welcome)
        name = welcome[len("* welcome "):].split(",")[0]
        clients.append((s, l, name))
        # The ones already there see the newcomer join.
        for (_, ol, _) in clients:
            ol.expect("* %s joined\n" % name)
    a, b, c = clients
    a[0].sendall(b"hello all\n")
    for (_, l, _) in clients:
        l.expect("%s: hello all\n" % a[2])
    # Lines from several clients: everyone sees them in the same order.
    b[0].sendall(b"one\n")
    c[0].sendall(b"two\n")
    seen = [[l.next(), l.next()] for (_, l, _) in clients]
    if seen[0] != seen[1] or seen[1] != seen[2]:
        fail("members saw different orders: %r" % seen)
    if sorted(seen[0]) != sorted(["%s: one\n" % b[2], "%s: two\n" % c[2]]):
        fail("unexpected lines %r" % seen[0])
    # One leaves: the others are told, and go on.
    b[0].close()
    for (_, l, _) in (a, c):
        l.expect("* %s left\n" % b[2])
    c[0].sendall(b"bye\n")
    for (_, l, _) in (a, c):
        l.expect("%s: bye\n" % c[2])
    a[0].close()
    c[0].close()


CHECKS = {"no_soup": check_no_soup, "line_echo": check_line_echo, "chat": check_chat}


def main():
    if len(sys.argv) != 3 or sys.argv[1] not in CHECKS:
        fail("usage: check_example.py %s BINARY" % "|".join(CHECKS))
    proc = subprocess.Popen([sys.argv[2], "0"], stdout=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + BOUND
        line = ""
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            if line.startswith("listening on port ") or not line:
                break
        if not line.startswith("listening on port "):
            fail("no 'listening on port N' line (got %r)" % line)
        port = int(line.split()[-1])
        if port == 0:
            fail("listening on port 0")
        CHECKS[sys.argv[1]](port)
        proc.send_signal(signal.SIGTERM)
        rc = proc.wait(timeout=BOUND)
        if rc != 0:
            fail("exit status %d after SIGTERM" % rc)
        print("ok: %s" % sys.argv[1])
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


if __name__ == "__main__":
    main()
