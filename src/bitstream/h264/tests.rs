// SPDX-License-Identifier: MPL-2.0
//! Unit tests of the parent module.

use super::*;
use crate::bitstream::nal::{write_annex_b, write_length_prefixed};
use crate::bitstream::sei::write_sei_nal;
use crate::bitstream::testutil::{
    H264Rules, check_au, expected_dump, fixture, header_number, split_access_units,
};
use crate::bitstream::vui::{AspectRatio, ColourDescription, EXTENDED_SAR, VideoSignalType};
use proptest::prelude::*;

fn hrd(cpb_len: u8, dpb_len: u8, time_offset_length: u8) -> H264Hrd {
    H264Hrd {
        cpb_cnt: 1,
        bit_rate_scale: 4,
        cpb_size_scale: 6,
        initial_cpb_removal_delay_length: 24,
        cpb_removal_delay_length: cpb_len,
        dpb_output_delay_length: dpb_len,
        time_offset_length,
    }
}

/// A Baseline SPS with a VUI: 30 fps field tick, these HRDs, pic_struct_present_flag.
fn sps_with(
    id: u8,
    nal_hrd: Option<H264Hrd>,
    vcl_hrd: Option<H264Hrd>,
    pic_struct_present: bool,
) -> H264Sps {
    H264Sps {
        vui: Some(H264Vui {
            timing: Some(H264TimingInfo {
                num_units_in_tick: 1,
                time_scale: 60,
                fixed_frame_rate: true,
            }),
            nal_hrd,
            vcl_hrd,
            low_delay_hrd: false,
            pic_struct_present,
            ..Default::default()
        }),
        ..H264Sps::example(id)
    }
}

fn clock(h: u8, m: u8, s: u8, frames: u16) -> ClockTimestamp {
    ClockTimestamp {
        ct_type: 0,
        nuit_field_based: true,
        counting_type: 0,
        full_timestamp: true,
        n_frames: frames,
        seconds: Some(s),
        minutes: Some(m),
        hours: Some(h),
        ..Default::default()
    }
}

fn pic_timing(pic_struct: u8, clocks: &[Option<ClockTimestamp>]) -> PicTiming {
    let mut timing = PicTiming {
        pic_struct: Some(pic_struct),
        ..Default::default()
    };
    for (slot, clock) in timing.clock_timestamps.iter_mut().zip(clocks) {
        *slot = *clock;
    }
    timing
}

/// SPS, PPS 0 → SPS, then the SEI NAL units, then an IDR slice.
fn access_unit(sps: &H264Sps, sei_nals: &[Vec<u8>]) -> Vec<u8> {
    let sps_nal = sps.to_nal();
    let pps = pps_nal(0, sps.seq_parameter_set_id);
    let slice = slice_nal(true, 0);
    let mut nals: Vec<&[u8]> = vec![&[0x09, 0xf0], &sps_nal, &pps];
    nals.extend(sei_nals.iter().map(Vec::as_slice));
    nals.push(&slice);
    write_annex_b(&nals)
}

fn read_one(data: &[u8]) -> AccessUnitInfo {
    H264Reader::new().read_access_unit(data)
}

#[test]
fn sps_round_trips_through_the_writer() {
    let mut variants = vec![
        H264Sps::example(0),
        sps_with(1, None, None, true),
        sps_with(2, Some(hrd(10, 7, 0)), None, true),
        sps_with(3, None, Some(hrd(24, 24, 24)), false),
        sps_with(4, Some(hrd(32, 1, 31)), Some(hrd(32, 1, 31)), true),
    ];
    // High profiles: chroma formats, bit depths, scaling matrices (8 and 12 lists).
    for (profile_idc, chroma_format_idc) in [(100, 1), (110, 0), (122, 2), (244, 3)] {
        let mut sps = sps_with(5, None, None, true);
        sps.profile_idc = profile_idc;
        sps.chroma_format_idc = chroma_format_idc;
        sps.separate_colour_plane = chroma_format_idc == 3;
        sps.bit_depth_luma = 10;
        sps.bit_depth_chroma = 9;
        sps.seq_scaling_matrix_present = true;
        variants.push(sps);
    }
    // pic_order_cnt_type 1 and 2, interlaced, no cropping.
    let mut sps = sps_with(6, Some(hrd(10, 7, 0)), None, true);
    sps.pic_order_cnt_type = 1;
    sps.log2_max_pic_order_cnt_lsb = 0;
    sps.num_ref_frames_in_pic_order_cnt_cycle = 3;
    sps.frame_mbs_only = false;
    sps.mb_adaptive_frame_field = true;
    sps.frame_cropping = None;
    variants.push(sps);
    let mut sps = H264Sps::example(31);
    sps.pic_order_cnt_type = 2;
    sps.log2_max_pic_order_cnt_lsb = 0;
    variants.push(sps);
    // Every common VUI part, extended SAR.
    let mut sps = sps_with(7, None, None, true);
    if let Some(vui) = sps.vui.as_mut() {
        vui.common.aspect_ratio = Some(AspectRatio {
            aspect_ratio_idc: EXTENDED_SAR,
            sar_width: 4,
            sar_height: 3,
        });
        vui.common.overscan_appropriate = Some(true);
        vui.common.video_signal_type = Some(VideoSignalType {
            video_format: 5,
            video_full_range: false,
            colour_description: Some(ColourDescription {
                colour_primaries: 1,
                transfer_characteristics: 1,
                matrix_coefficients: 1,
            }),
        });
        vui.common.chroma_sample_loc = Some((0, 2));
    }
    variants.push(sps);
    for sps in variants {
        let nal = sps.to_nal();
        let mut buf = Vec::new();
        let parsed = H264Sps::parse(unescape_rbsp(&nal[1..], &mut buf));
        assert_eq!(parsed, Ok(sps), "{sps:?}");
    }
}

