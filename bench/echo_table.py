"""The table of bench/run (bench/RESULTS-echo.md) from one run's raw results.

Called by bench/run after its runs, and by `bench/run --render DIR` to write
the table again from DIR (build/bench-echo/<date>/: machine.txt, runs.tsv and
one JSON document per run) without running anything.

    python3 bench/echo_table.py RUNDIR OUT.md
"""
import json
import os
import statistics
import sys

rundir, out = sys.argv[1:]
m = dict(l.split("=", 1) for l in open(f"{rundir}/machine.txt").read().splitlines() if "=" in l)
servers = m["servers"].split()
missing = set(m["missing"].split())
scenarios = m["scenarios"].split()
runs = {}  # (scenario, server) -> [(round, doc or None, exit status)]
for line in open(f"{rundir}/runs.tsv").read().splitlines():
    rnd, scen, srv, rc, path = line.split("\t")
    if not os.path.exists(path):  # a run directory moved or copied since: its own file
        path = os.path.join(rundir, os.path.basename(path))
    try:
        doc = json.load(open(path))
    except (OSError, ValueError):
        doc = None
    runs.setdefault((scen, srv), []).append((int(rnd), doc, rc))

def good(doc, rc):
    return doc is not None and rc == "0" and doc.get("ok")

def server_field(name):
    return lambda d: (d.get("server") or {}).get(name)

throughput = lambda d: d["throughput"]
cpu = server_field("cpu_us_per_msg")
p99 = lambda d: d["latency_us"]["p99"]
rss = server_field("rss_per_conn_bytes")
held = lambda d: d["connections"]["idle_ready"]
sutil = server_field("cpu_util")
cutil = lambda d: d["client"]["cpu_util"]
ccpu = lambda d: d["client"]["cpu_us_per_msg"]

def by_round(scen, srv, f):
    out = {}
    for rnd, doc, rc in runs.get((scen, srv), []):
        if good(doc, rc) and f(doc) is not None:
            out[rnd] = f(doc)
    return out

def median(scen, srv, f):
    v = list(by_round(scen, srv, f).values())
    return statistics.median(v) if v else None

def ratio(scen, srv, f):
    """Median over rounds of srv / epoll measured in the same round."""
    a, b = by_round(scen, srv, f), by_round(scen, "epoll", f)
    r = [a[k] / b[k] for k in a if k in b and b[k]]
    return statistics.median(r) if r else None

def cell(scen, srv, f, fmt):
    if srv in missing:
        return "—"
    if not runs.get((scen, srv)):
        return "—"
    v = median(scen, srv, f)
    return "failed" if v is None else fmt(v)

f_int = lambda v: f"{v:,.0f}"
f_cpu = lambda v: f"{v:.2f}"
f_lat = lambda v: f"{v:,.0f}" if v >= 100 else f"{v:.1f}"
f_ratio = lambda v: f"{v:.2f}x"

idle_n = m["idle_conns"]
rows = {
    "pingpong": ("ping-pong, 100 connections", [
        ("throughput (msg/s)", throughput, f_int), ("server CPU (us/msg)", cpu, f_cpu),
        ("p99 round trip (us)", p99, f_lat)]),
    "pipeline": ("pipeline, 100 x 16 in flight", [
        ("throughput (msg/s)", throughput, f_int), ("server CPU (us/msg)", cpu, f_cpu),
        ("p99 round trip (us)", p99, f_lat)]),
    "connrate": ("connect + echo + close, 50 at once", [
        ("throughput (conn/s)", throughput, f_int), ("server CPU (us/conn)", cpu, f_cpu),
        ("p99 connect+echo (us)", p99, f_lat)]),
    "churn": (f"connect + echo + close, 50 at once, beside {int(idle_n):,} idle", [
        ("throughput (conn/s)", throughput, f_int), ("server CPU (us/conn)", cpu, f_cpu),
        ("p99 connect+echo (us)", p99, f_lat)]),
    "idle": (f"idle, {int(idle_n):,} connections", [
        ("server RSS growth per connection (B)", rss, f_int), ("connections held", held, f_int)]),
}

L = []
L.append("# Echo servers side by side")
L.append("")
L.append("Written by `bench/run` (method: [docs/performance.md](../docs/performance.md)); do not edit by hand. "
         "64-byte payloads in `{packet,2}` frames over loopback, every echoed byte verified by `otpnet-loadgen`. "
         f"Each server runs pinned to core {m['cores'].split('/')[0]} and the load generator to core "
         f"{m['cores'].split('/')[1]}; every figure is the median over the rounds, and a ratio is the median of the "
         "ratios taken round by round against `epoll_echo` (the two were measured minutes apart at most). "
         "Server CPU is user + system time from /proc/PID/stat over the measured window, divided by the "
         "messages (or connections) completed in it; it is the figure that holds when the load generator's core, "
         "not the server's, is the bottleneck. Only ratios within one run are comparable: absolute figures "
         "move 25-45 % between runs on this kind of machine.")
L.append("")
if m["quick"] == "1":
    L.append(f"**Quick run** (`bench/run --quick`): {m['rounds']} round of {float(m['warmup']) + float(m['duration']):g} s "
             "per server and scenario. Indicative only; the full run (`bench/run`, 3 rounds of 9 s) is the reference.")
    L.append("")
L.append("## Machine and run")
L.append("")
L.append(f"- CPU: {m['cpu']}, {m['nproc']} cores (nproc)")
L.append(f"- Kernel: Linux {m['kernel']}")
L.append(f"- Compilers: {m['cxx']}; {m['cc']} (peers built -O2; otpnet RelWithDebInfo)")
L.append(f"- Runtimes and libraries: Erlang/{m['erlang']}; Node.js {m['node']}; {m['libs']}")
L.append(f"- Run: {m['date']}, commit {m['commit']}; {m['rounds']} round(s) x {m['duration']} s measured after "
         f"{m['warmup']} s warm-up per server and scenario, server order rotated each round; "
         f"{m['elapsed']} s of runs" + (f"; nice {m['nice']}" if m["nice"] != "0" else ""))
