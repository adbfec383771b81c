// SPDX-License-Identifier: MPL-2.0
//! Unit tests of the parent module.

use super::*;
use crate::bitstream::nal::{AnnexBNalUnits, write_annex_b, write_length_prefixed};
use crate::bitstream::testutil::{H265Rules, check_au, expected_dump, fixture, split_access_units};
use crate::bitstream::vui::tests::arb_vui_common;
use proptest::prelude::*;

fn clock(h: u8, m: u8, s: u8, frames: u16) -> ClockTimestamp {
    ClockTimestamp {
        full_timestamp: true,
        n_frames: frames,
        seconds: Some(s),
        minutes: Some(m),
        hours: Some(h),
        ..Default::default()
    }
}

fn sps_30fps(id: u8) -> H265Sps {
    H265Sps {
        vui: Some(H265Vui {
            timing: Some((1, 30)),
            ..Default::default()
        }),
        ..H265Sps::example(id)
    }
}

fn vps() -> Vec<u8> {
    // Contents do not matter to the reader.
    let mut nal = NalHeader::bytes(nal_type::VPS).to_vec();
    nal.extend_from_slice(&[0x0c, 0x01, 0xff, 0xff, 0x80]);
    nal
}

fn pps() -> Vec<u8> {
    let mut nal = NalHeader::bytes(nal_type::PPS).to_vec();
    nal.extend_from_slice(&[0xc1, 0x72, 0xb4, 0x22, 0x40]);
    nal
}

fn access_unit(sps: &H265Sps, sei_nals: &[Vec<u8>]) -> Vec<u8> {
    let sps_nal = sps.to_nal();
    let (vps, pps) = (vps(), pps());
    let slice = slice_nal(nal_type::IDR_W_RADL);
    let mut nals: Vec<&[u8]> = vec![&vps, &sps_nal, &pps];
    nals.extend(sei_nals.iter().map(Vec::as_slice));
    nals.push(&slice);
    write_annex_b(&nals)
}

fn read_one(data: &[u8]) -> AccessUnitInfo {
    H265Reader::new().read_access_unit(data)
}

fn parse_sps_nal(nal: &[u8]) -> Result<H265Sps, ParseError> {
    let mut buf = Vec::new();
    H265Sps::parse(unescape_rbsp(&nal[2..], &mut buf))
}

#[test]
fn time_code_with_one_to_three_clocks() {
    let sps = sps_30fps(0);
    let a = clock(16, 30, 0, 10);
    let mut b = clock(16, 30, 0, 11);
    b.nuit_field_based = true;
    b.counting_type = 4;
    b.cnt_dropped = true;
    b.discontinuity = true;
    b.n_frames = 511;
    let mut c = clock(0, 0, 0, 0);
    c.time_offset = -7;
    for clocks in [
        vec![Some(a)],
        vec![Some(a), Some(b)],
        vec![Some(a), None, Some(c)],
        vec![None, None, None],
        vec![Some(c), Some(b), Some(a)],
    ] {
        let tc = TimeCode::new(&clocks);
        assert_eq!(TimeCode::parse(&tc.to_payload()), Ok(tc));
        let info = read_one(&access_unit(&sps, &[tc.to_sei_nal()]));
        let expected: Vec<ClockTimestamp> = clocks.iter().flatten().copied().collect();
        assert_eq!(info.clocks, expected);
        assert_eq!(info.pic_struct, None);
        assert_eq!(info.faults, []);
        assert_eq!(
            info.timing,
            Some(VuiTiming {
                num_units_in_tick: 1,
                time_scale: 30,
                field_ticks: false
            })
        );
        assert_eq!(info.timing.unwrap().frame_rate(), Some((30, 1)));
        assert!(info.keyframe);
    }
}