#[test]
fn sps_without_vui_gives_no_timing_and_no_clocks() {
    let sps = H264Sps::example(0);
    assert_eq!(sps.vui_timing(), None);
    assert_eq!(sps.pic_timing_layout().cpb_dpb_delay_lengths, None);
    assert!(!sps.pic_timing_layout().pic_struct_present);
    // A pic_timing SEI under such an SPS carries nothing (and is not a fault).
    let sei = write_sei_nal(&[6], &[(1, &[0x80])]);
    let info = read_one(&access_unit(&sps, &[sei]));
    assert_eq!(info.clocks, []);
    assert_eq!(info.pic_struct, None);
    assert_eq!(info.timing, None);
    assert_eq!(info.faults, []);
    assert!(info.keyframe);
}

#[test]
fn layouts_from_hrd() {
    // No HRD: time_offset_length is inferred to be 24.
    let none = sps_with(0, None, None, true).pic_timing_layout();
    assert_eq!(
        none,
        PicTimingLayout {
            cpb_dpb_delay_lengths: None,
            pic_struct_present: true,
            time_offset_length: 24
        }
    );
    // An HRD that says 0 means 0, not 24.
    let nal = sps_with(0, Some(hrd(10, 7, 0)), None, true).pic_timing_layout();
    assert_eq!(
        nal,
        PicTimingLayout {
            cpb_dpb_delay_lengths: Some((10, 7)),
            pic_struct_present: true,
            time_offset_length: 0
        }
    );
    let vcl = sps_with(0, None, Some(hrd(5, 6, 7)), false).pic_timing_layout();
    assert_eq!(
        vcl,
        PicTimingLayout {
            cpb_dpb_delay_lengths: Some((5, 6)),
            pic_struct_present: false,
            time_offset_length: 7
        }
    );
    // Both: the NAL HRD is used.
    let both = sps_with(0, Some(hrd(10, 7, 0)), Some(hrd(20, 21, 22)), true).pic_timing_layout();
    assert_eq!(both.cpb_dpb_delay_lengths, Some((10, 7)));
    assert_eq!(both.time_offset_length, 0);
}

#[test]
fn time_offset_is_24_bits_without_hrd_and_absent_with_a_zero_length_hrd() {
    let mut c = clock(16, 30, 0, 10);
    c.time_offset = -5;
    let sps = sps_with(0, None, None, true);
    let timing = pic_timing(0, &[Some(c)]);
    let payload = timing.to_payload(&sps.pic_timing_layout());
    // 4 (pic_struct) + 1 + 19 + 17 (full time) + 24 (time_offset) = 65 bits → 9 bytes.
    assert_eq!(payload.len(), 9);
    let info = read_one(&access_unit(
        &sps,
        &[timing.to_sei_nal(&sps.pic_timing_layout())],
    ));
    assert_eq!(info.clocks, [c]);
    assert_eq!(info.faults, []);

    let sps = sps_with(0, Some(hrd(10, 7, 0)), None, true);
    let mut timing = pic_timing(0, &[Some(clock(16, 30, 0, 10))]);
    timing.cpb_removal_delay = Some(1023);
    timing.dpb_output_delay = Some(4);
    let payload = timing.to_payload(&sps.pic_timing_layout());
    // 17 (delays) + 4 + 1 + 19 + 17 = 58 bits → 8 bytes.
    assert_eq!(payload.len(), 8);
    assert_eq!(
        PicTiming::parse(&payload, &sps.pic_timing_layout()),
        Ok(timing)
    );
    let info = read_one(&access_unit(
        &sps,
        &[timing.to_sei_nal(&sps.pic_timing_layout())],
    ));
    assert_eq!(info.clocks, [clock(16, 30, 0, 10)]);
    assert_eq!(info.pic_struct, Some(0));
    assert_eq!(
        info.timing,
        Some(VuiTiming {
            num_units_in_tick: 1,
            time_scale: 60,
            field_ticks: true
        })
    );
}

#[test]
fn pic_struct_absent_means_no_clocks() {
    let sps = sps_with(0, Some(hrd(10, 7, 0)), None, false);
    let timing = PicTiming {
        cpb_removal_delay: Some(2),
        dpb_output_delay: Some(0),
        ..Default::default()
    };
    let payload = timing.to_payload(&sps.pic_timing_layout());
    assert_eq!(
        PicTiming::parse(&payload, &sps.pic_timing_layout()),
        Ok(timing)
    );
    let info = read_one(&access_unit(
        &sps,
        &[timing.to_sei_nal(&sps.pic_timing_layout())],
    ));
    assert_eq!(info.clocks, []);
    assert_eq!(info.pic_struct, None);
    assert_eq!(info.faults, []);
}

