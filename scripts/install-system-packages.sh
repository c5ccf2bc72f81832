#!/usr/bin/env bash
# Install the Debian packages in scripts/system-packages.txt that this machine lacks.
# As root: apt-get (one update, --no-install-recommends). Otherwise: name the missing packages
# and the command that installs them, and exit 1. Quick and silent when nothing is missing.
set -euo pipefail

list="$(dirname "$0")/system-packages.txt"
mapfile -t wanted < <(sed -e 's/#.*//' -e 's/[[:space:]]//g' "$list" | grep -v '^$')

if ! command -v dpkg-query >/dev/null 2>&1; then
  echo "transport-bench: not a Debian-based system; install the equivalents of these by hand:" >&2
  printf '  %s\n' "${wanted[@]}" >&2
  exit 0  # nothing we can check; the tests that need a package say which when it is absent
fi

missing=()
for pkg in "${wanted[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" && continue
  # A command of that name counts too: NodeSource's nodejs package carries npm inside it.
  command -v "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
done
((${#missing[@]})) || exit 0

if [[ $(id -u) -ne 0 ]]; then
  echo "transport-bench needs these Debian packages: ${missing[*]}" >&2
  echo "Install them as root, then run make again:" >&2
  echo "  sudo apt-get update && sudo apt-get install -y --no-install-recommends ${missing[*]}" >&2
  exit 1
fi

echo "transport-bench: installing Debian packages: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
