#!/usr/bin/env bash
# Fuzz the config loader and planner (fuzz/fuzz_targets/config_load.rs) with libFuzzer.
#
#   scripts/fuzz.sh                 # 10 minutes, the run README cites
#   scripts/fuzz.sh --seconds 60    # what .ci/run does
#   scripts/fuzz.sh --seed-only     # only (re)create the corpus from the seeds (scripts/test.sh)
#
# Needs cargo-fuzz (`cargo install cargo-fuzz --locked`). It runs on the stable
# toolchain through RUSTC_BOOTSTRAP=1, since cargo-fuzz passes -Z flags (AddressSanitizer,
# coverage options). The corpus grows in fuzz/corpus/config_load (gitignored), seeded
# from every devenv.toml in the repository; fuzz/regressions/config_load holds inputs
# that once crashed (committed, replayed first on every run). A crash is saved under
# fuzz/artifacts/ and the run exits non-zero, printing the input and how to reproduce
# it: add the input to fuzz/regressions/config_load/ with the fix.
set -euo pipefail

seconds=600
seed_only=0
while [ $# -gt 0 ]; do
  case $1 in
    --seed-only) seed_only=1; shift ;;
    --seconds) seconds=$2; shift 2 ;;
    --seconds=*) seconds=${1#--seconds=}; shift ;;
    -h | --help) sed -n '2,15p' "$0"; exit 0 ;;
    *) echo "fuzz.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done

cd "$(dirname "${BASH_SOURCE[0]}")/.."
root=$PWD
corpus=fuzz/corpus/config_load
mkdir -p "$corpus"

# Seeds: the example, the scaffold, the built-in profiles and any devenv.toml in tests or
# examples, named by content so reseeding never duplicates.
while IFS= read -r -d '' seed; do
  sum=$(sha256sum "$seed" | cut -c1-16)
  cp "$seed" "$corpus/seed-$sum"
done < <(find "$root" \
  \( -path "$root/target" -o -path "$root/fuzz/target" -o -path "$root/.git" -o -path "$root/$corpus" \) -prune -o \
  -type f \( -name 'devenv.toml' -o -name 'devenv.toml.example' -o -name '*.devenv.toml' -o -path "$root/profiles/*.toml" \) \
  -print0)
if [ "$seed_only" -eq 1 ]; then
  echo "fuzz.sh: $(find "$corpus" -type f | wc -l) inputs in $corpus (seeded, not run)"
  exit 0
fi
echo "fuzz.sh: $(find "$corpus" -type f | wc -l) inputs in $corpus; running ${seconds}s"

export RUSTC_BOOTSTRAP=1
cd fuzz
# -max_len: a devenv.toml beyond 16 KiB adds nothing the loader has not seen.
# -timeout: one input taking over 10 s is a hang (a bug), not slowness.
exec cargo fuzz run config_load corpus/config_load regressions/config_load -- \
  -dict=config_load.dict -max_total_time="$seconds" -max_len=16384 -timeout=10 \
  -print_final_stats=1
