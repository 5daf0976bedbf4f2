"""File: tests/support/bounded.py

What the Python test scripts share: waits bounded in time, exact reads,
and ending a child process by its pid. Each script puts this folder on
sys.path (it lives beside the C++ test support).
"""

import signal
import subprocess
import time

BOUND = 20.0  # seconds for anything that must happen


def wait_until(pred, what, bound=BOUND):
    """Polls `pred` until it holds; AssertionError naming `what` after `bound` seconds."""
    end = time.monotonic() + bound
    while time.monotonic() < end:
        if pred():
            return
        time.sleep(0.02)
    raise AssertionError("timed out waiting for " + what)


def read_exact(s, n):
    """Exactly `n` bytes from socket `s` (its own timeout bounds each read)."""
    out = b""
    while len(out) < n:
        chunk = s.recv(n - len(out))
        if not chunk:
            raise AssertionError("connection closed after %d of %d bytes" % (len(out), n))
        out += chunk
    return out


def stop(proc, bound=BOUND):
    """SIGTERM to `proc` (by its pid), then SIGKILL if it has not ended within `bound`."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=bound)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
