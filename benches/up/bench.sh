#!/usr/bin/env bash
# The `devenv up` benchmark (issue 8, part 6). Not a test: run it by hand or in CI's bench job.
#
#   bash benches/up/bench.sh            # S = 0.05, 3 repetitions, median reported
#
# In one run, on this machine:
#   1. builds devenv (release) and the fake k3d / kubectl / docker (release);
#   2. copies benches/up/project (three images, three overlays: web and worker depend on
#      api) to a temp folder, with a fresh file in each image context (new content-addressed
#      tags, so the real registry never already has them);
#   3. runs benches/up/sequential.sh (the same commands, one after the other, as the seed
#      course writes them) and `devenv up`, each against its own fresh fake world;
#   4. runs `devenv up` again on the finished environment and counts its external commands;
#   5. prints the model, a per-step profile, a Markdown table (for README) and a verdict per
#      target; exits 1 when a target is missed by a lot (> 20 % over it).
#
# The fakes sleep realistic times scaled by ONE factor S (DEVENV_FAKE_SLEEP_SCALE):
# k3d cluster create 20 s, a CRD Established 2 s, the Tigera operator (and every overlay's
# Deployment) rolled out 5 s after apply, Calico Available 40 s after the Installation,
# docker build 15 s (fakes/src/{k3d,kube}.rs, fakes/src/bin/docker.rs; report.py reads them
# from there).
#
# Environment:
#   BENCH_SCALE=0.05     S
#   BENCH_RUNS=3         repetitions (the median is reported)
#   BENCH_KEEP=1         keep the work folder (logs, journals, call logs)
#   BENCH_CALICO=DIR     Calico manifests (default tests/fixtures/calico, else benches/up/calico)
#   BENCH_STRACE=0       skip the strace cross-check of the programs the second `up` starts
#   DEVENV_BIN, FAKES_DIR           use these builds instead of building
#
# Needs: cargo, python3, a registry answering on 127.0.0.1:5000 (CI runs docker-registry
# there), the real kubectl (the fake kubectl runs it for `kubectl kustomize`).
#
# Why the fake world starts with the registry container: devenv's registry is published on
# 127.0.0.1:5000, where the real registry already listens, so devenv's preflight (rightly)
# refuses to create one there. The fake world therefore starts with `k3d-bench-registry`
# on that port (the fake k3d only records it); devenv's registry step then finds it and
# skips, as it does with any registry that exists. The sequential script creates its own
# (in its own fake world). Both push to the real registry through the fake docker.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
scale=${BENCH_SCALE:-0.05}
runs=${BENCH_RUNS:-3}
registry=127.0.0.1:5000  # devenv.toml: registry.port = 5000

say() { printf '== %s\n' "$*" >&2; }

if ! curl -fsS -o /dev/null "http://$registry/v2/"; then
  echo "bench: no registry answers on http://$registry/v2/ (start one: docker-registry, or docker run -p 127.0.0.1:5000:5000 registry:2)" >&2
  exit 2
fi

# 1. Builds.
if [[ -z "${DEVENV_BIN:-}" ]]; then
  say "building devenv (release)"
  (cd "$root" && cargo build --release --quiet --bin devenv)
  DEVENV_BIN="$root/target/release/devenv"
fi
if [[ -z "${FAKES_DIR:-}" ]]; then
  say "building the fakes (release)"
  (cd "$root" && cargo build --release --quiet -p devenv-fakes --bins)
  FAKES_DIR="$root/target/release"
fi

DEVENV_BIN=$(realpath "$DEVENV_BIN")
FAKES_DIR=$(realpath "$FAKES_DIR")

work=$(mktemp -d "${TMPDIR:-/tmp}/devenv-bench-up.XXXXXX")
cleanup() {
  if [[ "${BENCH_KEEP:-}" == 1 || -n "${failed:-}" ]]; then
    echo "bench: work folder kept: $work" >&2
  else
    rm -rf "$work"
  fi
}
trap cleanup EXIT
failed=1

