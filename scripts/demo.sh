#!/usr/bin/env bash
# The main job: installs what is missing, then runs the timecode demo (a generated H.264 stream
# with embedded SMPTE timecodes read back by timecodeparse; every frame's timecode and UTC time
# is printed). Arguments go to the demo, e.g. --time-zone America/Los_Angeles --frames 90.
set -euo pipefail
cd "$(dirname "$0")/.."
LOCKSTEP_SKIP_FUZZ=1 bash scripts/setup.sh
[ -f "$HOME/.cargo/env" ] && . "$HOME/.cargo/env"
cargo run --locked --release --quiet --example timecode-demo -- "$@"
