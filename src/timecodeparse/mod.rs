// SPDX-License-Identifier: MPL-2.0
#![doc = include_str!("../../docs/elements/timecodeparse.md")]

use gst::glib;
use gst::prelude::*;

mod imp;
pub mod latch;

glib::wrapper! {
    pub struct TimecodeParse(ObjectSubclass<imp::TimecodeParse>) @extends gst::Element, gst::Object;
}

/// Where the timecode comes from.
#[derive(Debug, Eq, PartialEq, Ord, PartialOrd, Hash, Clone, Copy, glib::Enum)]
#[repr(u32)]
#[enum_type(name = "GstTimecodeParseSource")]
pub enum TimecodeSource {
    #[enum_value(
        name = "Embedded: H.264 picture timing SEI or H.265 time_code SEI",
        nick = "embedded"
    )]
    Embedded = 0,
    #[enum_value(name = "Meta: an upstream GstVideoTimeCodeMeta", nick = "meta")]
    Meta = 1,
    #[enum_value(
        name = "Media timestamp: the running time, from first-timecode",
        nick = "media-timestamp"
    )]
    MediaTimestamp = 2,
}

/// When the embedded timecode is read again after the latch.
#[derive(Debug, Eq, PartialEq, Ord, PartialOrd, Hash, Clone, Copy, glib::Enum)]
#[repr(u32)]
#[enum_type(name = "GstTimecodeParseResync")]
pub enum TimecodeResync {
    #[enum_value(
        name = "On discontinuity: latch once, advance frame by frame, re-read after a discontinuity",
        nick = "on-discontinuity"
    )]
    OnDiscontinuity = 0,
    #[enum_value(
        name = "Every frame: follow the embedded timecode whenever it differs",
        nick = "every-frame"
    )]
    EveryFrame = 1,
}

/// Which timeline the output carries.
#[derive(Debug, Eq, PartialEq, Ord, PartialOrd, Hash, Clone, Copy, glib::Enum)]
#[repr(u32)]
#[enum_type(name = "GstTimecodeParseTimeline")]
pub enum TimecodeTimeline {
    #[enum_value(name = "Keep: timestamps and segment pass unchanged", nick = "keep")]
    Keep = 0,
    #[enum_value(
        name = "Timecode: running time = UTC instant in ns since the Unix epoch",
        nick = "timecode"
    )]
    Timecode = 1,
}

/// How n_frames of an SEI clock timestamp becomes a frame number.
#[derive(Debug, Eq, PartialEq, Ord, PartialOrd, Hash, Clone, Copy, glib::Enum)]
#[repr(u32)]
#[enum_type(name = "GstTimecodeParseFramesScaling")]
pub enum TimecodeFramesScaling {
    #[enum_value(
        name = "Auto: n_frames as coded when valid, else the VUI formula",
        nick = "auto"
    )]
    Auto = 0,
    #[enum_value(name = "Raw: n_frames as coded (FFmpeg, GStreamer 1.22)", nick = "raw")]
    Raw = 1,
    #[enum_value(
        name = "Spec: n_frames x (1 + field_based) x num_units_in_tick / time_scale",
        nick = "spec"
    )]
    Spec = 2,
}

pub fn register(plugin: &gst::Plugin) -> Result<(), glib::BoolError> {
    gst::Element::register(
        Some(plugin),
        "timecodeparse",
        gst::Rank::NONE,
        TimecodeParse::static_type(),
    )
}
