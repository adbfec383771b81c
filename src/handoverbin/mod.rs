// SPDX-License-Identifier: MPL-2.0
//! `handoverbin`: replaces a running encoder at a negotiated frame, with no glitch.
//!
//! Raw video with a `GstVideoTimeCodeMeta` on every frame comes in (`timecodeparse`,
//! `timecodestamper`); encoded video goes out. Inside: a `tee` feeding each encoder branch
//! (`queue ! <encoder description>`) and a `synchronizedswitch` (the shared switching core)
//! choosing the branch on air. `update-encoder` starts an updated branch beside the running one
//! (the *target*); the two branch endpoints negotiate the handover frame over the versioned
//! protocol of [`crate::handover`] (messages pass through their byte encoding); both encoders get
//! a force-key-unit for that frame; the switch happens exactly there; the target branch is then
//! drained and removed (or kept as a standby with `keep-target`).
//!
//! Bus messages (element messages from the bin): `handover-requested`, `handover-negotiated`,
//! `handover-complete`, `handover-failed`.

use gst::glib;
use gst::prelude::*;

mod imp;
mod memory;

glib::wrapper! {
    pub struct HandoverBin(ObjectSubclass<imp::HandoverBin>) @extends gst::Bin, gst::Element, gst::Object, @implements gst::ChildProxy;
}

pub fn register(plugin: &gst::Plugin) -> Result<(), glib::BoolError> {
    gst::Element::register(
        Some(plugin),
        "handoverbin",
        gst::Rank::NONE,
        HandoverBin::static_type(),
    )
}