L.append(f"- Load average (1, 5, 15 min) at start -> end: {m['load']}" +
         (" (other jobs share this machine: CPU time per message is the robust figure)"
          if float(m["load"].split()[0]) > 1.0 else ""))
L.append(f"- Raw results: `{m['rundir']}/` (one JSON document per run, server logs)")
L.append("")

present = [s for s in servers]
L.append("## Medians")
L.append("")
hdr = "| scenario | metric | " + " | ".join(present) + " | otpnet / epoll |"
L.append(hdr)
L.append("|---|---|" + "---:|" * len(present) + "---:|")
for scen in scenarios:
    title, metrics = rows[scen]
    for i, (name, f, fmt) in enumerate(metrics):
        r = ratio(scen, "otpnet", f) if "otpnet" in present and "otpnet" not in missing else None
        if f is rss:  # epoll_echo keeps (next to) no memory per connection: no ratio to take
            r = None
        rc = f_ratio(r) if r is not None else "n/a"
        L.append(f"| {title if i == 0 else ''} | {name} | " +
                 " | ".join(cell(scen, s, f, fmt) for s in present) + f" | {rc} |")
L.append("")
L.append("`—`: not run (the server is not available here); `failed`: no run of it succeeded (see the notes).")
L.append("")

others = [s for s in present if s != "epoll"]
if "epoll" in present and others:
    L.append("## Ratios to epoll_echo (same round, median)")
    L.append("")
    L.append("Above 1 is more throughput, more CPU per message or more latency than `epoll_echo`.")
    L.append("")
    L.append("| scenario | metric | " + " | ".join(others) + " |")
    L.append("|---|---|" + "---:|" * len(others))
    for scen in scenarios:
        if scen == "idle":  # epoll_echo keeps no memory per connection: no ratio to take
            continue
        title, metrics = rows[scen]
        for i, (name, f, fmt) in enumerate(metrics):
            cells = []
            for s in others:
                r = ratio(scen, s, f) if s not in missing else None
                cells.append(f_ratio(r) if r is not None else "—")
            L.append(f"| {title if i == 0 else ''} | {name} | " + " | ".join(cells) + " |")
    L.append("")

def pair_rows(L, traffic, fa, fb, fmt):
    """A table of one row per scenario: per server, the medians of fa and fb as fmt(a, b)."""
    L.append("| scenario | " + " | ".join(present) + " |")
    L.append("|---|" + "---:|" * len(present))
    for scen in traffic:
        cells = []
        for s in present:
            a, b = median(scen, s, fa), median(scen, s, fb)
            cells.append("—" if a is None or b is None else fmt(a, b))
        L.append(f"| {rows[scen][0]} | " + " | ".join(cells) + " |")
    L.append("")


traffic = [s for s in scenarios if s != "idle"]
if traffic:
    L.append("## Which core saturated")
    L.append("")
    L.append("CPU use over the measured window, in % of one core: server / load generator (medians). A load "
             "generator near 100 % means the row's throughput is the load generator's limit, not the server's.")
    L.append("")
    pair_rows(L, traffic, sutil, cutil, lambda a, b: f"{100 * a:.0f} / {100 * b:.0f}")
    L.append("CPU time per message (connrate: per connection), server / load generator, in us (medians). Where "
             "the load generator's figure is the larger, its core saturates first on a 2-core machine, and the "
             "server's throughput there is bounded by the load generator.")
    L.append("")
    pair_rows(L, traffic, cpu, ccpu, lambda a, b: f"{a:.2f} / {b:.2f}")
    ref = "epoll" if "epoll" in present else present[0]
    busiest = max((max(median(sc, ref, sutil) or 0, median(sc, ref, cutil) or 0) for sc in traffic), default=0)
    if busiest and busiest < 0.7:
        L.append(f"Neither core came near saturation with `{ref}` (at most {100 * busiest:.0f} % of a core): "
                 "other jobs were taking the CPUs (see the load average), so throughput and latency here measure "
                 "the contention as much as the servers. Read the CPU time per message, which contention inflates "
                 "far less.")
        L.append("")

notes = []
if missing:
    notes.append("Not available on this machine, so not run: " + ", ".join(sorted(missing)) +
                 (" (otpnet-echo is not built yet)" if "otpnet" in missing else "") + ".")
if m["idle_note"]:
    notes.append(m["idle_note"][0].upper() + m["idle_note"][1:] + ".")
if m["incomplete"]:
    notes.append("The run was cut short: " + m["incomplete"] + ".")
for (scen, srv), lst in sorted(runs.items()):
    for rnd, doc, rc in lst:
        if good(doc, rc):
            continue
        if rc == "98":
            why = "the idle connections of churn were not held for the whole run"
        elif doc is None:
            why = "the server did not start listening" if rc == "no-listen" else f"no result (exit {rc})"
        else:
            why = f"exit {rc}, {doc['errors']} error(s) {json.dumps(doc['error_kinds'])}"
            if doc.get("error_samples"):
                why += f"; first: {doc['error_samples'][0]}"
            if doc.get("fatal"):
                why += f"; fatal: {doc['fatal']}"
        notes.append(f"{scen} / {srv} / round {rnd} failed: {why}.")
if notes:
    L.append("## Notes")
    L.append("")
    L.extend(f"- {n}" for n in notes)
    L.append("")
open(out, "w").write("\n".join(L))
