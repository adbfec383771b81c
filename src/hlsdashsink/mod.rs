// SPDX-License-Identifier: MPL-2.0
#![doc = include_str!("../../docs/elements/hlsdashsink.md")]

use gst::glib;
use gst::prelude::*;

mod imp;
pub mod videopad;

pub use videopad::HlsDashSinkVideoPad;

glib::wrapper! {
    pub struct HlsDashSink(ObjectSubclass<imp::HlsDashSink>) @extends gst::Bin, gst::Element, gst::Object, @implements gst::ChildProxy;
}

/// The kind of presentation.
#[derive(Debug, Eq, PartialEq, Ord, PartialOrd, Hash, Clone, Copy, glib::Enum)]
#[repr(u32)]
#[enum_type(name = "GstHlsDashSinkPlaylistType")]
pub enum HlsDashSinkPlaylistType {
    #[enum_value(
        name = "Live: sliding window of playlist-length segments, dynamic MPD",
        nick = "live"
    )]
    Live = 0,
    #[enum_value(
        name = "Event: segments are only appended (EXT-X-PLAYLIST-TYPE:EVENT), dynamic MPD",
        nick = "event"
    )]
    Event = 1,
    #[enum_value(
        name = "VOD: manifests written once at EOS (EXT-X-PLAYLIST-TYPE:VOD, static MPD)",
        nick = "vod"
    )]
    Vod = 2,
}

/// The segment container.
#[derive(Debug, Eq, PartialEq, Ord, PartialOrd, Hash, Clone, Copy, glib::Enum)]
#[repr(u32)]
#[enum_type(name = "GstHlsDashSinkSegmentFormat")]
pub enum HlsDashSinkSegmentFormat {
    #[enum_value(
        name = "CMAF: fragmented MP4, one init segment + .m4s media segments (HLS and DASH)",
        nick = "cmaf"
    )]
    Cmaf = 0,
    #[enum_value(
        name = "MPEG-TS: .ts media segments for HLS (set dash=false)",
        nick = "ts"
    )]
    Ts = 1,
}

/// How media segments are named.
#[derive(Debug, Eq, PartialEq, Ord, PartialOrd, Hash, Clone, Copy, glib::Enum)]
#[repr(u32)]
#[enum_type(name = "GstHlsDashSinkSegmentNaming")]
pub enum HlsDashSinkSegmentNaming {
    #[enum_value(
        name = "Number: <representation>_<k>.m4s ($Number$ = k, the segment's index on the epoch grid)",
        nick = "number"
    )]
    Number = 0,
    #[enum_value(
        name = "Time: <representation>_<t>.m4s ($Time$ = the segment's start on the epoch timeline in the track's timescale; DASH needs segment-timeline=true)",
        nick = "time"
    )]
    Time = 1,
}

pub fn register(plugin: &gst::Plugin) -> Result<(), glib::BoolError> {
    gst::Element::register(
        Some(plugin),
        "hlsdashsink",
        gst::Rank::NONE,
        HlsDashSink::static_type(),
    )
}
