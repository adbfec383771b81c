#!/usr/bin/env bash
# SPDX-License-Identifier: MPL-2.0
# Installs everything lockstep needs on a fresh Debian 12 machine (run as root, or with sudo
# available). Idempotent: a second run installs nothing and takes a second.
set -euo pipefail

APT_PACKAGES=(
  # build
  build-essential pkg-config meson ninja-build git ca-certificates
  # GStreamer 1.22 development files, and the runtime plugins tests and the demo use
  # (x264enc, timecodestamper, h264parse/h265parse, tsdemux, videotestsrc)
  libgstreamer1.0-dev libgstreamer-plugins-base1.0-dev libgstreamer-plugins-bad1.0-dev
  gstreamer1.0-tools gstreamer1.0-plugins-base gstreamer1.0-plugins-good
  gstreamer1.0-plugins-bad gstreamer1.0-plugins-ugly gstreamer1.0-libav
  # clockoverlay and timeoverlay (the burnt-in clock and timecode of `lockstep live`)
  gstreamer1.0-x
  # time zone data (the crate also bundles it; the system copy is preferred when present)
  tzdata
  # xmllint: the packaging tests validate every MPD against the DASH schema in tests/data/dash-schema
  libxml2-utils
  # ffprobe: the hlsdashsink tests probe the written CMAF segments (keyframes, timestamps)
  ffmpeg
  # headless Chromium: the hlsdashsink test plays the output with hls.js and dash.js
  chromium
  # the Python example (examples/python/redundant_switch.py): Debian's python3 with PyGObject
  python3 python3-gi gir1.2-gstreamer-1.0
)

missing=()
for p in "${APT_PACKAGES[@]}"; do
  status="$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)"
  [[ "$status" == *"install ok installed"* ]] || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  echo "setup: installing Debian packages: ${missing[*]}"
  $SUDO apt-get update -q
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

if ! command -v cargo >/dev/null 2>&1; then
  [ -f "$HOME/.cargo/env" ] && . "$HOME/.cargo/env"
fi
command -v cargo >/dev/null 2>&1 || { echo "setup: cargo (Rust 1.95) is required and was not found" >&2; exit 1; }
for comp in rustfmt clippy; do
  if ! cargo "${comp/rustfmt/fmt}" --version >/dev/null 2>&1; then
    rustup component add "$comp" 2>/dev/null || echo "setup: warning: could not add rustup component $comp"
  fi
done
# cargo-fuzz runs the fuzz targets (bounded) in the test command.
if [ "${LOCKSTEP_SKIP_FUZZ:-0}" != 1 ] && ! cargo fuzz --version >/dev/null 2>&1; then
  echo "setup: installing cargo-fuzz"
  cargo install --locked cargo-fuzz
fi
# The player test (tests/player): hls.js, dash.js, Shaka Player and playwright-core from npm, pinned by
# package-lock.json; playwright-core drives the Debian chromium above (no browser download).
# playwright-core 1.65 needs Node.js >= 20 (Debian 12 ships 18: use NodeSource's nodejs 20).
if ! command -v node >/dev/null 2>&1; then
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends nodejs npm
fi
node_major="$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)"
if [ "$node_major" -lt 20 ]; then
  echo "setup: warning: Node.js $(node --version 2>/dev/null) is older than 20; the player test needs 20 or newer" >&2
fi
# Two npm packages, pinned by their package-lock.json: player/ (hls.js and dash.js for the
# player page of `lockstep live`) and tests/player/ (the same players, Shaka Player and
# playwright-core for the browser tests). npm ci again whenever a pinned package is missing or
# at another version (a new pin).
npm_current() {
  (cd "$1" && node -e '
    const deps = require("./package.json").dependencies;
    for (const [name, version] of Object.entries(deps)) {
      try { if (require("./node_modules/" + name + "/package.json").version !== version) process.exit(1); }
      catch { process.exit(1); }
    }')
}
for npm_dir in player tests/player; do
  dir="$(cd "$(dirname "$0")/../$npm_dir" && pwd)"
  if ! npm_current "$dir"; then
    echo "setup: installing the npm packages of $npm_dir"
    (cd "$dir" && npm ci --no-audit --no-fund)
  fi
done