#[test]
fn time_offset_length_is_inside_the_clock_branch() {
    // num_clock_ts 2: clock 0 absent (no time_offset_length follows its flag), clock 1
    // with a 5-bit time_offset of −7, then units_field_based 0.
    let mut w = BitWriter::new();
    w.u(2, 2).flag(false);
    w.flag(true)
        .flag(false)
        .u(5, 0)
        .flag(true)
        .flag(false)
        .flag(false)
        .u(9, 29);
    w.u(6, 59).u(6, 59).u(5, 23).u(5, 5).i(5, -7);
    w.sei_payload_alignment();
    let tc = TimeCode::parse(w.as_bytes()).unwrap();
    let mut expected = clock(23, 59, 59, 29);
    expected.time_offset = -7;
    assert_eq!(tc.clock_timestamps, [None, Some(expected), None]);
    assert_eq!(tc.time_offset_lengths, [0, 5, 0]);
    // time_offset_length 0: no time_offset_value.
    let mut w = BitWriter::new();
    w.u(2, 1)
        .flag(true)
        .flag(true)
        .u(5, 0)
        .flag(true)
        .flag(false)
        .flag(false)
        .u(9, 1);
    w.u(6, 1).u(6, 2).u(5, 3).u(5, 0);
    w.sei_payload_alignment();
    let tc = TimeCode::parse(w.as_bytes()).unwrap();
    assert_eq!(
        tc.clock_timestamps[0].map(|c| (c.nuit_field_based, c.time_offset)),
        Some((true, 0))
    );
    // 2 + 1 + 19 + 17 + 5 bits, then the payload alignment bits.
    assert_eq!(w.bit_len(), 48);
}

#[test]
fn partial_timestamps() {
    let partial = |seconds, minutes, hours| ClockTimestamp {
        full_timestamp: false,
        n_frames: 3,
        seconds,
        minutes,
        hours,
        ..Default::default()
    };
    for c in [
        partial(None, None, None),
        partial(Some(5), None, None),
        partial(Some(5), Some(6), None),
        partial(Some(5), Some(6), Some(7)),
    ] {
        let info = read_one(&access_unit(
            &sps_30fps(0),
            &[TimeCode::new(&[Some(c)]).to_sei_nal()],
        ));
        assert_eq!(info.clocks, [c]);
    }
}

#[test]
fn out_of_range_time_code_is_malformed_sei() {
    let mut bad = clock(24, 0, 0, 0);
    let info = read_one(&access_unit(
        &sps_30fps(0),
        &[TimeCode::new(&[Some(bad)]).to_sei_nal()],
    ));
    assert_eq!(
        (info.clocks.as_slice(), info.faults.as_slice()),
        (&[][..], &[Fault::MalformedSei][..])
    );
    bad = clock(0, 60, 0, 0);
    let info = read_one(&access_unit(
        &sps_30fps(0),
        &[TimeCode::new(&[Some(bad)]).to_sei_nal()],
    ));
    assert_eq!(info.faults, [Fault::MalformedSei]);
    // Truncated payload.
    let payload = TimeCode::new(&[Some(clock(1, 2, 3, 4))]).to_payload();
    let sei = write_sei_nal(
        &NalHeader::bytes(nal_type::PREFIX_SEI),
        &[(136, &payload[..4])],
    );
    let info = read_one(&access_unit(&sps_30fps(0), &[sei]));
    assert_eq!(
        (info.clocks.as_slice(), info.faults.as_slice()),
        (&[][..], &[Fault::MalformedSei][..])
    );
}

#[test]
fn several_messages_and_emulation_prevention() {
    // An all-zero clock gives 00 00 runs in the payload.
    let zero = ClockTimestamp {
        full_timestamp: true,
        seconds: Some(0),
        minutes: Some(0),
        hours: Some(0),
        ..Default::default()
    };
    let tc = TimeCode::new(&[Some(zero), Some(zero)]);
    let payload = tc.to_payload();
    assert!(
        payload
            .windows(3)
            .any(|w| w[0] == 0 && w[1] == 0 && w[2] <= 3),
        "{payload:02x?}"
    );
    let user_data = vec![0u8; 300];
    let sei = write_sei_nal(
        &NalHeader::bytes(nal_type::PREFIX_SEI),
        &[
            (5, &user_data),
            (129, &[1, 2]),
            (136, &payload),
            (137, &[0; 24]),
        ],
    );
    assert!(sei.windows(3).any(|w| w == [0, 0, 3]));
    let info = read_one(&access_unit(&sps_30fps(0), &[sei]));
    assert_eq!(info.clocks, [zero, zero]);
    assert_eq!(info.faults, []);
    // A broken tail after the time_code keeps it.
    let mut sei = write_sei_nal(&NalHeader::bytes(nal_type::PREFIX_SEI), &[(136, &payload)]);
    sei.extend_from_slice(&[0x04, 0x80]);
    let info = read_one(&access_unit(&sps_30fps(0), &[sei]));
    assert_eq!(info.clocks, [zero, zero]);
    assert_eq!(info.faults, [Fault::MalformedSei]);
}

