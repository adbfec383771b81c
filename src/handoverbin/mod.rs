// SPDX-License-Identifier: MPL-2.0
#![doc = include_str!("../../docs/elements/handoverbin.md")]

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
