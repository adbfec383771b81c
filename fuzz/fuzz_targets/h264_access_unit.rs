// SPDX-License-Identifier: MPL-2.0
//! H.264 access units in either framing, several in a row through one reader.
#![no_main]

use gstlockstep::bitstream::AccessUnitReader;
use gstlockstep::bitstream::h264::H264Reader;
use libfuzzer_sys::fuzz_target;

#[path = "common.rs"]
mod common;

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    let mut reader = H264Reader::new();
    reader.set_framing(common::framing(selector));
    for access_unit in common::chunks(rest) {
        let info = reader.read_access_unit(access_unit);
        common::check(&info);
        // H.264 has no clock without a pic_struct.
        assert!(info.clocks.is_empty() || info.pic_struct.is_some());
    }
});
