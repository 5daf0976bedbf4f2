#!/usr/bin/env bash
# Include-graph and errno checks (STYLE.md rules 1 and 13).
#
# 1. A layer includes only itself and the layers before it in
#      base, net, socket, reactor, runtime, behaviours, gen_tcp, tls, listener, observe
#    Checked for every file under include/otpnet/<layer>/ and src/<layer>/
#    (tests beside the code included), whichever way the include is spelled:
#    <otpnet/L/x.hpp>, "otpnet/L/x.hpp", <L/x.hpp> or "L/x.hpp" naming a file
#    under src/L/ (src/ is every layer's private include root, so CMake cannot
#    see those), or a relative "../L/x.hpp". src/internal/ (shared private
#    helpers) may be included by any layer. tests/, apps/, examples/, tools/,
#    bench/ and fuzz/ may include anything.
# 2. Only src/internal/syscall.hpp reads errno: no other file under src/ or
#    include/ (tests excepted) uses the identifier `errno` outside comments and
#    string literals.
set -euo pipefail
# shellcheck source=scripts/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

python3 - "$OTPNET_ROOT" <<'PY'
import os, re, sys

root = sys.argv[1]
order = ["base", "net", "socket", "reactor", "runtime", "behaviours", "gen_tcp", "tls", "listener", "observe"]
rank = {name: i for i, name in enumerate(order)}
include_re = re.compile(r'^\s*#\s*include\s*([<"])([^>"]+)[>"]', re.M)
problems = []

def rel(p):
    return os.path.relpath(p, root)

def layer_of_path(path):
    """The layer a file under include/otpnet/L/ or src/L/ belongs to, or None."""
    parts = rel(os.path.realpath(path)).split(os.sep)
    if len(parts) >= 3 and parts[0] == "include" and parts[1] == "otpnet":
        return parts[2]
    if len(parts) >= 2 and parts[0] == "src":
        return parts[1]
    return None

def included_layer(kind, name, includer):
    """The layer an include directive names, or None (system, third-party, internal)."""
    parts = name.split("/")
    if parts[0] == "otpnet" and len(parts) >= 3:
        return parts[1]
    if kind == '"':
        local = os.path.normpath(os.path.join(os.path.dirname(includer), name))
        if os.path.exists(local):
            return layer_of_path(local)
    if len(parts) >= 2 and parts[0] in rank and os.path.exists(os.path.join(root, "src", name)):
        return parts[0]
    return None

def strip_comments_and_strings(text):
    pattern = re.compile(r'//[^\n]*|/\*.*?\*/|"(?:\\.|[^"\\\n])*"|\'(?:\\.|[^\'\\\n])*\'', re.S)
    # Keep the newlines, so that line numbers stay right.
    return pattern.sub(lambda m: "\n" * m.group(0).count("\n") if m.group(0)[0] == "/" else '""', text)

def sources(top):
    for dirpath, _, files in os.walk(os.path.join(root, top)):
        for f in sorted(files):
            if f.endswith((".hpp", ".cpp", ".h", ".cc", ".ipp")):
                yield os.path.join(dirpath, f)

# 1. Include graph.
for top in ("include/otpnet", "src"):
    for path in sources(top):
        own = layer_of_path(path)
        if own not in rank:
            continue  # src/internal and anything that is not a layer
        text = open(path, encoding="utf-8", errors="replace").read()
        for m in include_re.finditer(text):
            other = included_layer(m.group(1), m.group(2), path)
            if other is None or other == own or other == "internal":
                continue
            line = text.count("\n", 0, m.start()) + 1
            if other not in rank:
                problems.append(f"{rel(path)}:{line}: includes {m.group(2)} of unknown layer '{other}'")
            elif rank[other] > rank[own]:
                problems.append(f"{rel(path)}:{line}: layer '{own}' includes {m.group(2)} "
                                f"of layer '{other}', which comes after it (order: {', '.join(order)})")

# 2. errno outside the funnel.
errno_re = re.compile(r'\b(errno|__errno_location)\b')
allowed = {os.path.join("src", "internal", "syscall.hpp")}
for top in ("include", "src"):
    for path in sources(top):
        r = rel(path)
        if r in allowed or ".test." in os.path.basename(path):
            continue
        text = strip_comments_and_strings(open(path, encoding="utf-8", errors="replace").read())
        for i, l in enumerate(text.split("\n"), 1):
            if errno_re.search(l):
                problems.append(f"{r}:{i}: uses errno; only src/internal/syscall.hpp may read it (STYLE.md rule 13)")

if problems:
    print("\n".join(problems))
    print(f"[otpnet] FAILED: layer check: {len(problems)} problem(s)", file=sys.stderr)
    sys.exit(1)
print("[otpnet] layers: include graph follows " + " < ".join(order) + "; errno read only in src/internal/syscall.hpp")
PY
