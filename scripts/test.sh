#!/usr/bin/env bash
# SPDX-License-Identifier: MPL-2.0
# Runs every check lockstep has, on a fresh Debian 12 machine too: installs what is missing,
# then formatting, clippy, all cargo tests (GStreamer criticals are fatal), the fuzz targets
# for a bounded time, and the meson build/install/inspect path.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
[ -f "$HOME/.cargo/env" ] && . "$HOME/.cargo/env"

step() { printf '\n=== %s\n' "$*"; }

step "cargo fmt --check"
cargo fmt --all --check

step "cargo clippy --all-targets -- -D warnings"
cargo clippy --locked --all-targets -- -D warnings

step "cargo build (the plugin library that gst-launch-1.0 tests load)"
cargo build --locked --lib
step "cargo test (G_DEBUG=fatal_warnings)"
G_DEBUG=fatal_warnings cargo test --locked --all-targets 2>&1 | tee target/cargo-test.log
# doctests too (cdylib + rlib crates run them separately)
G_DEBUG=fatal_warnings cargo test --locked --doc

if [ "${LOCKSTEP_SKIP_FUZZ:-0}" != 1 ]; then
  fuzz_seconds="${LOCKSTEP_FUZZ_SECONDS:-20}"
  for target in $(cd fuzz && cargo fuzz list); do
    step "cargo fuzz run $target (${fuzz_seconds} s)"
    seeds="fuzz/seeds/$target"
    mkdir -p "fuzz/corpus/$target"
    (cd fuzz && RUSTC_BOOTSTRAP=1 cargo fuzz run --sanitizer none "$target" "corpus/$target" \
        $( [ -d "seeds/$target" ] && echo "seeds/$target" ) -- -max_total_time="$fuzz_seconds" -rss_limit_mb=2048 2>&1 | tail -n 3)
  done
fi

step "meson: setup, compile, install, inspect"
meson setup build --reconfigure >/dev/null 2>&1 || meson setup build
meson compile -C build
meson install -C build
# Whole output to a file first: under pipefail, `| head` can kill gst-inspect with SIGPIPE.
env -u GST_PLUGIN_PATH gst-inspect-1.0 lockstep > target/gst-inspect-lockstep.txt
head -n 12 target/gst-inspect-lockstep.txt
env -u GST_PLUGIN_PATH gst-inspect-1.0 timecodeparse >/dev/null
env -u GST_PLUGIN_PATH gst-inspect-1.0 hlsdashsink >/dev/null
meson test -C build --print-errorlogs plugin-loads timecodeparse-inspect synchronizedswitch-inspect handoverbin-inspect hlsdashsink-inspect

# The closing line CI reads: the cargo test totals.
awk '/^test result:/ { p += $4; f += $6; i += $8 } END { printf "lockstep: %d passed, %d failed, %d skipped\n", p, f, i }' target/cargo-test.log
