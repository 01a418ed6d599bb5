#!/usr/bin/env python3
"""Figures of the `devenv up` benchmark (benches/up/bench.sh writes the inputs).

    report.py RESULTS_DIR FAKES_SRC SCALE BUILD_PARALLEL

RESULTS_DIR holds plan.json (`devenv plan -o json`) and, for each repetition N:
seq-N.json, up1-N.json, up2-N.json (measure.py results), journal-N.json (the journal after
the first `up`), calls2-N.jsonl (the fakes' call log of the second `up`), world2-N.txt
("same"/"changed": the fake world before and after the second `up`).

Prints the critical-path model, a per-step profile of the first `up`, the Markdown table,
and a verdict per target. Exit status 1 when a target is missed by a lot (more than 20 %
over it, or any mutating command on the second run).
"""
import datetime
import glob
import json
import math
import os
import re
import statistics
import sys

results, fakes_src, scale, parallel = sys.argv[1], sys.argv[2], float(sys.argv[3]), int(sys.argv[4])

TARGET_CP = 1.05  # devenv wall / critical path
TARGET_SEQ = 0.60  # devenv wall / sequential script
TARGET_SECOND_S = 0.30
TARGET_SECOND_CMDS = 6
A_LOT = 1.20  # "missed by a lot": more than 20 % over the target


def const(path, name):
    """A duration constant (ms) from the fakes' source, so the model follows the fakes."""
    text = open(os.path.join(fakes_src, path)).read()
    m = re.search(rf"const {name}: u64 = ([0-9_]+);", text)
    if not m:
        sys.exit(f"report.py: cannot find {name} in {path}")
    return int(m.group(1).replace("_", "")) / 1000.0


CREATE = const("k3d.rs", "CREATE_MS")  # k3d cluster create
CRD = const("kube.rs", "CRD_MS")  # a CRD is Established after
WORKLOAD = const("kube.rs", "WORKLOAD_MS")  # a Deployment rolls out after (operator too)
CALICO = const("kube.rs", "CALICO_MS")  # tigerastatus/calico Available after the Installation
BUILD = const("bin/docker.rs", "BUILD_MS")  # docker build


def modeled_duration(step):
    kind = step["kind"]
    return {
        "cluster": CREATE,
        "calico-crds": CRD,
        "calico-operator": WORKLOAD,
        "calico-ready": CALICO,
        "image": BUILD,
        "overlay": WORKLOAD,
    }.get(kind, 0.0)


def schedule(steps):
    """Earliest start/end of every step (unscaled seconds) with builds limited to
    `parallel` at once: the plan's critical path is the latest end."""
    by_id = {s["id"]: s for s in steps}
    end, start = {}, {}
    slots = [0.0] * max(parallel, 1)
    # Steps come in plan order, which is a topological order; builds take the earliest slot.
    for s in steps:
        ready = max((end[n] for n in s["needs"] if n in by_id), default=0.0)
        if s["kind"] == "image":
            i = min(range(len(slots)), key=lambda k: slots[k])
            ready = max(ready, slots[i])
            slots[i] = ready + modeled_duration(s)
        start[s["id"]] = ready
        end[s["id"]] = ready + modeled_duration(s)
    return start, end


def critical_chain(steps, end):
    by_id = {s["id"]: s for s in steps}
    last = max(end, key=end.get)
    chain = [last]
    while True:
        needs = [n for n in by_id[chain[-1]]["needs"] if n in end]
        if not needs:
            break
        chain.append(max(needs, key=lambda n: end[n]))
    return list(reversed(chain))


plan = json.load(open(os.path.join(results, "plan.json")))
steps = plan["steps"]
start_m, end_m = schedule(steps)
cp = max(end_m.values())
chain = critical_chain(steps, end_m)
n_images = sum(1 for s in steps if s["kind"] == "image")
depth = {}
for s in steps:  # plan order is topological
    if s["kind"] == "overlay":
        depth[s["id"]] = 1 + max((depth[n] for n in s["needs"] if n in depth), default=0)
overlay_depth = max(depth.values(), default=0)
builds = math.ceil(n_images / max(parallel, 1)) * BUILD
# The sequential script: every wait in turn; its three rollouts run at once (applied together).
seq_model = CREATE + CRD + WORKLOAD + CALICO + n_images * BUILD + WORKLOAD

