// SPDX-License-Identifier: MPL-2.0
//! Unit tests of the parent module.

use super::*;
use proptest::prelude::*;

fn rate(num: u32, den: u32) -> FrameRate {
    FrameRate::new(num, den).expect("valid rate")
}

fn tc(s: &str) -> Timecode {
    s.parse().expect("valid timecode")
}

fn clock(n_frames: u16, hms: Option<(u8, u8, u8)>) -> ClockTimestamp {
    ClockTimestamp {
        nuit_field_based: true,
        full_timestamp: hms.is_some(),
        n_frames,
        seconds: hms.map(|h| h.2),
        minutes: hms.map(|h| h.1),
        hours: hms.map(|h| h.0),
        ..Default::default()
    }
}

const X264_VUI_30: VuiTiming = VuiTiming {
    num_units_in_tick: 1,
    time_scale: 60,
    field_ticks: true,
};

#[test]
fn n_frames_scaling() {
    let r30 = rate(30, 1);
    let mut interp = ClockInterpreter::default();
    // GStreamer/x264 H.264: field flag with a field tick — the formula and raw agree.
    let c = clock(10, Some((16, 30, 0)));
    let o = interp
        .interpret(&c, Some(X264_VUI_30), r30, FramesScaling::Spec)
        .unwrap();
    assert_eq!(o.timecode, tc("16:30:00:10"));
    // FFmpeg/NVENC H.265 style: field flag with a frame tick — formula doubles, raw is right.
    let frame_tick = VuiTiming {
        num_units_in_tick: 1001,
        time_scale: 30000,
        field_ticks: false,
    };
    let r2997 = rate(30000, 1001);
    let c = clock(20, Some((0, 0, 59)));
    let o = interp
        .interpret(&c, Some(frame_tick), r2997, FramesScaling::Auto)
        .unwrap();
    assert_eq!(o.timecode.frames, 20);
    assert!(
        interp
            .interpret(&c, Some(frame_tick), r2997, FramesScaling::Spec)
            .is_err()
    );
    // A writer that counts fields (n_frames 0..59 at 29.97 with a field tick, nuit 0):
    // raw is out of range, the formula halves it.
    let field_tick = VuiTiming {
        num_units_in_tick: 1001,
        time_scale: 60000,
        field_ticks: false,
    };
    let mut c = clock(45, Some((1, 2, 3)));
    c.nuit_field_based = false;
    let o = interp
        .interpret(&c, Some(field_tick), r2997, FramesScaling::Auto)
        .unwrap();
    assert_eq!(o.timecode.frames, 22);
    assert!(
        interp
            .interpret(&c, Some(field_tick), r2997, FramesScaling::Raw)
            .is_err()
    );
    // No VUI and out of range: an error that says why.
    let err = interp.interpret(&clock(31, Some((0, 0, 0))), None, r30, FramesScaling::Auto);
    assert_eq!(
        err,
        Err(ClockError::FramesOutOfRange {
            n_frames: 31,
            nominal: 30
        })
    );
}

#[test]
fn partial_timestamps_carry_forward() {
    let r = rate(25, 1);
    let mut interp = ClockInterpreter::default();
    // First picture: absent fields are 0.
    let mut c = clock(3, None);
    c.seconds = Some(7);
    assert_eq!(
        interp
            .interpret(&c, None, r, FramesScaling::Auto)
            .unwrap()
            .timecode,
        tc("00:00:07:03")
    );
    let full = clock(24, Some((10, 20, 30)));
    interp
        .interpret(&full, None, r, FramesScaling::Auto)
        .unwrap();
    // Only n_frames: hh:mm:ss carry forward from the previous picture.
    let bare = clock(5, None);
    assert_eq!(
        interp
            .interpret(&bare, None, r, FramesScaling::Auto)
            .unwrap()
            .timecode,
        tc("10:20:30:05")
    );
    interp.reset();
    assert_eq!(
        interp
            .interpret(&bare, None, r, FramesScaling::Auto)
            .unwrap()
            .timecode,
        tc("00:00:00:05")
    );
}

