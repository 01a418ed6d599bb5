#!/bin/sh
# Rebuilds the verify probe binaries shipped next to this script, byte for byte, from
# their sources (tests/it/overlays_render.rs checks that the shipped ones are not stale).
#
# Needs GNU binutils for each target: `as`/`ld` on an x86_64 host (or the
# binutils-x86-64-linux-gnu cross tools), binutils-aarch64-linux-gnu for arm64
# (Debian/Ubuntu: apt-get install binutils-aarch64-linux-gnu).
# Run the arm64 one here with qemu-user: qemu-aarch64 ./devenv-probe-aarch64 serve 8080
set -eu
cd "$(dirname "$0")"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
LDFLAGS="-static -nostdlib -s --build-id=none -z noseparate-code"

tool() { # tool ARCH-PREFIX NATIVE-ARCH NAME: the cross tool, or the native one on that arch
    if command -v "$1-$3" >/dev/null 2>&1; then echo "$1-$3"
    elif [ "$(uname -m)" = "$2" ]; then echo "$3"
    else echo "missing: $1-$3 (install binutils for $2)" >&2; exit 1
    fi
}

as_x86=$(tool x86_64-linux-gnu x86_64 as)
ld_x86=$(tool x86_64-linux-gnu x86_64 ld)
$as_x86 --64 -o "$tmp/x86_64.o" devenv-probe-x86_64.S
# shellcheck disable=SC2086
$ld_x86 $LDFLAGS -o devenv-probe-x86_64 "$tmp/x86_64.o"

as_arm=$(tool aarch64-linux-gnu aarch64 as)
ld_arm=$(tool aarch64-linux-gnu aarch64 ld)
$as_arm -o "$tmp/aarch64.o" devenv-probe-aarch64.S
# shellcheck disable=SC2086
$ld_arm $LDFLAGS -o devenv-probe-aarch64 "$tmp/aarch64.o"

ls -l devenv-probe-x86_64 devenv-probe-aarch64