#[test]
fn several_clocks_for_field_and_repeat_pic_structs() {
    let sps = sps_with(0, None, None, true);
    let layout = sps.pic_timing_layout();
    let a = clock(1, 2, 3, 4);
    let mut b = clock(1, 2, 3, 5);
    b.ct_type = 1;
    b.nuit_field_based = false;
    let mut c = clock(23, 59, 59, 29);
    c.discontinuity = true;
    c.cnt_dropped = true;
    c.counting_type = 4;
    c.time_offset = 0x7f_ffff;
    for (pic_struct, clocks) in [
        (3u8, vec![Some(a), Some(b)]),
        (4, vec![None, Some(b)]),
        (5, vec![Some(a), Some(b), Some(c)]),
        (6, vec![Some(c), None, Some(a)]),
        (7, vec![Some(a), Some(c)]),
        (8, vec![None, None, None]),
    ] {
        assert_eq!(
            usize::from(NUM_CLOCK_TS[usize::from(pic_struct)]),
            clocks.len()
        );
        let timing = pic_timing(pic_struct, &clocks);
        let info = read_one(&access_unit(&sps, &[timing.to_sei_nal(&layout)]));
        let expected: Vec<ClockTimestamp> = clocks.iter().flatten().copied().collect();
        assert_eq!(info.clocks, expected, "pic_struct {pic_struct}");
        assert_eq!(info.pic_struct, Some(pic_struct));
        assert_eq!(info.faults, []);
    }
}

#[test]
fn partial_timestamps() {
    let sps = sps_with(0, None, None, true);
    let layout = sps.pic_timing_layout();
    let partial = |seconds, minutes, hours| ClockTimestamp {
        counting_type: 4,
        full_timestamp: false,
        n_frames: 2,
        seconds,
        minutes,
        hours,
        ..Default::default()
    };
    for c in [
        partial(None, None, None),
        partial(Some(0), None, None),
        partial(Some(59), Some(1), None),
        partial(Some(30), Some(10), Some(5)),
    ] {
        let info = read_one(&access_unit(
            &sps,
            &[pic_timing(0, &[Some(c)]).to_sei_nal(&layout)],
        ));
        assert_eq!(info.clocks, [c]);
    }
}

#[test]
fn emulation_prevention_inside_the_payload() {
    // 24-bit delays of 0 and a clock of all zeros put long zero runs in the payload.
    let sps = sps_with(0, Some(hrd(24, 24, 24)), None, true);
    let layout = sps.pic_timing_layout();
    let zero_clock = ClockTimestamp {
        full_timestamp: true,
        seconds: Some(0),
        minutes: Some(0),
        hours: Some(0),
        time_offset: 1,
        ..Default::default()
    };
    let timing = PicTiming {
        cpb_removal_delay: Some(0),
        dpb_output_delay: Some(1),
        pic_struct: Some(0),
        clock_timestamps: [Some(zero_clock), None, None],
    };
    let payload = timing.to_payload(&layout);
    assert!(
        payload
            .windows(3)
            .any(|w| w[0] == 0 && w[1] == 0 && w[2] <= 3),
        "{payload:02x?}"
    );
    let sei = timing.to_sei_nal(&layout);
    assert!(
        sei.windows(3).any(|w| w == [0, 0, 3]),
        "not escaped: {sei:02x?}"
    );
    assert!(!sei.windows(3).any(|w| w[0] == 0 && w[1] == 0 && w[2] <= 2));
    let info = read_one(&access_unit(&sps, &[sei]));
    assert_eq!(info.clocks, [zero_clock]);
    assert_eq!(info.faults, []);
}

#[test]
fn several_messages_in_one_sei_nal_and_large_type_and_size() {
    let sps = sps_with(0, None, None, true);
    let layout = sps.pic_timing_layout();
    let mut user_data =
        b"\xdc\x45\xe9\xbd\xe6\xd9\x48\xb7\x96\x2c\xd8\x20\xd9\x23\xee\xef".to_vec();
    user_data.extend(std::iter::repeat_n(b'x', 400)); // payloadSize 416 = ff a1
    let payload = pic_timing(0, &[Some(clock(10, 0, 0, 1))]).to_payload(&layout);
    let sei = write_sei_nal(
        &[6],
        &[
            (5, &user_data),
            (300, &[1, 2, 3]),
            (1, &payload),
            (6, &[0x84, 0x80]),
        ],
    );
    let info = read_one(&access_unit(&sps, &[sei]));
    assert_eq!(info.clocks, [clock(10, 0, 0, 1)]);
    assert_eq!(info.faults, []);
}

