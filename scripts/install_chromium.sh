#!/usr/bin/env bash
# The browser that tests/test_leaderboard.py drives (through selenium): Debian's chromium and
# chromium-driver. Installs them when missing and apt-get is usable (root, or passwordless sudo);
# otherwise prints one line saying what the browser tests need. Safe to run again.
set -uo pipefail
need="the leaderboard browser tests need Debian's chromium and chromium-driver (/usr/bin/chromium, /usr/bin/chromedriver)"
if [ -x /usr/bin/chromium ] && [ -x /usr/bin/chromedriver ]; then exit 0; fi
if ! command -v apt-get >/dev/null 2>&1; then echo "install_chromium: no apt-get here; $need" >&2; exit 0; fi
if [ "$(id -u)" -eq 0 ]; then
  as_root() { "$@"; }
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
  as_root() { sudo -n "$@"; }
else
  echo "install_chromium: not root and no passwordless sudo; $need" >&2; exit 0
fi
echo "installing chromium and chromium-driver (Debian packages) for the leaderboard browser tests" >&2
if ! { as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq \
       && as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium chromium-driver; } >/dev/null; then
  echo "install_chromium: apt-get failed; $need" >&2
fi
