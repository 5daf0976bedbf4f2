#!/usr/bin/env python3
# File: tools/loadgen/loadgen_test.py
#
# The ctest checks of otpnet-loadgen (LABELS tools): each starts its own
# otpnet-loadgen-echo, runs the loadgen against it for about a second per
# case, and checks the exit status and the JSON document.
#   loadgen_test.py CASE LOADGEN ECHO
# CASE: modes | framings | idle | detects_corruption | refuses_remote
import json
import os
import socket
import subprocess
import sys
import tempfile


class Echo:
    """otpnet-loadgen-echo, started here and ended by its pid."""

    def __init__(self, exe, *args):
        self.proc = subprocess.Popen([exe, *args], stdout=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline().strip()
        assert line.startswith("listening on "), f"echo helper said {line!r}"
        self.where = line[len("listening on "):]

    @property
    def port(self):
        return self.where.rsplit(":", 1)[1]

    def stop(self):
        self.proc.terminate()
        self.proc.wait(timeout=10)


def loadgen(exe, *args, expect_rc=0):
    cmd = [exe, "--json", "--quiet", *args]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=50)
    if p.returncode != expect_rc:
        sys.stderr.write(p.stderr)
        raise AssertionError(f"{' '.join(cmd)}: exit {p.returncode}, expected {expect_rc}")
    return json.loads(p.stdout) if p.stdout.strip() else None, p.stderr


def check_clean(doc, what):
    assert doc["ok"], f"{what}: not ok: {doc}"
    assert doc["errors"] == 0, f"{what}: errors {doc['error_kinds']} {doc['error_samples']}"
    assert doc["messages"] > 0, f"{what}: nothing measured"
    assert doc["latency_us"]["count"] > 0 and doc["latency_us"]["p50"] > 0, f"{what}: no latency"
    assert doc["latency_us"]["p50"] <= doc["latency_us"]["p99"] <= doc["latency_us"]["max"], doc["latency_us"]
    print(f"{what}: {doc['throughput']:.0f} {doc['throughput_unit']}, p99 {doc['latency_us']['p99']:.1f} us, "
          f"errors {doc['errors']}")


def case_modes(lg, echo_exe):
    echo = Echo(echo_exe)
    try:
        common = ["--port", echo.port, "--duration", "1s", "--warmup", "200ms", "--server-pid", str(echo.proc.pid)]
        for mode, extra in (("pingpong", ["--connections", "20"]),
                            ("pipeline", ["--connections", "20", "--depth", "8"]),
                            ("connrate", ["--connections", "8"])):
            doc, _ = loadgen(lg, "--mode", mode, *extra, *common)
            check_clean(doc, mode)
            assert doc["config"]["mode"] == mode
            server = doc["server"]
            assert server is not None and server["pid"] == echo.proc.pid, server
            assert server["cpu_s"] is not None and server["cpu_us_per_msg"] is not None, server
            assert server["rss_kib"] and server["rss_kib"] > 0, server
            if mode == "connrate":
                assert doc["connections"]["connects_established"] >= doc["messages"], doc["connections"]
    finally:
        echo.stop()


def case_framings(lg, echo_exe):
    echo = Echo(echo_exe)
    try:
        for framing, size in (("line", "100"), ("raw", "33"), ("packet2", "1000")):
            doc, _ = loadgen(lg, "--port", echo.port, "--mode", "pipeline", "--connections", "10", "--depth", "4",
                             "--framing", framing, "--size", size, "--duration", "1s", "--warmup", "100ms")
            check_clean(doc, f"pipeline/{framing}/{size}")
        doc, _ = loadgen(lg, "--port", echo.port, "--connections", "10", "--threads", "2", "--duration", "1s",
                         "--warmup", "100ms")
        check_clean(doc, "pingpong/2 threads")
    finally:
        echo.stop()
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "echo.sock")
        echo = Echo(echo_exe, "--unix", path)
        try:
            doc, _ = loadgen(lg, "--host", path, "--connections", "10", "--duration", "1s", "--warmup", "100ms")
            check_clean(doc, "pingpong/local socket")
            assert doc["config"]["target"] == path, doc["config"]
        finally:
            echo.stop()


def case_idle(lg, echo_exe):
    echo = Echo(echo_exe)
    try:
        doc, _ = loadgen(lg, "--port", echo.port, "--mode", "idle", "--connections", "500", "--duration", "20s",
                         "--warmup", "200ms", "--server-pid", str(echo.proc.pid))
        assert doc["ok"] and doc["errors"] == 0, doc
        assert doc["connections"]["idle_ready"] == 500, doc["connections"]
        server = doc["server"]
        assert server["rss_before_kib"] and server["rss_after_kib"], server
        assert server["rss_per_conn_bytes"] is not None, server
        print(f"idle: {server['rss_per_conn_bytes']:.0f} bytes per connection")
    finally:
        echo.stop()


def case_detects_corruption(lg, echo_exe):
    echo = Echo(echo_exe, "--corrupt-every", "50")
    try:
        doc, err = loadgen(lg, "--port", echo.port, "--connections", "10", "--duration", "1s", "--warmup", "0",
                           expect_rc=1)
        assert not doc["ok"] and doc["errors"] > 0, doc
        assert doc["error_kinds"]["verify"] + doc["error_kinds"]["framing"] > 0, doc["error_kinds"]
        assert doc["error_samples"], doc
        assert "differs" in err or "echoed frame" in err, err
        print(f"corruption: {doc['error_kinds']}")
    finally:
        echo.stop()


def case_detects_dropped(lg, echo_exe):
    # A server that swallows a frame: its connection stalls (one frame in
    # flight) and the run fails with the frames never echoed, not with a
    # lower throughput only.
    echo = Echo(echo_exe, "--drop-every", "40")
    try:
        doc, err = loadgen(lg, "--port", echo.port, "--connections", "10", "--duration", "1s", "--warmup", "0",
                           expect_rc=1)
        assert not doc["ok"], doc
        assert doc["error_kinds"]["unanswered"] > 0, doc["error_kinds"]
        assert "never echoed" in err, err
        print(f"dropped: {doc['error_kinds']}")
    finally:
        echo.stop()


def case_refuses_remote(lg, echo_exe):
    del echo_exe
    for host in ("10.1.2.3", "0.0.0.0", "192.168.0.1", "localhost", "::2", "example.com"):
        _, err = loadgen(lg, "--host", host, "--port", "7", "--duration", "1s", expect_rc=2)
        assert "refusing" in err, err
    # Nothing listens: every connect fails, the run stops early and fails.
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    doc, err = loadgen(lg, "--port", str(port), "--connections", "5", "--duration", "20s", expect_rc=1)
    assert doc["error_kinds"]["connect"] == 5, doc["error_kinds"]
    assert doc["measured_s"] < 10, doc["measured_s"]
    assert "econnrefused" in err, err


def main():
    case, lg, echo_exe = sys.argv[1:4]
    globals()[f"case_{case}"](lg, echo_exe)
    print(f"{case}: passed")


if __name__ == "__main__":
    main()
