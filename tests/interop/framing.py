"""File: tests/interop/framing.py

What both interop scripts share, with the standard library only: the
frame pattern (the same as echo_peer.cpp's interop_pattern), {packet, N}
and line framing with struct, exact reads, and starting the otpnet peer.
"""

import select
import socket
import struct
import subprocess
import sys

HEADER = {"1": ">B", "2": ">H", "4": ">I"}


def pattern(i, n):
    """Frame i of n bytes."""
    return bytes(ord("a") + (i * 7 + j) % 26 for j in range(n))


def encode(packet, body):
    """body framed as {packet, 1|2|4} or line."""
    if packet == "line":
        return body + b"\n"
    return struct.pack(HEADER[packet], len(body)) + body


def recv_exact(sock, n):
    """Exactly n bytes, or an error if the peer ends first."""
    out = bytearray()
    while len(out) < n:
        chunk = sock.recv(n - len(out))
        if not chunk:
            raise ConnectionError("peer closed after %d of %d bytes" % (len(out), n))
        out += chunk
    return bytes(out)


class reader:
    """Reads frames from a socket, keeping what follows a frame."""

    def __init__(self, sock, packet):
        self.sock = sock
        self.packet = packet
        self.buf = b""

    def _fill(self):
        chunk = self.sock.recv(65536)
        if not chunk:
            raise ConnectionError("peer closed mid-frame (%d bytes buffered)" % len(self.buf))
        self.buf += chunk

    def frame(self):
        """The next frame's body (for line: with its delimiter), or None at a clean end."""
        if self.packet == "line":
            while b"\n" not in self.buf:
                try:
                    self._fill()
                except ConnectionError:
                    if not self.buf:
                        return None
                    raise
            i = self.buf.index(b"\n") + 1
            f, self.buf = self.buf[:i], self.buf[i:]
            return f
        fmt = HEADER[self.packet]
        h = struct.calcsize(fmt)
        while len(self.buf) < h:
            try:
                self._fill()
            except ConnectionError:
                if not self.buf:
                    return None
                raise
        (n,) = struct.unpack(fmt, self.buf[:h])
        while len(self.buf) < h + n:
            self._fill()
        f, self.buf = self.buf[h : h + n], self.buf[h + n :]
        return f


def start_peer(args, timeout=10.0):
    """Starts the otpnet peer; with 'server', returns (process, port)."""
    proc = subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=sys.stderr)
    ready, _, _ = select.select([proc.stdout], [], [], timeout)
    if not ready:
        proc.kill()
        raise RuntimeError("the peer printed no port within %.0f s" % timeout)
    line = proc.stdout.readline().decode().strip()
    if not line.isdigit():
        proc.kill()
        raise RuntimeError("the peer printed %r, not a port" % line)
    return proc, int(line)


def connect(port, timeout=10.0):
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s
