#!/usr/bin/env bash
# Install a pinned k3d release binary, checked against a sha256, into a bin folder.
# Used by .github/workflows/ci.yml and action.yml (never `curl … | bash`).
#
#   scripts/install-k3d.sh [VERSION] [BIN_DIR]     # defaults: v5.9.0, /usr/local/bin
#
# The expected sha256 comes from K3D_SHA256 when set (pin it for the strongest check);
# otherwise from the release's own checksums.txt, which k3d publishes with every release
# (`sha256sum _dist/*`). The second form catches a corrupt or truncated download and a
# swapped asset name, not a compromised release.
set -euo pipefail

version=${1:-v5.9.0}
bin_dir=${2:-/usr/local/bin}

case "$(uname -s)" in
  Linux) os=linux ;;
  Darwin) os=darwin ;;
  *) echo "install-k3d: unsupported OS $(uname -s)" >&2; exit 1 ;;
esac
case "$(uname -m)" in
  x86_64 | amd64) arch=amd64 ;;
  aarch64 | arm64) arch=arm64 ;;
  *) echo "install-k3d: unsupported architecture $(uname -m)" >&2; exit 1 ;;
esac

if command -v k3d >/dev/null 2>&1 && k3d version 2>/dev/null | grep -q "^k3d version ${version}\$"; then
  echo "install-k3d: k3d ${version} is already installed at $(command -v k3d)"
  exit 0
fi

asset="k3d-${os}-${arch}"
base="https://github.com/k3d-io/k3d/releases/download/${version}"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

curl --proto '=https' --tlsv1.2 -fsSL --retry 3 -o "$tmp/$asset" "$base/$asset"
if [ -n "${K3D_SHA256:-}" ]; then
  expected=$K3D_SHA256
else
  curl --proto '=https' --tlsv1.2 -fsSL --retry 3 -o "$tmp/checksums.txt" "$base/checksums.txt"
  # Lines read "<sha256>  _dist/k3d-linux-amd64".
  expected=$(awk -v a="$asset" '{ n = $2; sub(/^.*\//, "", n) } n == a { print $1; exit }' "$tmp/checksums.txt")
  if [ -z "$expected" ]; then
    echo "install-k3d: ${asset} is not listed in ${base}/checksums.txt" >&2
    exit 1
  fi
fi
if command -v sha256sum >/dev/null 2>&1; then
  actual=$(sha256sum "$tmp/$asset" | awk '{ print $1 }')
else
  actual=$(shasum -a 256 "$tmp/$asset" | awk '{ print $1 }')
fi
if [ "$actual" != "$expected" ]; then
  echo "install-k3d: sha256 mismatch for ${asset} ${version}: expected ${expected}, got ${actual}" >&2
  exit 1
fi

sudo=
if [ ! -w "$bin_dir" ] && [ "$(id -u)" -ne 0 ]; then
  sudo=sudo
fi
$sudo install -d "$bin_dir"
$sudo install -m 0755 "$tmp/$asset" "$bin_dir/k3d"
echo "install-k3d: installed $("$bin_dir/k3d" version | head -n 1) (sha256 ${actual}) to ${bin_dir}/k3d"
