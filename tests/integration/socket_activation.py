#!/usr/bin/env python3
"""File: tests/integration/socket_activation.py

otpnet-echo started as systemd starts a socket-activated service: the test
plays systemd, holding a listening socket on 127.0.0.1 and passing it as
descriptor 3 with LISTEN_PID (the child's own pid, set by `sh -c 'exec'`),
LISTEN_FDS and LISTEN_FDNAMES. Checked:
  - the server accepts on the passed socket and says so ("from systemd");
  - a restart loses no client: while no instance runs, a client connects
    and sends a frame (the kernel queues it on the held socket); the next
    instance answers it; and while an old instance drains, a new one serves
    the clients that come;
  - a LISTEN_PID of another process is ignored (the server binds its own);
  - a passed socket that does not listen is one line and a non-zero exit;
  - with two sockets, the one named "admin" (FileDescriptorName=admin)
    serves the admin endpoint and the other the echo service;
  - a passed socket shut down under the server (it no longer listens)
    ends the application, and the server exits 1.
Loopback only; every wait bounded; children ended by their pids.

  python3 socket_activation.py --echo PATH
"""

import argparse
import http.client
import os
import re
import signal
import socket
import struct
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "support"))
from bounded import BOUND, read_exact, stop, wait_until  # noqa: E402


def fd_open(n):
    try:
        os.fstat(n)
        return True
    except OSError:
        return False


class instance:
    """otpnet-echo with `socks` ((socket, name) pairs; one socket: named
    "echo") as descriptors 3, 4, ... and the activation variables."""

    def __init__(self, echo, socks, work, tag, listen_pid=None, extra=()):
        if not isinstance(socks, list):
            socks = [(socks, "echo")]
        self.out_path = os.path.join(work, tag + ".out")
        self.out = open(self.out_path, "w")
        env = {k: v for k, v in os.environ.items() if not k.startswith("OTPNET_") and not k.startswith("LISTEN_")}
        env["LISTEN_FDS"] = str(len(socks))
        env["LISTEN_FDNAMES"] = ":".join(name for _, name in socks)
        # Each socket at a free number above the targets first (the shell
        # takes single digits only); the shell moves them to 3, 4, ... and
        # puts its own pid, which exec keeps, in LISTEN_PID: as systemd does
        # after its fork.
        free = [n for n in range(3 + len(socks), 10) if not fd_open(n)]
        if len(free) < len(socks):
            raise OSError("no free descriptor numbers below 10 to pass the sockets from")
        high = [os.dup2(sock.fileno(), free[i], inheritable=False) for i, (sock, _) in enumerate(socks)]
        move = "".join("exec %d<&%d %d<&-; " % (3 + i, fd, fd) for i, fd in enumerate(high))
        pid_part = "LISTEN_PID=$$" if listen_pid is None else "LISTEN_PID=%d" % listen_pid
        try:
            self.proc = subprocess.Popen(
                ["sh", "-c", move + 'export %s; exec "$0" "$@"' % pid_part, echo, "--bind", "127.0.0.1", "--port",
                 "0", "--drain-timeout", "20s"] + list(extra),
                stdout=self.out, stderr=subprocess.STDOUT, env=env, pass_fds=tuple(high))
        finally:
            for fd in high:
                os.close(fd)
            self.out.close()  # (the child has its own; text() reads the file)

    def text(self):
        return open(self.out_path).read()

    def wait_line(self, needle):
        wait_until(lambda: needle in self.text() or self.proc.poll() is not None, "'%s'" % needle)
        if needle not in self.text():
            raise AssertionError("no '%s'; it said:\n%s" % (needle, self.text()))

    def stop(self):
        stop(self.proc)


def frame(body):
    return struct.pack(">H", len(body)) + body


def read_frame(s):
    (n,) = struct.unpack(">H", read_exact(s, 2))
    return read_exact(s, n)


def connect(port):
    s = socket.create_connection(("127.0.0.1", port), timeout=BOUND)
    return s


