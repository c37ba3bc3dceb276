#!/usr/bin/env bash
# The test command of the README's quick start and of CI: installs what the suite needs on a
# clean machine (Debian packages for the browser and shell tests, Python packages), then runs
# the whole suite. Extra arguments go to pytest. pytest's own exit code is the script's
# (5 = no tests collected fails the run, it is never hidden).
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(chromium fonts-liberation shellcheck)
missing=()
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
command -v shellcheck >/dev/null 2>&1 || missing+=(shellcheck)
if [ "${#missing[@]}" -gt 0 ]; then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  echo "Installing system packages: ${APT_PACKAGES[*]}"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${APT_PACKAGES[@]}" >/dev/null
fi

python -m pip install -q --disable-pip-version-check -r requirements-dev.txt

if [ "$#" -eq 0 ]; then
  set -- -q
fi
exec python -m pytest -p no:cacheprovider -n 2 "$@"
