#!/usr/bin/env bash
# The Debian packages `make test` needs beyond Python: chromium (browser tests), Devanagari
# and emoji fonts (the widget's screenshots), postgresql, redis-server and nginx (scaled mode
# and the PostgreSQL tests start their own throwaway instances on loopback).
#
#   scripts/system-packages.sh          install the missing ones (as root), or say what to run
#   scripts/system-packages.sh --list   print the list
set -euo pipefail
packages=(chromium fonts-lohit-deva fonts-noto-core fonts-noto-color-emoji postgresql redis-server nginx)
if [ "${1:-}" = "--list" ]; then
  echo "${packages[*]}"
  exit 0
fi
missing=()
for p in "${packages[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
[ "${#missing[@]}" -eq 0 ] && exit 0
if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "make test needs these system packages: ${missing[*]}" >&2
  echo "install them with:  sudo apt-get install -y --no-install-recommends ${missing[*]}" >&2
  exit 1
fi
echo "installing: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