#[test]
fn suffix_sei_after_the_slices() {
    let c = clock(1, 2, 3, 4);
    let d = clock(5, 6, 7, 8);
    let sps = sps_30fps(0).to_nal();
    let slice = slice_nal(nal_type::TRAIL_R);
    let mut second_slice = slice_nal(nal_type::TRAIL_R);
    second_slice[2] &= 0x7f; // first_slice_segment_in_pic_flag 0
    let suffix = |tc: TimeCode| {
        write_sei_nal(
            &NalHeader::bytes(nal_type::SUFFIX_SEI),
            &[(5, &[7; 20]), (136, &tc.to_payload())],
        )
    };
    let suffix_c = suffix(TimeCode::new(&[Some(c)]));
    let suffix_d = suffix(TimeCode::new(&[Some(d)]));
    let prefix_d = TimeCode::new(&[Some(d)]).to_sei_nal();
    let cases: [(Vec<&[u8]>, Vec<ClockTimestamp>); 4] = [
        (vec![&sps, &slice, &second_slice, &suffix_c], vec![c]),
        // Only suffix SEI after the last slice count.
        (
            vec![&sps, &slice, &suffix_c, &second_slice, &suffix_d],
            vec![d],
        ),
        // The earliest suffix time_code wins.
        (
            vec![
                &sps,
                &slice,
                &second_slice,
                &suffix_c,
                &suffix_d,
                &[0x4a, 0x01],
            ],
            vec![c],
        ),
        // A prefix time_code wins over a suffix one.
        (vec![&sps, &prefix_d, &slice, &suffix_c], vec![d]),
    ];
    for (nals, expected) in cases {
        let info = read_one(&write_annex_b(&nals));
        assert_eq!(info.clocks, expected);
        assert!(!info.keyframe);
        let mut reader = H265Reader::new();
        reader.set_framing(NalFraming::LengthPrefixed(4));
        let info = reader.read_access_unit(&write_length_prefixed(&nals, 4));
        assert_eq!(info.clocks, expected);
        assert_eq!(info.faults, []);
    }
    // A suffix SEI after a broken size in length-prefixed framing is lost, and reported.
    let mut data = write_length_prefixed(&[&sps, &slice, &suffix_c], 4);
    data.extend_from_slice(&[0, 0, 0, 40, 1]);
    let mut reader = H265Reader::new();
    reader.set_framing(NalFraming::LengthPrefixed(4));
    let info = reader.read_access_unit(&data);
    assert_eq!(info.clocks, [c]);
    assert_eq!(info.faults, [Fault::MalformedNal]);
}