#[test]
fn drop_frame_detection() {
    let r2997 = rate(30000, 1001);
    let mut interp = ClockInterpreter::default();
    let mut c = clock(20, Some((0, 0, 59)));
    assert!(
        !interp
            .interpret(&c, None, r2997, FramesScaling::Auto)
            .unwrap()
            .timecode
            .drop_frame
    );
    for counting_type in [4, 5, 6] {
        c.counting_type = counting_type;
        assert!(
            interp
                .interpret(&c, None, r2997, FramesScaling::Auto)
                .unwrap()
                .timecode
                .drop_frame
        );
    }
    // cnt_dropped_flag marks the stream DF from then on (spec writers set it only after a skip).
    c.counting_type = 0;
    c.cnt_dropped = true;
    assert!(
        interp
            .interpret(&c, None, r2997, FramesScaling::Auto)
            .unwrap()
            .timecode
            .drop_frame
    );
    c.cnt_dropped = false;
    assert!(
        interp
            .interpret(&c, None, r2997, FramesScaling::Auto)
            .unwrap()
            .timecode
            .drop_frame
    );
    // Never at rates that cannot drop.
    c.counting_type = 4;
    assert!(
        !interp
            .interpret(&c, None, rate(25, 1), FramesScaling::Auto)
            .unwrap()
            .timecode
            .drop_frame
    );
    // A dropped label is not a timecode.
    let mut dropped = clock(0, Some((0, 1, 0)));
    dropped.counting_type = 4;
    assert!(matches!(
        interp.interpret(&dropped, None, r2997, FramesScaling::Auto),
        Err(ClockError::InvalidTimecode(_))
    ));
}

#[test]
fn time_offset_is_added() {
    let mut c = clock(0, Some((12, 0, 0)));
    c.time_offset = 30; // 30 / 60 s with the x264 VUI
    let o = ClockInterpreter::default()
        .interpret(&c, Some(X264_VUI_30), rate(30, 1), FramesScaling::Auto)
        .unwrap();
    assert_eq!(o.offset_ns, 500_000_000);
}

fn observed(timecode: Timecode, rate: FrameRate) -> Observed {
    Observed {
        timecode,
        rate,
        offset_ns: 0,
        discontinuity: false,
    }
}

fn rule_at(now: &str) -> DateRule {
    DateRule {
        anchor: DateAnchor::ReferenceTime(utc::parse_rfc3339(now).unwrap()),
        ..DateRule::default()
    }
}

fn input(o: Option<Observed>, running_ns: Option<i64>) -> FrameInput {
    FrameInput {
        observed: o,
        running_ns,
        decode_running_ns: running_ns,
        discontinuity: false,
        wall_clock_ns: 0,
    }
}

/// A wall-clock timecode a little ahead of this machine's clock (a stamper that labels a
/// frame by its end, host clock skew) resolves to today with the default rule, not to
/// yesterday as under the strict rule.
#[test]
fn wall_clock_timecode_ahead_of_now_resolves_to_today() {
    let r = rate(25, 1);
    let now = utc::parse_rfc3339("2026-12-03T23:15:07.123Z").unwrap();
    for ahead_ns in [40_000_000i64, 40_000_001, 2_000_000_000, 4_960_000_000] {
        // The label of the frame that starts `ahead_ns` after now (25 fps: 40 ms frames).
        let labelled = now + ahead_ns;
        let second = labelled.div_euclid(1_000_000_000);
        let frame = labelled.rem_euclid(1_000_000_000) / 40_000_000;
        let day_second = second.rem_euclid(86_400);
        let label = format!(
            "{:02}:{:02}:{:02}:{:02}",
            day_second / 3600,
            day_second / 60 % 60,
            day_second % 60,
            frame
        );
        let wall = |rule: DateRule| {
            let mut latcher = Latcher::new(rule, Resync::OnDiscontinuity);
            let mut i = input(Some(observed(tc(&label), r)), Some(0));
            i.wall_clock_ns = now;
            latcher.frame(&i).unwrap().utc_ns
        };
        let today = second * 1_000_000_000 + frame * 40_000_000;
        assert_eq!(
            wall(DateRule::default()),
            today,
            "{label} ({ahead_ns} ns ahead)"
        );
        let strict = DateRule {
            future_tolerance_ns: 0,
            ..DateRule::default()
        };
        assert_eq!(wall(strict), today - 86_400_000_000_000, "strict: {label}");
    }
    // Beyond the tolerance the strict rule holds: 10 s ahead is yesterday.
    let mut latcher = Latcher::new(DateRule::default(), Resync::OnDiscontinuity);
    let mut i = input(Some(observed(tc("23:15:17:10"), r)), Some(0));
    i.wall_clock_ns = now;
    assert_eq!(
        utc::format_rfc3339_millis(latcher.frame(&i).unwrap().utc_ns),
        "2026-12-02T23:15:17.400Z"
    );
}

