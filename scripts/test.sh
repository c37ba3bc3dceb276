#!/usr/bin/env bash
# The test command of the README's quick start and of CI: installs what the suite needs on a
# clean machine (Debian packages for the browser and shell tests, Python packages), then runs
# the whole suite. Extra arguments go to pytest. pytest's own exit code is the script's
# (5 = no tests collected fails the run, it is never hidden).
#
# The apt step runs only when a package is missing. It waits (up to 10 minutes) for another
# apt/dpkg process to release its lock instead of failing at once, and it needs root or sudo:
# without either it says what to install and stops (exit 2).
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(chromium fonts-liberation shellcheck)
APT_LOCK_WAIT=600  # seconds to wait for another apt/dpkg process (unattended upgrades, a parallel job)
missing=()
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
command -v shellcheck >/dev/null 2>&1 || missing+=(shellcheck)
if [ "${#missing[@]}" -gt 0 ]; then
  sudo=""
  if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
      sudo="sudo"
    else
      echo "Paket sistem belum terpasang: ${missing[*]}." >&2
      echo "Pasang sebagai root, lalu jalankan skrip ini lagi:" >&2
      echo "  apt-get install -y --no-install-recommends ${APT_PACKAGES[*]}" >&2
      exit 2
    fi
  fi
  echo "Installing system packages: ${APT_PACKAGES[*]}"
  lock=(-o "DPkg::Lock::Timeout=${APT_LOCK_WAIT}")
  $sudo apt-get "${lock[@]}" update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get "${lock[@]}" install -y -qq --no-install-recommends \
    "${APT_PACKAGES[@]}" >/dev/null
fi

python -m pip install -q --disable-pip-version-check -r requirements-dev.txt

if [ "$#" -eq 0 ]; then
  set -- -q
fi
exec python -m pytest -p no:cacheprovider -n 2 "$@"
