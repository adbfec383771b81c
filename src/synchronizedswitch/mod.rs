// SPDX-License-Identifier: MPL-2.0
//! `synchronizedswitch`: N redundant branches in, one stream out, every frame exactly once.
//!
//! Each request pad `sink_%u` carries the same content from a redundant branch (H.264/H.265
//! access units or raw video). Frames are named by their timecode (`GstVideoTimeCodeMeta`, as
//! `timecodeparse` or `timecodestamper` attach it), by their UTC reference timestamp
//! (`timestamp/x-unix`) or by their running time (property `align-by`). The switching core
//! ([`crate::switching::SwitchCore`], shared with `handoverbin`) holds up to `max-window` frames
//! per pad and outputs each name once, in order: from the active pad as frames arrive, switching
//! branch only where that loses and repeats nothing (onto a keyframe of the incoming branch, at a
//! cut of the outgoing one when it reorders frames).
//!
//! Control: pad property `priority` (lower = preferred) and read-only `healthy`; element property
//! `active-pad` (a lossless switch at the next possible frame); action signals `switch-at` (pad,
//! timecode) and `switch-at-frame` (pad, frame number) for a switch exactly at one frame;
//! automatic failover on stall (`timeout`), EOS, error and timecode jumps; optional
//! `auto-switch-back` after `switch-back-delay`. Messages: `synchronizedswitch-switched`,
//! `synchronizedswitch-gap`, `synchronizedswitch-switch-failed`. Read-only `stats`.

use gst::glib;
use gst::prelude::*;

mod imp;

glib::wrapper! {
    pub struct SynchronizedSwitch(ObjectSubclass<imp::SynchronizedSwitch>) @extends gst::Element, gst::Object, @implements gst::ChildProxy;
}

glib::wrapper! {
    /// A request sink pad of `synchronizedswitch`, with properties `priority` and `healthy`.
    pub struct SynchronizedSwitchSinkPad(ObjectSubclass<imp::SinkPad>) @extends gst::Pad, gst::Object;
}

/// How frames of different branches are recognised as the same frame.
#[derive(Debug, Eq, PartialEq, Ord, PartialOrd, Hash, Clone, Copy, glib::Enum)]
#[repr(u32)]
#[enum_type(name = "GstSynchronizedSwitchAlignBy")]
pub enum AlignBy {
    #[enum_value(
        name = "Timecode: the GstVideoTimeCodeMeta (day of the daily jam x frames per day + frame of the day)",
        nick = "timecode"
    )]
    Timecode = 0,
    #[enum_value(
        name = "Reference timestamp: the timestamp/x-unix GstReferenceTimestampMeta (UTC / frame period)",
        nick = "reference-timestamp"
    )]
    ReferenceTimestamp = 1,
    #[enum_value(
        name = "PTS: the running time of the PTS / frame period (branches must share a timeline)",
        nick = "pts"
    )]
    Pts = 2,
}

pub fn register(plugin: &gst::Plugin) -> Result<(), glib::BoolError> {
    gst::Element::register(
        Some(plugin),
        "synchronizedswitch",
        gst::Rank::NONE,
        SynchronizedSwitch::static_type(),
    )
}
