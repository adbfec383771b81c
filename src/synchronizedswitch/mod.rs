// SPDX-License-Identifier: MPL-2.0
#![doc = include_str!("../../docs/elements/synchronizedswitch.md")]

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