#[test]
fn two_sps_with_different_layouts_selected_by_pps() {
    let sps_hrd = sps_with(3, Some(hrd(10, 7, 0)), None, true);
    let sps_plain = sps_with(9, None, None, true);
    let c = clock(12, 34, 56, 7);
    let sei_hrd = pic_timing(0, &[Some(c)]);
    let sei_hrd = PicTiming {
        cpb_removal_delay: Some(99),
        dpb_output_delay: Some(3),
        ..sei_hrd
    };
    let sei_hrd = sei_hrd.to_sei_nal(&sps_hrd.pic_timing_layout());
    let sei_plain = pic_timing(0, &[Some(c)]).to_sei_nal(&sps_plain.pic_timing_layout());
    let mut reader = H264Reader::new();
    let parameter_sets = write_annex_b(&[
        &sps_hrd.to_nal(),
        &sps_plain.to_nal(),
        &pps_nal(1, 3),
        &pps_nal(2, 9),
    ]);
    // The AU that carries only the parameter sets has no SEI and no slice.
    let info = reader.read_access_unit(&parameter_sets);
    assert_eq!(info.faults, []);
    assert_eq!(info.clocks, []);
    for _ in 0..2 {
        // The last SPS parsed is the plain one, but the slice names PPS 1 → SPS 3 (HRD).
        let info = reader.read_access_unit(&write_annex_b(&[&sei_hrd, &slice_nal(false, 1)]));
        assert_eq!(
            (info.clocks.as_slice(), info.faults.as_slice()),
            (&[c][..], &[][..])
        );
        assert!(!info.keyframe);
        let info = reader.read_access_unit(&write_annex_b(&[&sei_plain, &slice_nal(true, 2)]));
        assert_eq!(
            (info.clocks.as_slice(), info.faults.as_slice()),
            (&[c][..], &[][..])
        );
        assert!(info.keyframe);
    }
    // With the wrong SPS (the slice names the other PPS) the bits do not line up: the
    // HRD-less layout reads the 17 delay bits as pic_struct and clocks.
    let info = reader.read_access_unit(&write_annex_b(&[&sei_hrd, &slice_nal(false, 2)]));
    assert_ne!(info.clocks, [c]);
    // No slice: the SPS parsed last (the plain one) is used.
    let info = reader.read_access_unit(&write_annex_b(&[&sei_plain]));
    assert_eq!(info.clocks, [c]);
    // A slice naming an unknown PPS falls back to the last SPS too.
    let info = reader.read_access_unit(&write_annex_b(&[&sei_plain, &slice_nal(false, 200)]));
    assert_eq!(info.clocks, [c]);
}

#[test]
fn sei_before_any_sps() {
    let sps = sps_with(0, None, None, true);
    let sei = pic_timing(0, &[Some(clock(1, 1, 1, 1))]).to_sei_nal(&sps.pic_timing_layout());
    let mut reader = H264Reader::new();
    let info = reader.read_access_unit(&write_annex_b(&[&sei, &slice_nal(true, 0)]));
    assert_eq!(info.faults, [Fault::SeiWithoutSps]);
    assert_eq!(info.clocks, []);
    assert_eq!(info.timing, None);
    assert!(info.keyframe);
    // Once the SPS (and PPS) arrive, the same SEI reads.
    let info = reader.read_access_unit(&access_unit(&sps, &[sei]));
    assert_eq!(info.clocks, [clock(1, 1, 1, 1)]);
}

#[test]
fn out_of_range_values_are_malformed_sei() {
    let sps = sps_with(0, None, None, true);
    let layout = sps.pic_timing_layout();
    let mut bad_seconds = clock(1, 1, 1, 1);
    bad_seconds.seconds = Some(60);
    let mut bad_minutes = clock(1, 1, 1, 1);
    bad_minutes.minutes = Some(63);
    let mut bad_hours = clock(1, 1, 1, 1);
    bad_hours.hours = Some(24);
    for bad in [bad_seconds, bad_minutes, bad_hours] {
        let info = read_one(&access_unit(
            &sps,
            &[pic_timing(0, &[Some(bad)]).to_sei_nal(&layout)],
        ));
        assert_eq!(
            (info.clocks.as_slice(), info.faults.as_slice()),
            (&[][..], &[Fault::MalformedSei][..])
        );
    }
    // pic_struct 9..15 are reserved.
    let mut w = BitWriter::new();
    w.u(4, 9).u(8, 0xff).sei_payload_alignment();
    let sei = write_sei_nal(&[6], &[(1, w.as_bytes())]);
    let info = read_one(&access_unit(&sps, &[sei]));
    assert_eq!(
        (info.pic_struct, info.faults.as_slice()),
        (None, &[Fault::MalformedSei][..])
    );
    // counting_type above 6 is reserved but kept.
    let mut odd = clock(1, 1, 1, 1);
    odd.counting_type = 31;
    odd.ct_type = 3;
    let info = read_one(&access_unit(
        &sps,
        &[pic_timing(0, &[Some(odd)]).to_sei_nal(&layout)],
    ));
    assert_eq!(
        (info.clocks.as_slice(), info.faults.as_slice()),
        (&[odd][..], &[][..])
    );
}

