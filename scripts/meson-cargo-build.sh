#!/usr/bin/env bash
# SPDX-License-Identifier: MPL-2.0
# meson's custom_target: build the plugin with cargo (release) and copy the .so to meson's output.
set -euo pipefail
src="$1" target_dir="$2" out="$3"
cargo build --release --locked --manifest-path "$src/Cargo.toml" --target-dir "$target_dir" --lib
cp "$target_dir/release/libgstlockstep.so" "$out"