def echo_ok(s, body):
    s.sendall(frame(body))
    got = read_frame(s)
    if got != body:
        raise AssertionError("sent %r, got %r" % (body, got))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--echo", required=True)
    args = ap.parse_args()
    work = tempfile.mkdtemp(prefix="otpnet-activation-")
    held = socket.socket()
    held.bind(("127.0.0.1", 0))
    held.listen(64)
    port = held.getsockname()[1]
    running = []
    try:
        # 1. Served on the passed socket.
        a = instance(args.echo, held, work, "a")
        running.append(a)
        a.wait_line("listening on 127.0.0.1:%d (from systemd)" % port)
        c1 = connect(port)
        echo_ok(c1, b"first")

        # 2. A restart with no instance running: the client that comes in
        # between waits in the backlog and is answered by the next one.
        c1.close()
        a.stop()
        if a.proc.returncode != 0:
            raise AssertionError("a: exit %s\n%s" % (a.proc.returncode, a.text()))
        between = connect(port)
        between.sendall(frame(b"between"))
        b = instance(args.echo, held, work, "b")
        running.append(b)
        b.wait_line("(from systemd)")
        between.settimeout(BOUND)
        if read_frame(between) != b"between":
            raise AssertionError("the client that came between instances was not answered")

        # 3. An old instance draining while the new one serves.
        old = connect(port)
        echo_ok(old, b"old")  # (b serves it)
        c = instance(args.echo, held, work, "c")
        running.append(c)
        c.wait_line("(from systemd)")
        b.proc.send_signal(signal.SIGTERM)
        b.wait_line("draining")
        for i in range(5):
            s = connect(port)
            echo_ok(s, b"new %d" % i)  # c serves them while b drains
            s.close()
        echo_ok(old, b"still")  # b finishes what it has
        old.close()
        between.close()  # b's other client: its drain then ends at once
        b.proc.wait(timeout=BOUND)
        # (The "draining" line comes just before b closes its descriptor: a
        # new client may still land on b then, and be served by it.)
        if not re.search(r"drained: [2-7] finished, 0 stopped", b.text()):
            raise AssertionError("b's drain:\n" + b.text())

        # 4. LISTEN_PID of another process: ignored, the server binds its own.
        d = instance(args.echo, held, work, "d", listen_pid=1)
        running.append(d)
        d.wait_line("listening on 127.0.0.1:")
        if "from systemd" in d.text():
            raise AssertionError("took sockets meant for another process:\n" + d.text())
        d.stop()

        # 5. A passed socket that does not listen.
        plain = socket.socket()
        e = instance(args.echo, plain, work, "e")
        running.append(e)
        e.proc.wait(timeout=BOUND)
        if e.proc.returncode == 0 or "does not listen" not in e.text():
            raise AssertionError("a socket that does not listen: exit %s\n%s" % (e.proc.returncode, e.text()))
        plain.close()

        # 6. Two sockets: the one named "admin" is the admin endpoint's
        # (c, still serving the held socket, ends first: f alone serves it).
        c.stop()
        if c.proc.returncode != 0:
            raise AssertionError("c: exit %s\n%s" % (c.proc.returncode, c.text()))
        admin = socket.socket()
        admin.bind(("127.0.0.1", 0))
        admin.listen(16)
        admin_port = admin.getsockname()[1]
        f = instance(args.echo, [(held, "echo"), (admin, "admin")], work, "f")
        running.append(f)
        f.wait_line("admin on 127.0.0.1:%d (from systemd)" % admin_port)
        f.wait_line("listening on 127.0.0.1:%d (from systemd)" % port)
        served = connect(port)
        echo_ok(served, b"beside the admin socket")
        served.close()
        web = http.client.HTTPConnection("127.0.0.1", admin_port, timeout=BOUND)
        web.request("GET", "/healthz")
        r = web.getresponse()
        body = r.read()
        web.close()
        if r.status != 200:
            raise AssertionError("/healthz on the admin socket: %d %r" % (r.status, body))
        f.stop()
        if f.proc.returncode != 0:
            raise AssertionError("f: exit %s\n%s" % (f.proc.returncode, f.text()))
        admin.close()

        # 7. The passed socket shut down under the server (its manager's
        # copy): it no longer listens, the listener ends, its restarts fail
        # on the same socket, the top supervisor gives up, and the server
        # exits 1 for its manager to restart it (it lived on, accepting
        # nothing).
        doomed = socket.socket()
        doomed.bind(("127.0.0.1", 0))
        doomed.listen(16)
        g = instance(args.echo, doomed, work, "g")
        running.append(g)
        g.wait_line("(from systemd)")
        doomed.shutdown(socket.SHUT_RD)
        g.proc.wait(timeout=BOUND)
        if g.proc.returncode != 1 or "no longer listens" not in g.text() or \
                "the application tcp_server ended" not in g.text():
            raise AssertionError("a listen socket shut down under the server: exit %s\n%s" %
                                 (g.proc.returncode, g.text()))
        doomed.close()
        print("ok: served on the passed socket, no client lost across restarts, the admin socket by its name, "
              "an exit when the socket no longer listens")
        return 0
    except (AssertionError, OSError) as err:
        print("FAILED:", err)
        for r in running:
            print("-- %s --\n%s" % (r.out_path, r.text()))
        return 1
    finally:
        for r in running:
            r.stop()
        held.close()


if __name__ == "__main__":
    sys.exit(main())