#[test]
fn sps_round_trips_through_the_writer() {
    let mut variants = vec![H265Sps::example(0), sps_30fps(15)];
    for sub_layers in 0..=6 {
        let mut sps = sps_30fps(1);
        sps.sps_max_sub_layers_minus1 = sub_layers;
        sps.sps_sub_layer_ordering_info_present = sub_layers % 2 == 0;
        variants.push(sps);
    }
    for num_sets in [0, 1, 2, 3, 7, 16, 64] {
        let mut sps = sps_30fps(2);
        sps.num_short_term_ref_pic_sets = num_sets;
        sps.num_long_term_ref_pics_sps = Some(num_sets / 2);
        variants.push(sps);
    }
    let mut sps = sps_30fps(3);
    sps.chroma_format_idc = 3;
    sps.separate_colour_plane = true;
    sps.conformance_window = None;
    sps.bit_depth_luma = 10;
    sps.bit_depth_chroma = 12;
    sps.scaling_list_enabled = true;
    sps.sps_scaling_list_data_present = true;
    sps.pcm = Some(PcmParameters {
        pcm_sample_bit_depth_luma: 8,
        pcm_sample_bit_depth_chroma: 7,
        log2_min_pcm_luma_coding_block_size: 3,
        log2_diff_max_min_pcm_luma_coding_block_size: 2,
        pcm_loop_filter_disabled: true,
    });
    sps.vui = Some(H265Vui {
        neutral_chroma_indication: true,
        field_seq: true,
        frame_field_info_present: true,
        default_display_window: Some([1, 2, 3, 4]),
        timing: Some((1001, 60000)),
        ..Default::default()
    });
    variants.push(sps);
    let mut sps = sps_30fps(4);
    sps.scaling_list_enabled = true; // without sps data: nothing to skip
    variants.push(sps);
    for sps in variants {
        assert_eq!(parse_sps_nal(&sps.to_nal()), Ok(sps), "{sps:?}");
    }
}

#[test]
fn inter_ref_pic_set_prediction_needs_num_delta_pocs() {
    let mut w = BitWriter::new();
    // Set 0, explicit: S0 = {−1, −3}, S1 = {+2}.
    w.ue(2).ue(1);
    w.ue(0).flag(true).ue(1).flag(true);
    w.ue(1).flag(true);
    // Set 1 from set 0, deltaRps = +1, NumDeltaPocs[0] + 1 = 4 entries, all used.
    w.flag(true).flag(false).ue(0);
    for _ in 0..4 {
        w.flag(true);
    }
    // Set 2 from set 1, deltaRps = −2; entry 1 (S1[0] of set 1) dropped.
    w.flag(true).flag(true).ue(1);
    w.flag(true).flag(false).flag(false).flag(true).flag(true);
    // Set 3 from set 2, deltaRps = −1: NumDeltaPocs[2] + 1 = 4 entries, the last not
    // used by the current picture but kept (use_delta_flag 1).
    w.flag(true).flag(true).ue(0);
    w.flag(true).flag(true).flag(true).flag(false).flag(true);
    w.u(8, 0xa5);
    let bytes = w.into_bytes();
    let mut r = BitReader::new(&bytes);
    let mut sets = Vec::new();
    for _ in 0..4 {
        let set = ShortTermRefPicSet::read(&mut r, &sets).unwrap();
        sets.push(set);
    }
    assert_eq!(
        (sets[0].negative(), sets[0].positive()),
        (&[-1, -3][..], &[2][..])
    );
    // 7-61/7-62 by hand: S0 = {−3+1}, S1 = {deltaRps, 2+1}.
    assert_eq!(
        (sets[1].negative(), sets[1].positive()),
        (&[-2][..], &[1, 3][..])
    );
    // S1 of set 1 reversed: 3−2 = 1 (positive, later), 1−2 = −1 dropped; deltaRps −2;
    // S0: −2−2 = −4. S1: 3−2 = 1.
    assert_eq!(
        (sets[2].negative(), sets[2].positive()),
        (&[-2, -4][..], &[1][..])
    );
    // From {−2, −4 | 1} with −1: S1 rev: 1−1 = 0 (not a delta); deltaRps −1; S0 −3, −5.
    assert_eq!(
        (sets[3].negative(), sets[3].positive()),
        (&[-1, -3, -5][..], &[][..])
    );
    assert_eq!(r.u(8), Ok(0xa5));
    // A prediction from a set with 16 + 16 pictures cannot grow past 16 negatives.
    let big = ShortTermRefPicSet::explicit(&[-1; 16], &[1; 16]);
    assert!(ShortTermRefPicSet::predict(&big, -5, &[true; 33]).is_err());
}

fn hvcc(size_len: u8, arrays: &[(u8, &[&[u8]])]) -> Vec<u8> {
    let mut out = vec![
        1, 0x01, 0x60, 0, 0, 0, 0x90, 0, 0, 0, 0, 0, 60, 0xf0, 0, 0xfc, 0xfd, 0xf8, 0xf8, 0, 0,
    ];
    out.push(0x0c | (size_len - 1));
    out.push(arrays.len() as u8);
    for (nal_type, nals) in arrays {
        out.push(0x80 | nal_type);
        out.extend_from_slice(&(nals.len() as u16).to_be_bytes());
        for nal in *nals {
            out.extend_from_slice(&(nal.len() as u16).to_be_bytes());
            out.extend_from_slice(nal);
        }
    }
    out
}