#[test]
fn broken_sei_framing_keeps_the_pic_timing_before_it() {
    let sps = sps_with(0, None, None, true);
    let payload = pic_timing(0, &[Some(clock(2, 3, 4, 5))]).to_payload(&sps.pic_timing_layout());
    // pic_timing, then stray `80 04 80` as left by GStreamer 1.22.0 h264parse.
    let mut sei = vec![6, 1, payload.len() as u8];
    sei.extend_from_slice(&payload);
    sei.extend_from_slice(&[0x80, 0x04, 0x80]);
    let info = read_one(&access_unit(&sps, &[sei]));
    assert_eq!(info.clocks, [clock(2, 3, 4, 5)]);
    assert_eq!(info.faults, [Fault::MalformedSei]);
    // A truncated pic_timing payload is MalformedSei with no clocks.
    let sei = write_sei_nal(&[6], &[(1, &payload[..3])]);
    let info = read_one(&access_unit(&sps, &[sei]));
    assert_eq!(
        (info.clocks.as_slice(), info.faults.as_slice()),
        (&[][..], &[Fault::MalformedSei][..])
    );
}

#[test]
fn malformed_parameter_sets_and_nal_units() {
    let sps = sps_with(0, None, None, true);
    let mut truncated_sps = sps.to_nal();
    truncated_sps.truncate(12);
    let info = read_one(&write_annex_b(&[
        &truncated_sps,
        &[0x68, 0x00],
        &[0x86, 0x00],
        &[0x41],
    ]));
    // SPS cut in its VUI; a PPS of only zeros (Exp-Golomb too long); forbidden_zero_bit;
    // a slice without header bits.
    assert_eq!(
        info.faults,
        [Fault::MalformedNal, Fault::MalformedParameterSet]
    );
    let info = H264Reader::new().read_access_unit(&[0, 0, 0, 9, 0x09]);
    assert_eq!(info.faults, []); // Annex B without a start code: nothing to read
    let mut reader = H264Reader::new();
    reader.set_framing(NalFraming::LengthPrefixed(4));
    let info = reader.read_access_unit(&[0, 0, 0, 9, 0x09]);
    assert_eq!(info.faults, [Fault::MalformedNal]);
}

#[test]
fn every_prefix_of_an_access_unit_is_safe() {
    let sps = sps_with(0, Some(hrd(10, 7, 0)), Some(hrd(10, 7, 0)), true);
    let mut high = sps_with(1, None, None, true);
    high.profile_idc = 100;
    high.seq_scaling_matrix_present = true;
    let layout = sps.pic_timing_layout();
    let sei = pic_timing(5, &[Some(clock(1, 2, 3, 4)), None, Some(clock(1, 2, 3, 5))])
        .to_sei_nal(&layout);
    let au = write_annex_b(&[
        &[0x09, 0xf0],
        &high.to_nal(),
        &sps.to_nal(),
        &pps_nal(0, 0),
        &sei,
        &slice_nal(true, 0),
    ]);
    let full = read_one(&au);
    assert_eq!(full.clocks.len(), 2);
    for len in 0..au.len() {
        let _ = read_one(&au[..len]);
    }
    let nal_units: Vec<&[u8]> = crate::bitstream::nal::AnnexBNalUnits::new(&au).collect();
    let prefixed = write_length_prefixed(&nal_units, 2);
    let mut reader = H264Reader::new();
    reader.set_framing(NalFraming::LengthPrefixed(2));
    assert_eq!(reader.read_access_unit(&prefixed).clocks, full.clocks);
    for len in 0..prefixed.len() {
        let _ = reader.read_access_unit(&prefixed[..len]);
    }
}

fn avcc(size_len: u8, sps: &[&[u8]], pps: &[&[u8]]) -> Vec<u8> {
    let mut out = vec![1, 100, 0, 30, 0xfc | (size_len - 1), 0xe0 | sps.len() as u8];
    for nal in sps {
        out.extend_from_slice(&(nal.len() as u16).to_be_bytes());
        out.extend_from_slice(nal);
    }
    out.push(pps.len() as u8);
    for nal in pps {
        out.extend_from_slice(&(nal.len() as u16).to_be_bytes());
        out.extend_from_slice(nal);
    }
    // The high-profile tail: chroma_format, bit depths, no SPS extensions.
    out.extend_from_slice(&[0xfd, 0xf8, 0xf8, 0x00]);
    out
}

