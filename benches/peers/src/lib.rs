// SPDX-License-Identifier: MPL-2.0
//! Benchmark peers: registers gst-plugins-rs's `fallbackswitch` (crate
//! `gst-plugin-fallbackswitch` 0.14) so `cargo bench --bench synchronizedswitch` can compare
//! with it in the same run. Built by `scripts/bench.sh`; not part of the plugin.

use gst::glib;

fn plugin_init(_plugin: &gst::Plugin) -> Result<(), glib::BoolError> {
    gstfallbackswitch::plugin_register_static()
}

gst::plugin_define!(
    lockstepbenchpeers,
    "Benchmark peers of lockstep (gst-plugins-rs fallbackswitch 0.14)",
    plugin_init,
    "0.1.0",
    "MPL",
    "lockstep-bench-peers",
    "lockstep-bench-peers",
    "Unknown package origin",
    "2026-11-23"
);
