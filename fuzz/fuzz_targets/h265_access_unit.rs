// SPDX-License-Identifier: MPL-2.0
//! H.265 access units in either framing, several in a row through one reader.
#![no_main]

use gstlockstep::bitstream::AccessUnitReader;
use gstlockstep::bitstream::h265::H265Reader;
use libfuzzer_sys::fuzz_target;

#[path = "common.rs"]
mod common;

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    let mut reader = H265Reader::new();
    reader.set_framing(common::framing(selector));
    for access_unit in common::chunks(rest) {
        let info = reader.read_access_unit(access_unit);
        common::check(&info);
        assert!(info.pic_struct.is_none());
        assert!(info.timing.is_none_or(|t| !t.field_ticks));
    }
});