#[test]
fn avcc_codec_data() {
    let sps_a = sps_with(0, Some(hrd(10, 7, 0)), None, true);
    let sps_b = sps_with(1, None, None, true);
    let c = clock(20, 0, 0, 0);
    let sei = pic_timing(0, &[Some(c)]).to_sei_nal(&sps_a.pic_timing_layout());
    for size_len in [1u8, 2, 4] {
        let mut reader = H264Reader::new();
        let codec_data = avcc(
            size_len,
            &[&sps_b.to_nal(), &sps_a.to_nal()],
            &[&pps_nal(0, 0), &pps_nal(1, 1)],
        );
        assert_eq!(reader.set_codec_data(&codec_data), Ok(()));
        assert_eq!(reader.framing(), NalFraming::LengthPrefixed(size_len));
        assert_eq!(reader.sps(0), Some(&sps_a));
        assert_eq!(reader.sps(1), Some(&sps_b));
        let au = write_length_prefixed(&[&[0x09, 0xf0], &sei, &slice_nal(true, 0)], size_len);
        let info = reader.read_access_unit(&au);
        assert_eq!(info.clocks, [c]);
        assert_eq!(info.faults, []);
    }
    // Err only when the framing cannot be known.
    let mut reader = H264Reader::new();
    let good = avcc(4, &[&sps_a.to_nal()], &[&pps_nal(0, 0)]);
    assert_eq!(
        reader.set_codec_data(&good[..3]),
        Err(ParseError::Truncated)
    );
    let mut bad_version = good.clone();
    bad_version[0] = 0;
    assert!(matches!(
        reader.set_codec_data(&bad_version),
        Err(ParseError::Invalid(_))
    ));
    let mut three_byte_sizes = good.clone();
    three_byte_sizes[4] = 0xfe;
    assert!(matches!(
        reader.set_codec_data(&three_byte_sizes),
        Err(ParseError::Invalid(_))
    ));
    assert_eq!(
        reader.framing(),
        NalFraming::AnnexB,
        "a failed record changes nothing"
    );
    // A record cut in its PPS array: framing and SPS kept, the fault comes with the
    // next access unit (once).
    assert_eq!(reader.set_codec_data(&good[..good.len() - 8]), Ok(()));
    assert_eq!(reader.framing(), NalFraming::LengthPrefixed(4));
    assert_eq!(reader.sps(0), Some(&sps_a));
    let au = write_length_prefixed(&[&sei, &slice_nal(true, 0)], 4);
    let info = reader.read_access_unit(&au);
    assert_eq!(
        (info.clocks.as_slice(), info.faults.as_slice()),
        (&[c][..], &[Fault::MalformedParameterSet][..])
    );
    assert_eq!(reader.read_access_unit(&au).faults, []);
    // A broken SPS inside: the others are kept, the fault is reported.
    let mut broken = sps_b.to_nal();
    broken.truncate(6);
    let codec_data = avcc(2, &[&broken, &sps_a.to_nal()], &[&pps_nal(0, 0)]);
    assert_eq!(reader.set_codec_data(&codec_data), Ok(()));
    assert_eq!(reader.framing(), NalFraming::LengthPrefixed(2));
    assert_eq!(reader.sps(0), Some(&sps_a));
    assert_eq!(reader.sps(1), None);
    let info = reader.read_access_unit(&write_length_prefixed(&[&sei, &slice_nal(true, 0)], 2));
    assert_eq!(
        (info.clocks.as_slice(), info.faults.as_slice()),
        (&[c][..], &[Fault::MalformedParameterSet][..])
    );
    // Annex B parameter sets as codec_data.
    let annex_b = write_annex_b(&[&sps_a.to_nal(), &pps_nal(0, 0)]);
    reader.set_framing(NalFraming::LengthPrefixed(4));
    assert_eq!(reader.set_codec_data(&annex_b), Ok(()));
    assert_eq!(reader.framing(), NalFraming::AnnexB);
    assert_eq!(reader.last_sps(), Some(&sps_a));
}

/// Every H.264 fixture: split into access units, read in decode order, compare with the
/// independent reader's dump.
fn check_fixture(name: &str) -> Vec<AccessUnitInfo> {
    let data = fixture(name);
    let (header, expected) = expected_dump(name);
    let mut reader = H264Reader::new();
    let infos: Vec<AccessUnitInfo> = split_access_units::<H264Rules>(&data)
        .into_iter()
        .map(|au| reader.read_access_unit(au))
        .collect();
    assert_eq!(infos.len(), expected.len(), "{name}: access unit count");
    for (info, exp) in infos.iter().zip(&expected) {
        check_au(info, exp);
        if exp.warning {
            assert_eq!(info.faults, [Fault::MalformedSei], "{}", exp.line);
        } else {
            assert_eq!(info.faults, [], "{}", exp.line);
        }
    }
    // The SPS agrees with the dump's header.
    let layout = reader.last_sps().unwrap().pic_timing_layout();
    let cpb_dpb = layout
        .cpb_dpb_delay_lengths
        .map_or((0, 0), |(c, d)| (i64::from(c), i64::from(d)));
    assert_eq!(Some(cpb_dpb.0), header_number(&header, "cpb_len"), "{name}");
    assert_eq!(Some(cpb_dpb.1), header_number(&header, "dpb_len"), "{name}");
    assert_eq!(
        Some(i64::from(layout.time_offset_length)),
        header_number(&header, "time_offset_length")
    );
    assert_eq!(
        Some(i64::from(layout.pic_struct_present)),
        header_number(&header, "pic_struct_present_flag")
    );
    let timing = infos[0].timing.unwrap();
    assert_eq!(
        Some(i64::from(timing.num_units_in_tick)),
        header_number(&header, "num_units_in_tick")
    );
    assert_eq!(
        Some(i64::from(timing.time_scale)),
        header_number(&header, "time_scale")
    );
    assert!(infos[0].keyframe, "{name}: the first picture is IDR");
    // Every prefix of the first two access units reads without a panic.
    for au in split_access_units::<H264Rules>(&data).into_iter().take(2) {
        for len in 0..au.len() {
            let _ = H264Reader::new().read_access_unit(&au[..len]);
        }
    }
    infos
}

