#!/usr/bin/env bash
# SPDX-License-Identifier: MPL-2.0
# The main job: installs what is missing, builds the `lockstep` program and runs a redundant
# live channel (`lockstep live`): two encoders of one timecoded source, a failover, a recovery
# and an encoder update on air, HLS + DASH served with a player page on 127.0.0.1:8080.
# Arguments go to `lockstep live`, e.g. --duration 60 --time-zone Europe/Berlin --port 9000.
set -euo pipefail
cd "$(dirname "$0")/.."
LOCKSTEP_SKIP_FUZZ=1 bash scripts/setup.sh
[ -f "$HOME/.cargo/env" ] && . "$HOME/.cargo/env"
cargo build --locked --release --quiet
exec target/release/lockstep live "$@"