#[test]
fn seed_latch_and_advance() {
    let r = rate(30, 1);
    let mut latcher = Latcher::new(rule_at("2021-12-06T21:00:00Z"), Resync::OnDiscontinuity);
    assert!(
        latcher.frame(&input(None, Some(0))).is_none(),
        "nothing before a timecode"
    );
    let first = latcher
        .frame(&input(Some(observed(tc("16:30:00:10"), r)), Some(0)))
        .unwrap();
    assert_eq!(first.latched, Some(LatchReason::First));
    assert_eq!(
        utc::format_rfc3339_micros(first.utc_ns),
        "2021-12-06T16:30:00.333333Z"
    );
    // A frame without a timecode 20 frames later is advanced.
    let later = latcher
        .frame(&input(None, Some(r.frames_to_ns(20))))
        .unwrap();
    assert_eq!(later.timecode, tc("16:30:01:00"));
    assert_eq!(
        utc::format_rfc3339_micros(later.utc_ns),
        "2021-12-06T16:30:01.000000Z"
    );
    assert_eq!(later.latched, None);
}

#[test]
fn reference_time_moves_with_running_time() {
    // Pinned now = 00:00:01; a discontinuity 10 s later re-latches with now = 00:00:11, so a
    // timecode of 00:00:10 is today, not yesterday.
    let r = rate(25, 1);
    let mut latcher = Latcher::new(rule_at("2021-12-07T00:00:01Z"), Resync::OnDiscontinuity);
    latcher
        .frame(&input(Some(observed(tc("00:00:00:00"), r)), Some(0)))
        .unwrap();
    let mut i = input(Some(observed(tc("00:00:10:00"), r)), Some(10_000_000_000));
    i.discontinuity = true;
    let t = latcher.frame(&i).unwrap();
    assert_eq!(t.latched, Some(LatchReason::Discontinuity));
    assert_eq!(
        utc::format_rfc3339_millis(t.utc_ns),
        "2021-12-07T00:00:10.000Z"
    );
}

#[test]
fn reference_time_never_goes_back_when_running_time_restarts() {
    // First stream latches at running time 50 s; a new stream restarts running time at 0.
    // "Now" stays the pinned reference, so 00:00:30 is still today (not yesterday).
    let r = rate(25, 1);
    let mut latcher = Latcher::new(rule_at("2021-12-07T00:01:00Z"), Resync::OnDiscontinuity);
    latcher
        .frame(&input(
            Some(observed(tc("00:00:10:00"), r)),
            Some(50_000_000_000),
        ))
        .unwrap();
    latcher.discontinuity();
    let t = latcher
        .frame(&input(Some(observed(tc("00:00:30:00"), r)), Some(0)))
        .unwrap();
    assert_eq!(
        utc::format_rfc3339_millis(t.utc_ns),
        "2021-12-07T00:00:30.000Z"
    );
}

#[test]
fn every_frame_resync_keeps_the_date_across_midnight() {
    // The stream jumps from 23:59:59:00 to 00:00:00:10 mid-stream; the date follows the
    // stream (next day), not "now" (which a pinned reference would put on the same day).
    let r = rate(25, 1);
    let mut latcher = Latcher::new(rule_at("2021-12-07T00:00:00Z"), Resync::EveryFrame);
    latcher
        .frame(&input(Some(observed(tc("23:59:59:00"), r)), Some(0)))
        .unwrap();
    let t = latcher
        .frame(&input(
            Some(observed(tc("00:00:00:10"), r)),
            Some(40_000_000),
        ))
        .unwrap();
    assert_eq!(t.latched, Some(LatchReason::Resync));
    assert_eq!(t.mismatch, Some((tc("23:59:59:01"), tc("00:00:00:10"))));
    assert_eq!(
        utc::format_rfc3339_millis(t.utc_ns),
        "2021-12-07T00:00:00.400Z"
    );
}