#[test]
fn fixture_30fps_bframes_hrd() {
    let infos = check_fixture("h264_30fps_ndf_bframes_hrd_gst.h264");
    assert_eq!(infos.len(), 60);
    assert_eq!(infos[0].timing.unwrap().frame_rate(), Some((30, 1)));
    assert_eq!(infos[0].pic_struct, Some(0));
}

#[test]
fn fixture_2997_drop_frame() {
    let infos = check_fixture("h264_2997fps_df_py.h264");
    assert_eq!(infos[0].timing.unwrap().frame_rate(), Some((30000, 1001)));
    // cnt_dropped_flag only on 00:01:00;02.
    let dropped: Vec<_> = infos
        .iter()
        .flat_map(|i| &i.clocks)
        .filter(|c| c.cnt_dropped)
        .collect();
    assert_eq!(dropped.len(), 1);
    assert_eq!(
        (dropped[0].minutes, dropped[0].seconds, dropped[0].n_frames),
        (Some(1), Some(0), 2)
    );
}

#[test]
fn fixture_5994_drop_frame() {
    let infos = check_fixture("h264_5994fps_df_py.h264");
    assert_eq!(infos[0].timing.unwrap().frame_rate(), Some((60000, 1001)));
    assert!(
        infos
            .iter()
            .flat_map(|i| &i.clocks)
            .all(|c| c.counting_type == 6)
    );
}

#[test]
fn fixture_25fps_midnight() {
    let infos = check_fixture("h264_25fps_ndf_midnight_py.h264");
    assert_eq!(infos[0].timing.unwrap().frame_rate(), Some((25, 1)));
}

#[test]
fn fixture_23976fps() {
    let infos = check_fixture("h264_23976fps_ndf_py.h264");
    assert_eq!(infos[0].timing.unwrap().frame_rate(), Some((24000, 1001)));
}

#[test]
fn fixture_no_timecode() {
    let infos = check_fixture("h264_30fps_no_timecode.h264");
    assert!(
        infos
            .iter()
            .all(|i| i.clocks.is_empty() && i.pic_struct == Some(0))
    );
}

#[test]
fn fixture_malformed_sei_keeps_the_timecode() {
    let infos = check_fixture("h264_30fps_ndf_gst122_malformed_sei.h264");
    assert_eq!(infos.len(), 30);
    assert!(
        infos
            .iter()
            .all(|i| i.clocks.len() == 1 && i.faults == [Fault::MalformedSei])
    );
    let first = infos[0].clocks[0];
    assert_eq!(
        (first.hours, first.minutes, first.seconds, first.n_frames),
        (Some(16), Some(30), Some(0), 10)
    );
}

#[test]
fn fixture_as_length_prefixed_with_avcc() {
    // The same stream converted to avcC + 4-byte lengths reads the same.
    let name = "h264_30fps_ndf_bframes_hrd_gst.h264";
    let data = fixture(name);
    let aus = split_access_units::<H264Rules>(&data);
    let mut annex_b_reader = H264Reader::new();
    let mut avc_reader = H264Reader::new();
    let first_nals: Vec<&[u8]> = crate::bitstream::nal::AnnexBNalUnits::new(aus[0]).collect();
    let sps: Vec<&[u8]> = first_nals
        .iter()
        .copied()
        .filter(|n| n[0] & 0x1f == 7)
        .collect();
    let pps: Vec<&[u8]> = first_nals
        .iter()
        .copied()
        .filter(|n| n[0] & 0x1f == 8)
        .collect();
    avc_reader.set_codec_data(&avcc(4, &sps, &pps)).unwrap();
    for au in aus {
        let nals: Vec<&[u8]> = crate::bitstream::nal::AnnexBNalUnits::new(au)
            .filter(|n| !matches!(n[0] & 0x1f, 7 | 8))
            .collect();
        let expected = annex_b_reader.read_access_unit(au);
        assert_eq!(
            avc_reader.read_access_unit(&write_length_prefixed(&nals, 4)),
            expected
        );
    }
}

fn arb_clock() -> impl Strategy<Value = ClockTimestamp> {
    let time = prop_oneof![
        (0u8..60, 0u8..60, 0u8..24).prop_map(|(s, m, h)| (true, Some(s), Some(m), Some(h))),
        Just((false, None, None, None)),
        (0u8..60).prop_map(|s| (false, Some(s), None, None)),
        (0u8..60, 0u8..60).prop_map(|(s, m)| (false, Some(s), Some(m), None)),
        (0u8..60, 0u8..60, 0u8..24).prop_map(|(s, m, h)| (false, Some(s), Some(m), Some(h))),
    ];
    (
        0u8..4,
        any::<bool>(),
        0u8..32,
        any::<bool>(),
        any::<bool>(),
        0u16..256,
        time,
        any::<i32>(),
    )
        .prop_map(
            |(ct_type, nuit, counting_type, discontinuity, cnt_dropped, n_frames, time, offset)| {
                ClockTimestamp {
                    ct_type,
                    nuit_field_based: nuit,
                    counting_type,
                    full_timestamp: time.0,
                    discontinuity,
                    cnt_dropped,
                    n_frames,
                    seconds: time.1,
                    minutes: time.2,
                    hours: time.3,
                    // Reduced to the layout's time_offset_length by the test.
                    time_offset: offset,
                }
            },
        )
}

