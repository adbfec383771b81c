// SPDX-License-Identifier: MPL-2.0
//! codec_data (avcC / hvcC, or Annex B parameter sets) followed by access units.
//!
//! Selector bit 0: H.264 or H.265. Bit 1: after set_codec_data, force the framing named by
//! bits 2..3 (as caps would) instead of keeping the one codec_data implies. The first chunk is
//! the codec_data, the others are access units.
#![no_main]

use gstlockstep::bitstream::AccessUnitReader;
use gstlockstep::bitstream::h264::H264Reader;
use gstlockstep::bitstream::h265::H265Reader;
use libfuzzer_sys::fuzz_target;

#[path = "common.rs"]
mod common;

fn run(reader: &mut dyn AccessUnitReader, selector: u8, rest: &[u8]) {
    let mut chunks = common::chunks(rest);
    let codec_data = chunks.next().unwrap_or(&[]);
    let _ = reader.set_codec_data(codec_data);
    if selector & 2 != 0 {
        reader.set_framing(common::framing(selector >> 2));
    }
    for access_unit in chunks {
        common::check(&reader.read_access_unit(access_unit));
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    if selector & 1 == 0 {
        run(&mut H264Reader::new(), selector, rest);
    } else {
        run(&mut H265Reader::new(), selector, rest);
    }
});
