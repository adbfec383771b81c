// SPDX-License-Identifier: MPL-2.0
#![allow(clippy::non_send_fields_in_send_ty, unused_doc_comments)]

//! lockstep: GStreamer elements for redundant live video.
//!
//! - `timecodeparse`: SMPTE ST 12 timecode from H.264/H.265 SEI, upstream metas or running time,
//!   resolved to UTC, optionally made the stream's timeline.
//! - `synchronizedswitch`: N redundant branches in, one stream out, every frame exactly once.
//! - `handoverbin`: replaces a running encoder at a negotiated frame, with no glitch.
//! - `hlsdashsink`: CMAF segments cut on the epoch grid of the frames' timecode, HLS playlists
//!   and a DASH MPD that redundant packagers write byte for byte alike.
//!
//! Pure cores (no GStreamer types) are public so tests, benchmarks and fuzzers can use them:
//! [`bitstream`] (SEI/SPS readers), [`timecode`] (timecode model and the UTC date rule),
//! [`switching`], [`packaging`] and [`handover`] (the encoder handover negotiation).

use gst::glib;

pub mod bitstream;
pub mod framemeta;
mod glue;
pub mod handover;
pub mod handoverbin;
pub mod hlsdashsink;
pub mod packaging;
pub mod switching;
pub mod synchronizedswitch;
pub mod timecode;
pub mod timecodeparse;

fn plugin_init(plugin: &gst::Plugin) -> Result<(), glib::BoolError> {
    timecodeparse::register(plugin)?;
    synchronizedswitch::register(plugin)?;
    handoverbin::register(plugin)?;
    hlsdashsink::register(plugin)?;
    Ok(())
}

gst::plugin_define!(
    lockstep,
    env!("CARGO_PKG_DESCRIPTION"),
    plugin_init,
    concat!(env!("CARGO_PKG_VERSION"), "-", env!("COMMIT_ID")),
    "MPL",
    env!("CARGO_PKG_NAME"),
    env!("CARGO_PKG_NAME"),
    // No public repository yet: GStreamer's own default for an unknown origin.
    "Unknown package origin",
    env!("BUILD_REL_DATE")
);
