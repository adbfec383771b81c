#!/bin/sh
# SPDX-License-Identifier: MPL-2.0
# Runs every benchmark, with the gst-plugins-rs peers (fallbackswitch 0.14, built as a separate
# crate on the 0.24 bindings) on GST_PLUGIN_PATH so the comparisons run in the same process.
set -eu
cd "$(dirname "$0")/.."
scripts/setup.sh
cargo build --release --locked --manifest-path benches/peers/Cargo.toml
export GST_PLUGIN_PATH="$PWD/benches/peers/target/release${GST_PLUGIN_PATH:+:$GST_PLUGIN_PATH}"
if [ $# -gt 0 ]; then
    for bench in "$@"; do cargo bench --locked --bench "$bench"; done
else
    cargo bench --locked
fi