#[test]
fn pinned_date_then_discontinuity_stays_continuous() {
    let r = rate(25, 1);
    let rule = DateRule {
        anchor: DateAnchor::Date("2022-03-01".parse().unwrap()),
        ..DateRule::default()
    };
    let mut latcher = Latcher::new(rule, Resync::OnDiscontinuity);
    latcher
        .frame(&input(Some(observed(tc("23:59:50:00"), r)), Some(0)))
        .unwrap();
    let mut i = input(Some(observed(tc("00:00:05:00"), r)), Some(15_000_000_000));
    i.discontinuity = true;
    let t = latcher.frame(&i).unwrap();
    assert_eq!(
        utc::format_rfc3339_millis(t.utc_ns),
        "2022-03-02T00:00:05.000Z"
    );
}

#[test]
fn sei_discontinuity_flag_relatches() {
    let r = rate(25, 1);
    let mut latcher = Latcher::new(rule_at("2022-01-01T12:00:00Z"), Resync::OnDiscontinuity);
    latcher
        .frame(&input(Some(observed(tc("10:00:00:00"), r)), Some(0)))
        .unwrap();
    let mut o = observed(tc("11:00:00:00"), r);
    o.discontinuity = true;
    let t = latcher.frame(&input(Some(o), Some(40_000_000))).unwrap();
    assert_eq!(t.timecode, tc("11:00:00:00"));
    assert_eq!(t.latched, Some(LatchReason::Discontinuity));
}

/// A display-order permutation within the reorder depth, like B-frames: decode order
/// d → display order perm[d].
fn reorder(n: usize, depth: usize, seed: u64) -> Vec<usize> {
    let mut order: Vec<usize> = (0..n).collect();
    let mut s = seed | 1;
    let mut i = 1;
    while i + 1 < n {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        let len = (s as usize % depth.max(1)) + 1;
        let end = (i + len).min(n);
        // Decode the anchor of the group first, then the ones displayed before it (I P B B).
        order[i..end].rotate_right(1);
        i = end;
    }
    order
}