runs = sorted(int(re.search(r"-(\d+)\.json$", p).group(1)) for p in glob.glob(os.path.join(results, "up1-*.json")))
if not runs:
    sys.exit("report.py: no runs")


def load(name, n):
    return json.load(open(os.path.join(results, f"{name}-{n}.json")))


up1 = [load("up1", n) for n in runs]
up2 = [load("up2", n) for n in runs]
seq = [load("seq", n) for n in runs]
med = lambda xs: statistics.median(xs)

for name, rs in (("first devenv up", up1), ("second devenv up", up2), ("sequential script", seq)):
    bad = [r for r in rs if r["exit"] != 0]
    if bad:
        sys.exit(f"report.py: the {name} failed (exit {bad[0]['exit']}); see the logs")

MUTATING = {
    "k3d": lambda w: (w[:1] == ["cluster"] and w[1:2] and w[1] in ("create", "delete", "start", "stop", "edit"))
    or (w[:1] == ["registry"] and w[1:2] and w[1] in ("create", "delete"))
    or (w[:1] == ["node"] and w[1:2] and w[1] in ("create", "delete", "start", "stop", "edit"))
    or (w[:1] == ["kubeconfig"] and w[1:2] and w[1] in ("merge", "write"))
    or (w[:1] == ["image"] and w[1:2] and w[1] in ("import", "load")),
    "kubectl": lambda w: "kustomize" not in w
    and (any(x in w for x in ("apply", "delete", "create", "patch", "replace", "label", "annotate", "scale", "set", "edit", "taint", "cordon", "drain"))
         or ("rollout" in w and any(x in w for x in ("restart", "undo", "pause", "resume")))),
    "docker": lambda w: w[:1] and w[0] in ("build", "push", "tag", "rmi", "run", "rm", "create", "pull", "load", "image", "builder"),
}


def words(argv):
    """Positional words of an argv (flag values dropped where the flag takes one)."""
    out, skip = [], False
    for a in argv:
        if skip:
            skip = False
            continue
        if a.startswith("-"):
            skip = "=" not in a and a in ("--kubeconfig", "--context", "-n", "--namespace", "-o", "--output", "-f", "--format", "--timeout")
            continue
        out.append(a)
    return out


calls2 = []
for n in runs:
    path = os.path.join(results, f"calls2-{n}.jsonl")
    calls2.append([json.loads(l) for l in open(path) if l.strip()] if os.path.exists(path) else [])
mutating2 = [[c for c in cs if MUTATING.get(c["tool"], lambda w: True)(words(c["argv"]))] for cs in calls2]
world_changed = [open(os.path.join(results, f"world2-{n}.txt")).read().strip() != "same" for n in runs]

wall1 = med([r["wall_s"] for r in up1])
wall2 = med([r["wall_s"] for r in up2])
wall_seq = med([r["wall_s"] for r in seq])
cp_s = cp * scale
ratio_cp = wall1 / cp_s
ratio_seq = wall1 / wall_seq
cmds2 = max(len(cs) for cs in calls2)
n_mut = max(len(m) for m in mutating2)

# ---------------------------------------------------------------------------------------
print(f"\n## Model (fake durations x S, S = {scale:g}; build.parallel = {parallel})\n")
print(f"fake durations (fakes/src): cluster create {CREATE:g} s, CRD Established {CRD:g} s, operator/overlay rollout {WORKLOAD:g} s, Calico Available {CALICO:g} s after the Installation, docker build {BUILD:g} s")
print("critical path = max(cluster + CRDs + operator + Calico, ceil(images / build.parallel) x build) + longest depends_on chain x rollout")
print(f"              = max({CREATE:g} + {CRD:g} + {WORKLOAD:g} + {CALICO:g}, ceil({n_images}/{parallel}) x {BUILD:g}) + {int(overlay_depth)} x {WORKLOAD:g} = {cp:g} s -> x S = {cp_s:.3f} s")
print(f"              (computed on the plan's step graph; chain: {' -> '.join(chain)})")
print(f"sequential    = {CREATE:g} + {CRD:g} + {WORKLOAD:g} + {CALICO:g} + {n_images} x {BUILD:g} + {WORKLOAD:g} (its rollouts overlap) = {seq_model:g} s -> x S = {seq_model * scale:.3f} s")
print(f"best possible devenv/sequential = critical path / sequential = {cp / seq_model:.3f}")

