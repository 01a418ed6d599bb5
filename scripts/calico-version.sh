#!/usr/bin/env bash
# Print the Calico version a devenv.toml pins, for CI cache keys:
#
#   scripts/calico-version.sh [CONFIG [PROFILE]]     # e.g. "v3.32.1", or "default"
#
# Reads `version` in [calico] and, when PROFILE is given, in [profiles.PROFILE.calico]
# (the later wins, as the profile is merged over the file). "default" means devenv's own
# pinned default, which the devenv version (also in the cache key) decides.
set -euo pipefail

config=${1:-devenv.toml}
profile=${2:-}

awk -v profile_table="[profiles.${profile}.calico]" -v profile="$profile" '
  function value(line) {
    sub(/^[^=]*=[ \t]*/, "", line)
    sub(/[ \t]*#.*$/, "", line)
    gsub(/["\047]/, "", line)
    return line
  }
  /^[ \t]*\[/ {
    line = $0
    gsub(/[ \t]/, "", line)
    table = line
    next
  }
  table == "[calico]" && /^[ \t]*version[ \t]*=/ { base = value($0) }
  profile != "" && table == profile_table && /^[ \t]*version[ \t]*=/ { over = value($0) }
  END {
    if (over != "") print over
    else if (base != "") print base
    else print "default"
  }
' "$config"