proptest! {
    /// On clean input — every frame states its own timecode — the advanced timecode of
    /// frame n equals the stated one, in decode order with B-frame reordering, with and
    /// without PTS, at every standard rate, across midnight.
    #[test]
    fn advanced_equals_stated_on_clean_input(
        rate_index in 0usize..10,
        start_frame in 0i64..6_000_000,
        frames in 1usize..400,
        depth in 1usize..4,
        seed in any::<u64>(),
        with_pts in any::<bool>(),
    ) {
        let (num, den, drop) = [
            (24000, 1001, false), (24, 1, false), (25, 1, false), (30000, 1001, true),
            (30000, 1001, false), (30, 1, false), (50, 1, false), (60000, 1001, true),
            (60000, 1001, false), (60, 1, false),
        ][rate_index];
        let r = rate(num, den);
        let first = Timecode::from_frame_of_day(start_frame, r, drop);
        let mut latcher = Latcher::new(rule_at("2030-01-01T00:00:00Z"), Resync::OnDiscontinuity);
        let order = reorder(frames, depth, seed);
        let mut anchor_utc = None;
        for (decode_index, &display) in order.iter().enumerate() {
            let stated = first.add_frames(display as i64, r);
            let pts = with_pts.then(|| r.frames_to_ns(display as i64 + 2));
            let frame = FrameInput {
                observed: Some(observed(stated, r)),
                running_ns: pts,
                decode_running_ns: Some(r.frames_to_ns(decode_index as i64)),
                discontinuity: false,
                wall_clock_ns: 0,
            };
            let t = latcher.frame(&frame).expect("latched");
            prop_assert_eq!(t.timecode, stated);
            prop_assert_eq!(t.mismatch, None);
            let anchor = *anchor_utc.get_or_insert(t.utc_ns - r.frames_to_ns(display as i64));
            // UTC advances by exact frame periods from the anchor (±1 ns of flooring).
            let expected = anchor + r.frames_to_ns(i64::from(first.frames) + display as i64)
                - r.frames_to_ns(i64::from(first.frames));
            prop_assert!((t.utc_ns - expected).abs() <= 1);
        }
    }

    /// The same through the real SEI path: each access unit's pic_timing SEI is written,
    /// read back by the H.264 reader and interpreted; the advanced timecode of frame n
    /// equals the timecode parsed at frame n (in-band SPS/PPS, x264-style field tick, DF
    /// and NDF rates, partial timestamps as GStreamer 1.22 writes them when hours are 0).
    #[test]
    fn advanced_equals_parsed_sei(
        rate_index in 0usize..4,
        start_frame in 0i64..5_000_000,
        frames in 1usize..200,
        partial in any::<bool>(),
    ) {
        use crate::bitstream::h264::{H264Reader, H264Sps, H264TimingInfo, H264Vui, PicTiming, pps_nal, slice_nal};
        use crate::bitstream::nal::write_annex_b;
        use crate::bitstream::AccessUnitReader;

        let (num, den, drop) = [(25, 1, false), (30000, 1001, true), (50, 1, false), (24000, 1001, false)][rate_index];
        let r = rate(num, den);
        let mut sps = H264Sps::example(0);
        sps.vui = Some(H264Vui {
            timing: Some(H264TimingInfo { num_units_in_tick: den, time_scale: 2 * num, fixed_frame_rate: true }),
            pic_struct_present: true,
            ..Default::default()
        });
        let layout = sps.pic_timing_layout();
        let (sps_nal, pps) = (sps.to_nal(), pps_nal(0, 0));
        let first = Timecode::from_frame_of_day(start_frame, r, drop);
        let mut reader = H264Reader::new();
        let mut interp = ClockInterpreter::default();
        let mut latcher = Latcher::new(rule_at("2030-01-01T00:00:00Z"), Resync::OnDiscontinuity);
        let mut previous: Option<Timecode> = None;
        for n in 0..frames {
            let tc = first.add_frames(n as i64, r);
            // GStreamer 1.22's writer style: leave out what did not change since the last
            // picture (the reader carries it forward).
            let same_hm = previous.is_some_and(|p| p.hours == tc.hours && p.minutes == tc.minutes);
            let clock = ClockTimestamp {
                nuit_field_based: true,
                counting_type: if drop { 4 } else { 0 },
                full_timestamp: !(partial && same_hm),
                n_frames: u16::from(tc.frames),
                seconds: Some(tc.seconds),
                minutes: (!(partial && same_hm)).then_some(tc.minutes),
                hours: (!(partial && same_hm)).then_some(tc.hours),
                ..Default::default()
            };
            previous = Some(tc);
            let timing = PicTiming { pic_struct: Some(0), clock_timestamps: [Some(clock), None, None], ..Default::default() };
            let sei = timing.to_sei_nal(&layout);
            let slice = slice_nal(n == 0, 0);
            let au = if n == 0 {
                write_annex_b(&[&sps_nal, &pps, &sei, &slice])
            } else {
                write_annex_b(&[&sei, &slice])
            };
            let info = reader.read_access_unit(&au);
            prop_assert!(info.faults.is_empty(), "{:?}", info.faults);
            let parsed = interp
                .interpret(&info.clocks[0], info.timing, r, FramesScaling::Auto)
                .expect("clean SEI interprets");
            prop_assert_eq!(parsed.timecode, tc);
            let t = latcher
                .frame(&input(Some(parsed), Some(r.frames_to_ns(n as i64))))
                .expect("latched");
            prop_assert_eq!(t.timecode, parsed.timecode);
            prop_assert_eq!(t.mismatch, None);
        }
    }

    /// The date rule through the latch: never later than now, never more than 25 h earlier
    /// (a local day lasts up to 25 h on a DST change; see timecode::utc).
    #[test]
    fn latched_instant_is_not_after_now(
        now in 946_684_800_000_000_000i64..2_208_988_800_000_000_000,
        frame in 0i64..2_160_000,
        zone_index in 0usize..4,
    ) {
        let zone = match zone_index {
            0 => Zone::Utc,
            1 => Zone::fixed_offset(-28_800).unwrap(),
            2 => Zone::iana("America/Los_Angeles").unwrap(),
            _ => Zone::iana("Australia/Lord_Howe").unwrap(),
        };
        let r = rate(25, 1);
        let rule = DateRule { zone, anchor: DateAnchor::ReferenceTime(now), future_tolerance_ns: 0 };
        let mut latcher = Latcher::new(rule, Resync::OnDiscontinuity);
        let t = latcher
            .frame(&input(Some(observed(Timecode::from_frame_of_day(frame, r, false), r)), Some(0)))
            .unwrap();
        prop_assert!(t.utc_ns <= now);
        prop_assert!(t.utc_ns > now - 25 * 3_600_000_000_000);
    }
}