#[test]
fn hvcc_codec_data() {
    let sps = sps_30fps(0);
    let c = clock(10, 11, 12, 13);
    for size_len in [1u8, 2, 4] {
        let codec_data = hvcc(
            size_len,
            &[(32, &[&vps()]), (33, &[&sps.to_nal()]), (34, &[&pps()])],
        );
        assert_eq!(codec_data[21] & 3, size_len - 1);
        let mut reader = H265Reader::new();
        assert_eq!(reader.set_codec_data(&codec_data), Ok(()));
        assert_eq!(reader.framing(), NalFraming::LengthPrefixed(size_len));
        assert_eq!(reader.last_sps(), Some(&sps));
        let au = write_length_prefixed(
            &[
                &TimeCode::new(&[Some(c)]).to_sei_nal(),
                &slice_nal(nal_type::IDR_W_RADL),
            ],
            size_len,
        );
        let info = reader.read_access_unit(&au);
        assert_eq!(info.clocks, [c]);
        assert_eq!(info.timing.and_then(|t| t.frame_rate()), Some((30, 1)));
        assert!(info.keyframe);
    }
    let good = hvcc(4, &[(33, &[&sps.to_nal()])]);
    let mut reader = H265Reader::new();
    assert_eq!(
        reader.set_codec_data(&good[..22]),
        Err(ParseError::Truncated)
    );
    let mut three = good.clone();
    three[21] = 0x0e;
    assert!(matches!(
        reader.set_codec_data(&three),
        Err(ParseError::Invalid(_))
    ));
    assert_eq!(
        reader.framing(),
        NalFraming::AnnexB,
        "a failed record changes nothing"
    );
    // Cut after the header: framing set, fault reported once with the next access unit.
    assert_eq!(reader.set_codec_data(&good[..good.len() - 1]), Ok(()));
    assert_eq!(reader.framing(), NalFraming::LengthPrefixed(4));
    let au = write_length_prefixed(&[&TimeCode::new(&[Some(c)]).to_sei_nal()], 4);
    let info = reader.read_access_unit(&au);
    assert_eq!(
        (info.clocks.as_slice(), info.faults.as_slice()),
        (&[c][..], &[Fault::MalformedParameterSet][..])
    );
    assert_eq!(reader.read_access_unit(&au).faults, []);
    // A broken SPS: reported, framing still set.
    let mut broken = sps.to_nal();
    broken.truncate(10);
    assert_eq!(reader.set_codec_data(&hvcc(2, &[(33, &[&broken])])), Ok(()));
    assert_eq!(reader.framing(), NalFraming::LengthPrefixed(2));
    assert_eq!(reader.last_sps(), None);
    let info = reader.read_access_unit(&[]);
    assert_eq!(info.faults, [Fault::MalformedParameterSet]);
    // Annex B parameter sets as codec_data.
    let annex_b = write_annex_b(&[&vps(), &sps.to_nal(), &pps()]);
    assert_eq!(reader.set_codec_data(&annex_b), Ok(()));
    assert_eq!(reader.framing(), NalFraming::AnnexB);
    assert_eq!(reader.last_sps(), Some(&sps));
}

#[test]
fn time_code_without_sps_and_keyframes() {
    let c = clock(1, 2, 3, 4);
    let sei = TimeCode::new(&[Some(c)]).to_sei_nal();
    let mut reader = H265Reader::new();
    for (nal_unit_type, keyframe) in [
        (0u8, false),
        (1, false),
        (9, false),
        (16, true),
        (19, true),
        (21, true),
        (23, true),
    ] {
        let info = reader.read_access_unit(&write_annex_b(&[&sei, &slice_nal(nal_unit_type)]));
        assert_eq!(info.clocks, [c]);
        assert_eq!(info.faults, []);
        assert_eq!(info.timing, None);
        assert_eq!(info.keyframe, keyframe, "type {nal_unit_type}");
    }
    // Other layers are ignored.
    let mut layer1 = sei.clone();
    layer1[1] |= 0x08;
    assert_eq!(
        reader.read_access_unit(&write_annex_b(&[&layer1])).clocks,
        []
    );
    // Broken headers.
    let info = reader.read_access_unit(&write_annex_b(&[&[0x4e], &[0xce, 0x01, 0x80]]));
    assert_eq!(info.faults, [Fault::MalformedNal]);
}

