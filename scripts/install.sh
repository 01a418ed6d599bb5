#!/bin/sh
# Install devenv from its GitHub release: download the archive for this OS and CPU and
# its sha256, check it, and put `devenv` in ~/.local/bin (or $DEVENV_INSTALL_DIR).
#
#   curl -fsSL https://github.com/OWNER/REPO/releases/latest/download/install.sh | sh
#   sh scripts/install.sh [--version vX.Y.Z] [--dir DIR]
#
# Environment: DEVENV_VERSION (a tag such as v0.1.0, or "latest"), DEVENV_INSTALL_DIR,
# DEVENV_REPO (owner/name on GitHub; the release workflow writes the right default into
# the copy it publishes), DEVENV_DOWNLOAD_URL (a folder URL holding the release assets,
# e.g. an internal mirror; replaces the GitHub address).
#
# Not to be confused with devenv.sh (the Nix-based `devenv`): this script warns when
# another `devenv` comes first on PATH.
set -eu

DEVENV_REPO_DEFAULT="devenv-k8s/devenv"

repo=${DEVENV_REPO:-$DEVENV_REPO_DEFAULT}
version=${DEVENV_VERSION:-latest}
install_dir=${DEVENV_INSTALL_DIR:-${HOME}/.local/bin}

say() { printf 'devenv-install: %s\n' "$*"; }
die() {
  printf 'devenv-install: error: %s\n' "$*" >&2
  exit 1
}

while [ $# -gt 0 ]; do
  case $1 in
    --version) [ $# -ge 2 ] || die "--version needs a value"; version=$2; shift 2 ;;
    --version=*) version=${1#--version=}; shift ;;
    --dir) [ $# -ge 2 ] || die "--dir needs a value"; install_dir=$2; shift 2 ;;
    --dir=*) install_dir=${1#--dir=}; shift ;;
    -h | --help) sed -n '2,14p' "$0"; exit 0 ;;
    *) die "unknown argument: $1 (try --help)" ;;
  esac
done

# The Rust target triple of the release archive for this machine.
detect_target() {
  os=$(uname -s)
  arch=$(uname -m)
  case $arch in
    x86_64 | amd64) arch=x86_64 ;;
    aarch64 | arm64) arch=aarch64 ;;
    *) die "no devenv release for CPU $arch (x86_64 and aarch64 only); build from source with cargo" ;;
  esac
  case $os in
    Linux) echo "${arch}-unknown-linux-musl" ;;
    Darwin)
      # A shell under Rosetta reports x86_64 on Apple silicon: prefer the native build.
      if [ "$arch" = x86_64 ] && [ "$(sysctl -n sysctl.proc_translated 2>/dev/null || echo 0)" = 1 ]; then
        arch=aarch64
      fi
      echo "${arch}-apple-darwin"
      ;;
    *) die "no devenv release for $os (Linux and macOS only)" ;;
  esac
}

download() { # download URL FILE
  if command -v curl >/dev/null 2>&1; then
    if [ -n "${DEVENV_DOWNLOAD_URL:-}" ]; then
      curl -fsSL --retry 3 -o "$2" "$1"
    else
      curl --proto '=https' --tlsv1.2 -fsSL --retry 3 -o "$2" "$1"
    fi
  elif command -v wget >/dev/null 2>&1; then
    wget -q -O "$2" "$1"
  else
    die "curl or wget is needed"
  fi
}

sha256_of() {
  if command -v sha256sum >/dev/null 2>&1; then
    sha256sum "$1" | awk '{ print $1 }'
  elif command -v shasum >/dev/null 2>&1; then
    shasum -a 256 "$1" | awk '{ print $1 }'
  else
    die "sha256sum or shasum is needed to check the download"
  fi
}

target=$(detect_target)
asset="devenv-${target}.tar.gz"
if [ -n "${DEVENV_DOWNLOAD_URL:-}" ]; then
  base=${DEVENV_DOWNLOAD_URL%/}
elif [ "$version" = latest ]; then
  base="https://github.com/${repo}/releases/latest/download"
else
  case $version in v*) ;; *) version="v${version}" ;; esac
  base="https://github.com/${repo}/releases/download/${version}"
fi

tmp=$(mktemp -d 2>/dev/null || mktemp -d -t devenv-install)
trap 'rm -rf "$tmp"' EXIT INT TERM

say "downloading ${base}/${asset}"
download "${base}/${asset}" "${tmp}/${asset}" || die "cannot download ${base}/${asset}"
download "${base}/${asset}.sha256" "${tmp}/${asset}.sha256" || die "cannot download ${base}/${asset}.sha256"

# The .sha256 file is "<hex>  <file name>", as sha256sum writes it.
expected=$(awk '{ print $1; exit }' "${tmp}/${asset}.sha256")
actual=$(sha256_of "${tmp}/${asset}")
[ -n "$expected" ] || die "${asset}.sha256 is empty"
[ "$expected" = "$actual" ] || die "sha256 mismatch for ${asset}: expected ${expected}, got ${actual}"
say "sha256 ok (${actual})"

tar -xzf "${tmp}/${asset}" -C "$tmp"
# The archive holds devenv-<target>/devenv (cargo-dist's layout) or devenv at its root.
bin="${tmp}/devenv-${target}/devenv"
[ -f "$bin" ] || bin="${tmp}/devenv"
[ -f "$bin" ] || die "${asset} has no devenv binary"

mkdir -p "$install_dir"
# Copy then rename, so a running devenv is never overwritten in place.
cp "$bin" "${install_dir}/.devenv.new"
chmod 0755 "${install_dir}/.devenv.new"
mv -f "${install_dir}/.devenv.new" "${install_dir}/devenv"
say "installed $("${install_dir}/devenv" --version 2>/dev/null || echo devenv) to ${install_dir}/devenv"

# Is it the devenv a shell will run?
first=$(command -v devenv 2>/dev/null || true)
case ":${PATH}:" in
  *":${install_dir}:"*)
    if [ -n "$first" ] && [ "$first" != "${install_dir}/devenv" ]; then
      say "warning: ${first} comes first on PATH and will run instead of ${install_dir}/devenv."
      if "$first" --version 2>/dev/null | grep -q 'devenv 1\.'; then
        say "         It looks like devenv.sh (the Nix tool), a different program of the same name."
      fi
      say "         Put ${install_dir} before $(dirname "$first") in PATH, or call ${install_dir}/devenv."
    fi
    ;;
  *)
    say "note: ${install_dir} is not on PATH; add it, e.g.: export PATH=\"${install_dir}:\$PATH\""
    if [ -n "$first" ]; then
      say "warning: ${first} is another devenv on PATH (devenv.sh, the Nix tool, has the same name)."
    fi
    ;;
esac
