// SPDX-License-Identifier: MPL-2.0
//! The CMAF and MPEG-TS writers on arbitrary input: a decoder configuration record (parsed for
//! the RFC 6381 codec string and, for TS, its parameter sets) and samples. Selector bit 0: H.264 / H.265; bits 1..: keyframe pattern.
//! First chunk: the record; further chunks: samples. The record is also read as an AAC
//! AudioSpecificConfig and, when it is one, written as an audio init segment.
//!
//! Checks: no panic; every box the writer emits has a size that tiles its parent exactly; the
//! codec strings use RFC 6381 characters only; an accepted AAC config has a usable rate and
//! frame length; a TS segment is whole 188-byte packets.
#![no_main]

use gstlockstep::packaging::aac::AudioSpecificConfig;
use gstlockstep::packaging::fmp4::{
    AudioTrack, Sample, VideoCodec, VideoTrack, audio_init_segment, init_segment, media_segment,
    rfc6381_codec,
};
use gstlockstep::packaging::ts;
use libfuzzer_sys::fuzz_target;

#[path = "common.rs"]
#[allow(dead_code)] // the bit-reader helpers are not used here
mod common;

/// The top-level boxes of `data` tile it exactly.
fn tiles(data: &[u8]) -> bool {
    let mut pos = 0usize;
    while pos < data.len() {
        let Some(size) = data.get(pos..pos + 4) else {
            return false;
        };
        let size = u32::from_be_bytes([size[0], size[1], size[2], size[3]]) as usize;
        if size < 8 || pos + size > data.len() {
            return false;
        }
        pos += size;
    }
    pos == data.len()
}

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    let codec = if selector & 1 == 0 {
        VideoCodec::H264
    } else {
        VideoCodec::H265
    };
    let mut chunks = common::chunks(rest);
    let record = chunks.next().unwrap_or(&[]).to_vec();
    if let Ok(text) = rfc6381_codec(codec, &record) {
        assert!(text.chars().all(|c| c.is_ascii_alphanumeric() || c == '.'));
    }
    if let Ok(config) = AudioSpecificConfig::parse(&record) {
        assert!(config.sampling_rate > 0 && matches!(config.frame_length, 960 | 1024));
        assert!(
            config
                .codec_string()
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '.')
        );
        let audio = AudioTrack {
            config,
            bandwidth: u32::from(selector) * 1000,
        };
        if let Ok(init) = audio_init_segment(&audio) {
            assert!(tiles(&init));
        }
    }
    let track = VideoTrack {
        codec,
        codec_config: record,
        width: u16::from(selector) * 3,
        height: u16::from(selector) * 2,
        timescale: 90_000,
    };
    if let Ok(init) = init_segment(&track) {
        assert!(tiles(&init));
    }
    let samples: Vec<Sample<'_>> = chunks
        .enumerate()
        .map(|(i, chunk)| Sample {
            data: chunk,
            duration: 3600,
            keyframe: (selector >> (1 + i % 7)) & 1 == 1,
            composition_offset: (i as i32 % 5 - 2) * 3600,
        })
        .collect();
    if let Ok(segment) = media_segment(u32::from(selector), u64::from(selector) << 33, &samples) {
        assert!(tiles(&segment));
    }
    if let Ok(sets) = ts::ParameterSets::from_record(codec, &track.codec_config) {
        let ts_samples: Vec<ts::TsSample<'_>> = samples
            .iter()
            .enumerate()
            .map(|(i, s)| ts::TsSample {
                data: s.data,
                keyframe: s.keyframe,
                pts: (i as u64 + 1) * 3600 + (u64::from(selector) << 32),
                dts: i as u64 * 3600 + (u64::from(selector) << 32),
            })
            .collect();
        let segment = ts::segment(codec, &sets, &ts_samples);
        assert_eq!(segment.len() % ts::PACKET_SIZE, 0);
        assert!(segment.chunks(ts::PACKET_SIZE).all(|p| p[0] == 0x47));
    }
});
