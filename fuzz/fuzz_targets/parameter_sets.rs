// SPDX-License-Identifier: MPL-2.0
//! The switch-frame parameter set cache: codec_data, then access units observed; each one is
//! also completed as if it were a switch frame.
//!
//! Selector bit 0: H.264 or H.265; bits 1..2: the framing. The first chunk is the codec_data.
#![no_main]

use gstlockstep::bitstream::parameter_sets::{Codec, ParameterSetCache};
use libfuzzer_sys::fuzz_target;

#[path = "common.rs"]
#[allow(dead_code)]
mod common;

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    let codec = if selector & 1 == 0 {
        Codec::H264
    } else {
        Codec::H265
    };
    let framing = common::framing(selector >> 1);
    let mut chunks = common::chunks(rest);
    let codec_data = chunks.next().unwrap_or(&[]);
    let mut cache = ParameterSetCache::from_codec_data(codec, framing, codec_data)
        .unwrap_or_else(|_| ParameterSetCache::new(codec, framing));
    for access_unit in chunks {
        if let Some(completed) = cache.complete(access_unit) {
            // What was completed carries the parameter sets, and is longer.
            assert!(cache.carries_parameter_sets(&completed));
            assert!(completed.len() > access_unit.len());
        }
        cache.observe(access_unit);
    }
});