fn arb_hrd() -> impl Strategy<Value = H264Hrd> {
    (1u8..=4, 1u8..=32, 1u8..=32, 1u8..=32, 0u8..=31).prop_map(|(cpb_cnt, init, cpb, dpb, tol)| {
        H264Hrd {
            cpb_cnt,
            bit_rate_scale: 3,
            cpb_size_scale: 5,
            initial_cpb_removal_delay_length: init,
            cpb_removal_delay_length: cpb,
            dpb_output_delay_length: dpb,
            time_offset_length: tol,
        }
    })
}

/// `value` wrapped into the range of an i(`bits`) field.
fn fit_signed(value: i32, bits: u8) -> i32 {
    match bits {
        0 => 0,
        32.. => value,
        _ => {
            let shift = 32 - u32::from(bits);
            (value << shift) >> shift
        }
    }
}

proptest! {
    #[test]
    fn random_clocks_and_layouts_round_trip(
        nal_hrd in proptest::option::of(arb_hrd()),
        vcl_hrd in proptest::option::of(arb_hrd()),
        pic_struct_present in any::<bool>(),
        pic_struct in 0u8..=8,
        clocks in proptest::collection::vec(proptest::option::of(arb_clock()), 3),
        delays in (any::<u32>(), any::<u32>()),
        high_profile in any::<bool>(),
        sps_id in 0u8..32,
    ) {
        let mut sps = sps_with(sps_id, nal_hrd, vcl_hrd, pic_struct_present);
        if high_profile {
            sps.profile_idc = 100;
            sps.seq_scaling_matrix_present = true;
        }
        let layout = sps.pic_timing_layout();
        let mut timing = PicTiming::default();
        if let Some((cpb_len, dpb_len)) = layout.cpb_dpb_delay_lengths {
            let mask = |bits: u8| if bits >= 32 { u32::MAX } else { (1u32 << bits) - 1 };
            timing.cpb_removal_delay = Some(delays.0 & mask(cpb_len));
            timing.dpb_output_delay = Some(delays.1 & mask(dpb_len));
        }
        if pic_struct_present {
            timing.pic_struct = Some(pic_struct);
            let n = usize::from(NUM_CLOCK_TS[usize::from(pic_struct)]);
            for (slot, clock) in timing.clock_timestamps.iter_mut().zip(&clocks).take(n) {
                *slot = clock.map(|mut c| {
                    c.time_offset = fit_signed(c.time_offset, layout.time_offset_length);
                    c
                });
            }
        }
        prop_assert_eq!(PicTiming::parse(&timing.to_payload(&layout), &layout), Ok(timing));
        let info = read_one(&access_unit(&sps, &[timing.to_sei_nal(&layout)]));
        prop_assert_eq!(&info.faults, &[]);
        prop_assert_eq!(info.clocks, timing.clocks().copied().collect::<Vec<_>>());
        prop_assert_eq!(info.pic_struct, timing.pic_struct);
        let mut buf = Vec::new();
        let nal = sps.to_nal();
        prop_assert_eq!(H264Sps::parse(unescape_rbsp(&nal[1..], &mut buf)), Ok(sps));
    }

    #[test]
    fn arbitrary_bytes_never_panic(
        data in proptest::collection::vec(
            prop_oneof![
                Just(0u8), Just(1u8), Just(3u8), Just(0x06u8), Just(0x67u8), Just(0xffu8),
                any::<u8>()
            ],
            0..512),
        size_len in 0u8..=4,
    ) {
        let mut reader = H264Reader::new();
        let _ = reader.read_access_unit(&data);
        reader.set_framing(NalFraming::LengthPrefixed(size_len));
        let _ = reader.read_access_unit(&data);
        let _ = reader.set_codec_data(&data);
        let _ = reader.read_access_unit(&data);
    }

    #[test]
    fn mutated_access_units_never_panic(
        flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8),
    ) {
        let sps = sps_with(0, Some(hrd(10, 7, 0)), None, true);
        let sei = pic_timing(3, &[Some(clock(1, 2, 3, 4)), Some(clock(1, 2, 3, 5))])
            .to_sei_nal(&sps.pic_timing_layout());
        let mut au = access_unit(&sps, &[sei]);
        for (index, value) in flips {
            let i = index.index(au.len());
            au[i] ^= value;
        }
        let mut reader = H264Reader::new();
        let _ = reader.read_access_unit(&au);
        let _ = reader.read_access_unit(&au);
    }
}