#[test]
fn every_prefix_of_an_access_unit_is_safe() {
    let mut sps = sps_30fps(0);
    sps.num_short_term_ref_pic_sets = 5;
    sps.scaling_list_enabled = true;
    sps.sps_scaling_list_data_present = true;
    let c = clock(1, 2, 3, 4);
    let suffix = write_sei_nal(
        &NalHeader::bytes(nal_type::SUFFIX_SEI),
        &[(136, &TimeCode::new(&[Some(c)]).to_payload())],
    );
    let mut au = access_unit(&sps, &[TimeCode::new(&[Some(c), Some(c)]).to_sei_nal()]);
    au.extend_from_slice(&[0, 0, 1]);
    au.extend_from_slice(&suffix);
    assert_eq!(read_one(&au).clocks, [c, c]);
    for len in 0..au.len() {
        let _ = read_one(&au[..len]);
    }
    let nals: Vec<&[u8]> = AnnexBNalUnits::new(&au).collect();
    let prefixed = write_length_prefixed(&nals, 2);
    let mut reader = H265Reader::new();
    reader.set_framing(NalFraming::LengthPrefixed(2));
    assert_eq!(reader.read_access_unit(&prefixed).clocks, [c, c]);
    for len in 0..prefixed.len() {
        let _ = reader.read_access_unit(&prefixed[..len]);
    }
}

fn check_fixture(name: &str, frame_rate: (u32, u32)) -> Vec<AccessUnitInfo> {
    let data = fixture(name);
    let (_, expected) = expected_dump(name);
    let mut reader = H265Reader::new();
    let infos: Vec<AccessUnitInfo> = split_access_units::<H265Rules>(&data)
        .into_iter()
        .map(|au| reader.read_access_unit(au))
        .collect();
    assert_eq!(infos.len(), expected.len(), "{name}: access unit count");
    for (info, exp) in infos.iter().zip(&expected) {
        check_au(info, exp);
        assert_eq!(info.faults, [], "{}", exp.line);
        assert_eq!(
            info.timing.and_then(|t| t.frame_rate()),
            Some(frame_rate),
            "{}",
            exp.line
        );
    }
    let sps = reader.last_sps().unwrap();
    assert_eq!(
        (sps.pic_width_in_luma_samples, sps.chroma_format_idc),
        (320, 1)
    );
    assert!(infos[0].keyframe);
    // Every prefix of the first two access units reads without a panic.
    for au in split_access_units::<H265Rules>(&data).into_iter().take(2) {
        for len in 0..au.len() {
            let _ = H265Reader::new().read_access_unit(&au[..len]);
        }
    }
    infos
}

#[test]
fn fixture_30fps() {
    let infos = check_fixture("h265_30fps_ndf_py.h265", (30, 1));
    assert_eq!(infos.len(), 60);
    assert!(
        infos
            .iter()
            .all(|i| i.clocks.len() == 1 && !i.clocks[0].nuit_field_based)
    );
}

#[test]
fn fixture_2997_drop_frame() {
    let infos = check_fixture("h265_2997fps_df_py.h265", (30000, 1001));
    assert!(
        infos
            .iter()
            .all(|i| i.clocks[0].counting_type == 4 && !i.clocks[0].cnt_dropped)
    );
}

#[test]
fn fixture_2997_ffmpeg_style() {
    let infos = check_fixture("h265_2997fps_df_ffstyle_py.h265", (30000, 1001));
    assert!(
        infos
            .iter()
            .all(|i| i.clocks[0].nuit_field_based && i.clocks[0].cnt_dropped)
    );
}