# Per-step profile of the first `up` of the median run.
mid = sorted(range(len(runs)), key=lambda i: up1[i]["wall_s"])[len(runs) // 2]
journal = json.load(open(os.path.join(results, f"journal-{runs[mid]}.json")))
ts = lambda s: datetime.datetime.strptime(s, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=datetime.timezone.utc).timestamp()
t0 = up1[mid]["start_unix_ms"] / 1000.0
print(f"\n## Profile of the first `up` (run {runs[mid]}: {up1[mid]['wall_s']:.3f} s; times from process start, from .devenv/state.json)\n")
print("| step | modeled start | start | waited after its needs | modeled | took | over model |")
print("|---|---:|---:|---:|---:|---:|---:|")
actual = {}
for s in steps:
    r = journal["steps"].get(s["id"], {})
    if "started_at" in r and "finished_at" in r:
        actual[s["id"]] = (ts(r["started_at"]) - t0, ts(r["finished_at"]) - t0)
for s in steps:
    if s["id"] not in actual:
        continue
    a0, a1 = actual[s["id"]]
    needs_end = max((actual[n][1] for n in s["needs"] if n in actual), default=0.0)
    m = modeled_duration(s) * scale
    print(f"| {s['id']} | {start_m[s['id']] * scale:.3f} | {a0:.3f} | {(a0 - needs_end) * 1000:.0f} ms | {m:.3f} | {a1 - a0:.3f} | {(a1 - a0 - m) * 1000:+.0f} ms |")
last_end = max(e for _, e in actual.values()) if actual else 0
first_start = min(b for b, _ in actual.values()) if actual else 0
print("\n(an image step starts with its registry look-up, then waits for a build slot: its time includes that wait)")
print(f"before the first step (config, fingerprints, plan, files): {first_start * 1000:.0f} ms; after the last step (summary, exit): {(up1[mid]['wall_s'] - last_end) * 1000:.0f} ms")

# Rendering (`kubectl kustomize`) inside overlay steps: from the render to the step's apply.
calls1 = [json.loads(l) for l in open(os.path.join(results, f"calls1-{runs[mid]}.jsonl")) if l.strip()]
render_ms = {}
for s in steps:
    if s["kind"] != "overlay":
        continue
    name = s["id"].split(":", 1)[1]
    k = next((c["ts_ms"] for c in calls1 if c["argv"][:1] == ["kustomize"] and c["argv"][-1].rstrip("/").endswith(f"overlays/{name}")), None)
    a = next((c["ts_ms"] for c in calls1 if "apply" in c["argv"] and any(f"rendered/{name}." in x for x in c["argv"])), None)
    if k is not None and a is not None:
        render_ms[s["id"]] = a - k
levels = {}
for sid, ms in render_ms.items():
    levels[depth[sid]] = max(levels.get(depth[sid], 0), ms)
if render_ms:
    print("\nrendering inside the overlay steps (`kubectl kustomize` to the step's apply): " + ", ".join(f"{k} {v} ms" for k, v in render_ms.items()) + f"; on the critical path (slowest per depends_on level): {sum(levels.values())} ms")

print(f"\n## Second `up` (run {runs[-1]}): {len(calls2[-1])} external commands\n")
for c in calls2[-1]:
    flag = "  MUTATING" if c in mutating2[-1] else ""
    print(f"    {c['tool']} {' '.join(c['argv'])}{flag}")
first_render = min((c["ts_ms"] for c in calls2[-1] if c["argv"][:1] == ["kustomize"]), default=None)
if first_render is not None:
    print(f"    (of its {up2[-1]['wall_s'] * 1000:.0f} ms, {up2[-1]['end_unix_ms'] - first_render:.0f} ms from the first `kubectl kustomize` to the exit)")
execs3 = os.path.join(results, "execs3.txt")
if os.path.exists(execs3):
    seen = [l for l in open(execs3).read().splitlines() if l.strip()]
    logged = [" ".join([c["tool"]] + c["argv"]) for c in calls2[-1]]
    same = sorted(seen) == sorted(logged)
    print(f"\n    strace of one more unchanged `up`: devenv started {len(seen)} programs" + (", the same as the call log" if same else ":"))
    if not same:
        for l in seen:
            print(f"      {l}")
if any(world_changed):
    print("    the fake world (clusters, objects) CHANGED during the second up")

# ---------------------------------------------------------------------------------------
def verdict(value, target, lower_is_better=True):
    if value <= target:
        return "met"
    over = value / target - 1
    return f"missed by {over * 100:.0f} %" + (" (a lot)" if value > target * A_LOT else "")


v_cp = verdict(ratio_cp, TARGET_CP)
v_seq = verdict(ratio_seq, TARGET_SEQ)
v_2s = verdict(wall2, TARGET_SECOND_S)
v_2c = "met" if cmds2 <= TARGET_SECOND_CMDS and n_mut == 0 and not any(world_changed) else (
    f"missed: {cmds2} commands, {n_mut} mutating" + (" (a lot)" if n_mut or any(world_changed) or cmds2 > TARGET_SECOND_CMDS * A_LOT else ""))
rng = lambda rs, k: f"{min(r[k] for r in rs):.2f}-{max(r[k] for r in rs):.2f}" if len(rs) > 1 else ""

print(f"\n## Results (median of {len(runs)} run{'s' if len(runs) > 1 else ''}, S = {scale:g}, build.parallel = {parallel}, {os.cpu_count()} CPUs)\n")
print("| figure | value | target | verdict |")
print("|---|---:|---:|---|")
print(f"| critical path of the plan (model x S) | {cp_s:.2f} s | | |")
print(f"| `devenv up`, first run | {wall1:.2f} s {('(' + rng(up1, 'wall_s') + ')') if len(runs) > 1 else ''} | | |")
print(f"| — against the critical path | {ratio_cp:.3f}x | <= {TARGET_CP}x | {v_cp} |")
print(f"| sequential script, same commands and fakes | {wall_seq:.2f} s {('(' + rng(seq, 'wall_s') + ') ') if len(runs) > 1 else ''}(model {seq_model * scale:.2f} s) | | |")
print(f"| — devenv against it | {ratio_seq:.3f}x (best possible {cp / seq_model:.3f}x) | <= {TARGET_SEQ}x | {v_seq} |")
r2 = f" ({min(r['wall_s'] for r in up2) * 1000:.0f}-{max(r['wall_s'] for r in up2) * 1000:.0f})" if len(runs) > 1 else ""
print(f"| `devenv up`, second run (all unchanged) | {wall2 * 1000:.0f} ms{r2} | <= {TARGET_SECOND_S * 1000:.0f} ms | {v_2s} |")
print(f"| — external commands (mutating) | {cmds2} ({n_mut}) | <= {TARGET_SECOND_CMDS} (0) | {v_2c} |")
print(f"| devenv's own CPU, first / second run | {med([r['self_cpu_s'] for r in up1]):.2f} s / {med([r['self_cpu_s'] for r in up2]):.2f} s | | |")
print(f"| devenv's own peak RSS, first / second run | {med([r['self_peak_rss_kb'] for r in up1]) / 1024:.1f} MiB / {med([r['self_peak_rss_kb'] for r in up2]) / 1024:.1f} MiB | | |")
print(f"| CPU of devenv + the fakes it ran, first run | {med([r['tree_cpu_s'] for r in up1]):.2f} s | | |")

verdicts = [v_cp, v_seq, v_2s, v_2c]
lots = [v for v in verdicts if "(a lot)" in v]
missed = [v for v in verdicts if v != "met"]
print()
if lots:
    print(f"RESULT: {len(missed)} target(s) missed, {len(lots)} by a lot (> {round((A_LOT - 1) * 100)} % over): exit 1")
    sys.exit(1)
elif missed:
    print(f"RESULT: {len(missed)} target(s) missed, none by a lot (<= {round((A_LOT - 1) * 100)} % over): exit 0")
else:
    print("RESULT: every target met")