# Only the three fakes shadow the real tools (the real kubectl stays reachable for kustomize).
mkdir -p "$work/bin" "$work/results"
for t in k3d kubectl docker; do ln -s "$FAKES_DIR/$t" "$work/bin/$t"; done
export DEVENV_REAL_KUBECTL=${DEVENV_REAL_KUBECTL:-$(command -v kubectl)}
# Calico manifests: the test stand-ins when present, else the benchmark's own.
calico=${BENCH_CALICO:-$root/tests/fixtures/calico}
[[ -f "$calico/operator-crds.yaml" && -f "$calico/tigera-operator.yaml" ]] || calico="$here/calico"
calico=$(realpath "$calico")
api_port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
parallel=$(python3 -c 'import os; print(min(len(os.sched_getaffinity(0)), 4))')

# A project copy with fresh image contexts, and a fresh fake world with its own HOME.
# Sets: proj, state, home.
fresh() {
  local name=$1
  proj="$work/$name/project" state="$work/$name/fake-state" home="$work/$name/home"
  mkdir -p "$state" "$home"
  cp -r "$here/project" "$proj"
  sed -i "s#@API_PORT@#$api_port#; s#@CALICO@#$calico#" "$proj/devenv.toml"
  for s in api web worker; do
    printf '%s %s\n' "$name" "$(date +%s%N)$RANDOM" >"$proj/services/$s/run-id"
  done
}

in_world() {
  env -i PATH="$work/bin:$PATH" HOME="$home" TMPDIR="${TMPDIR:-/tmp}" TERM=dumb LANG=C.UTF-8 \
    DEVENV_FAKE_STATE="$state" DEVENV_FAKE_SLEEP_SCALE="$scale" DEVENV_REAL_KUBECTL="$DEVENV_REAL_KUBECTL" \
    "$@"
}

measure() { python3 "$here/measure.py" "$@"; }

world_digest() { sha256sum <"$1/state.json" | cut -d" " -f1; }

say "S = $scale, build.parallel = $parallel, $runs repetition(s), Calico manifests from $calico"
for n in $(seq 1 "$runs"); do
  say "run $n/$runs: sequential script"
  fresh "seq-$n"
  (cd "$proj" && in_world python3 "$here/measure.py" "$work/results/seq-$n.json" "$work/seq-$n/log" \
    -- bash "$here/sequential.sh" "$calico" "$api_port")

  say "run $n/$runs: devenv up (first)"
  fresh "devenv-$n"
  (cd "$proj" && in_world env LOG_COLORS=false k3d registry create bench-registry --port "$registry" --no-help >/dev/null 2>&1)
  rm -f "$state/calls.jsonl"
  [[ -f "$work/results/plan.json" ]] || (cd "$proj" && in_world "$DEVENV_BIN" plan -o json >"$work/results/plan.json")
  (cd "$proj" && in_world python3 "$here/measure.py" "$work/results/up1-$n.json" "$work/devenv-$n/up1.log" -- "$DEVENV_BIN" up)
  cp "$proj/.devenv/state.json" "$work/results/journal-$n.json"
  mv "$state/calls.jsonl" "$work/results/calls1-$n.jsonl"

  say "run $n/$runs: devenv up (second, on the finished environment)"
  before=$(world_digest "$state")
  (cd "$proj" && in_world python3 "$here/measure.py" "$work/results/up2-$n.json" "$work/devenv-$n/up2.log" -- "$DEVENV_BIN" up)
  touch "$state/calls.jsonl"
  mv "$state/calls.jsonl" "$work/results/calls2-$n.jsonl"
  [[ "$(world_digest "$state")" == "$before" ]] && echo same >"$work/results/world2-$n.txt" || echo changed >"$work/results/world2-$n.txt"
done

# Cross-check of the call log: every program devenv itself starts on one more unchanged
# `up`, seen by strace (it also sees programs that are not faked). Timing is not taken here.
if command -v strace >/dev/null && [[ "${BENCH_STRACE:-1}" == 1 ]]; then
  say "one more devenv up under strace (programs devenv starts)"
  (cd "$proj" && in_world strace -f -qq -s 300 -e trace=execve,clone,clone3,fork,vfork -o "$work/strace3.txt" "$DEVENV_BIN" up >"$work/up3.log" 2>&1)
  python3 "$here/execs.py" "$work/strace3.txt" >"$work/results/execs3.txt"
fi

status=0
python3 "$here/report.py" "$work/results" "$root/fakes/src" "$scale" "$parallel" || status=$?
failed=
[[ $status -eq 0 ]] || failed=1
exit $status