fn arb_clock() -> impl Strategy<Value = ClockTimestamp> {
    let time = prop_oneof![
        (0u8..60, 0u8..60, 0u8..24).prop_map(|(s, m, h)| (true, Some(s), Some(m), Some(h))),
        Just((false, None, None, None)),
        (0u8..60).prop_map(|s| (false, Some(s), None, None)),
        (0u8..60, 0u8..60).prop_map(|(s, m)| (false, Some(s), Some(m), None)),
        (0u8..60, 0u8..60, 0u8..24).prop_map(|(s, m, h)| (false, Some(s), Some(m), Some(h))),
    ];
    let offset = prop_oneof![Just(0i32), -(1i32 << 30)..(1i32 << 30)];
    (
        any::<bool>(),
        0u8..32,
        any::<bool>(),
        any::<bool>(),
        0u16..512,
        time,
        offset,
    )
        .prop_map(
            |(
                units_field_based,
                counting_type,
                discontinuity,
                cnt_dropped,
                n_frames,
                time,
                time_offset,
            )| {
                ClockTimestamp {
                    ct_type: 0,
                    nuit_field_based: units_field_based,
                    counting_type,
                    full_timestamp: time.0,
                    discontinuity,
                    cnt_dropped,
                    n_frames,
                    seconds: time.1,
                    minutes: time.2,
                    hours: time.3,
                    time_offset,
                }
            },
        )
}

proptest! {
    #[test]
    fn random_time_codes_round_trip(
        clocks in proptest::collection::vec(proptest::option::of(arb_clock()), 0..=3),
    ) {
        let tc = TimeCode::new(&clocks);
        prop_assert_eq!(TimeCode::parse(&tc.to_payload()), Ok(tc));
        let info = read_one(&access_unit(&sps_30fps(0), &[tc.to_sei_nal()]));
        prop_assert_eq!(info.clocks, clocks.iter().flatten().copied().collect::<Vec<_>>());
        prop_assert_eq!(info.faults, vec![]);
    }

    #[test]
    fn random_sps_round_trip(
        common in arb_vui_common(),
        timing in proptest::option::of((any::<u32>(), any::<u32>())),
        sub_layers in 0u8..=6,
        num_sets in 0u8..=64,
        long_term in proptest::option::of(0u8..=32),
        scaling in any::<bool>(),
        id in 0u8..16,
    ) {
        let mut sps = H265Sps::example(id);
        sps.sps_max_sub_layers_minus1 = sub_layers;
        sps.num_short_term_ref_pic_sets = num_sets;
        sps.num_long_term_ref_pics_sps = long_term;
        sps.scaling_list_enabled = scaling;
        sps.sps_scaling_list_data_present = scaling;
        sps.vui = Some(H265Vui { common, timing, ..Default::default() });
        prop_assert_eq!(parse_sps_nal(&sps.to_nal()), Ok(sps));
    }

    #[test]
    fn arbitrary_bytes_never_panic(
        data in proptest::collection::vec(
            prop_oneof![
                Just(0u8), Just(1u8), Just(3u8), Just(0x4eu8), Just(0x42u8), Just(0xffu8),
                any::<u8>()
            ],
            0..512),
        size_len in 0u8..=4,
    ) {
        let mut reader = H265Reader::new();
        let _ = reader.read_access_unit(&data);
        reader.set_framing(NalFraming::LengthPrefixed(size_len));
        let _ = reader.read_access_unit(&data);
        let _ = reader.set_codec_data(&data);
        let _ = reader.read_access_unit(&data);
    }

    #[test]
    fn mutated_sps_never_panics(
        flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..6),
    ) {
        let mut sps = sps_30fps(0);
        sps.num_short_term_ref_pic_sets = 9;
        sps.sps_max_sub_layers_minus1 = 3;
        let mut nal = sps.to_nal();
        for (index, value) in flips {
            let i = 2 + index.index(nal.len() - 2);
            nal[i] ^= value;
        }
        let _ = parse_sps_nal(&nal);
        let _ = read_one(&write_annex_b(&[&nal, &TimeCode::new(&[None]).to_sei_nal()]));
    }
}
