#!/usr/bin/env bash
# Installs the Debian packages the test suite drives for real: chromium (browser tests) and postgresql
# (session store). Only as root and only what is missing; otherwise says what the tests will skip.
set -euo pipefail
need=()
command -v chromium >/dev/null 2>&1 || [ -x /usr/bin/chromium ] || need+=(chromium)
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || need+=(postgresql)
if [ ${#need[@]} -eq 0 ]; then
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "note: not root, so ${need[*]} cannot be installed here; the tests that need them will skip (CI=true makes them fail)." >&2
  exit 0
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
echo "installed: ${need[*]}"
