// SPDX-License-Identifier: MPL-2.0
//! Unit tests of the timecode model.

use super::*;
use proptest::prelude::*;

fn rate(num: u32, den: u32) -> FrameRate {
    FrameRate::new(num, den).unwrap()
}

fn tc(text: &str) -> Timecode {
    text.parse().unwrap()
}

fn df2997() -> FrameRate {
    rate(30000, 1001)
}

fn df5994() -> FrameRate {
    rate(60000, 1001)
}

/// Every rate broadcast uses, with whether it is used drop-frame.
fn all_rates() -> Vec<(FrameRate, bool)> {
    vec![
        (rate(24000, 1001), false),
        (rate(24, 1), false),
        (rate(25, 1), false),
        (rate(30000, 1001), true),
        (rate(30000, 1001), false),
        (rate(30, 1), false),
        (rate(50, 1), false),
        (rate(60000, 1001), true),
        (rate(60000, 1001), false),
        (rate(60, 1), false),
    ]
}

#[test]
fn frame_rate_reduces_and_rejects_zero() {
    assert_eq!(FrameRate::new(0, 1), None);
    assert_eq!(FrameRate::new(30, 0), None);
    let r = rate(60, 2);
    assert_eq!((r.num(), r.den()), (30, 1));
    assert_eq!(r, rate(30, 1));
    assert_eq!(rate(60000, 2002), df2997());
    assert_eq!(df2997().to_string(), "30000/1001");
}

#[test]
fn nominal_rates() {
    assert_eq!(rate(24000, 1001).nominal(), 24);
    assert_eq!(rate(30000, 1001).nominal(), 30);
    assert_eq!(rate(60000, 1001).nominal(), 60);
    assert_eq!(rate(25, 1).nominal(), 25);
    assert_eq!(rate(50, 1).nominal(), 50);
    assert_eq!(rate(u32::MAX, 1).nominal(), u32::MAX);
    assert_eq!(rate(1, u32::MAX).nominal(), 1);
}

#[test]
fn drop_frame_exists_only_at_2997_and_5994() {
    assert!(df2997().supports_drop_frame());
    assert!(df5994().supports_drop_frame());
    for (num, den) in [(24000, 1001), (24, 1), (25, 1), (30, 1), (50, 1), (60, 1)] {
        assert!(!rate(num, den).supports_drop_frame(), "{num}/{den}");
    }
}

#[test]
fn frames_to_ns_is_exact_and_floors() {
    assert_eq!(rate(30, 1).frames_to_ns(1), 33_333_333);
    assert_eq!(rate(30, 1).frames_to_ns(-1), -33_333_334);
    assert_eq!(rate(30, 1).frames_to_ns(30), 1_000_000_000);
    assert_eq!(df2997().frames_to_ns(1), 33_366_666);
    assert_eq!(df2997().frames_to_ns(30_000), 1_001_000_000_000);
    // GStreamer videotimecode.c test: 01:04:00;02 = frame 115086 = 3840036200000 ns.
    assert_eq!(df2997().frames_to_ns(115_086), 3_840_036_200_000);
    assert_eq!(rate(25, 1).frames_to_ns(i64::MAX), i64::MAX);
    assert_eq!(rate(25, 1).frames_to_ns(i64::MIN), i64::MIN);
}

#[test]
fn ns_to_frames_absorbs_quarter_frame_jitter() {
    for (r, _) in all_rates() {
        for i in [-1000_i64, -1, 0, 1, 2, 29, 30, 12345, 1_000_000] {
            let start = r.frames_to_ns(i);
            let next = r.frames_to_ns(i + 1);
            let duration = next - start;
            assert_eq!(r.ns_to_frames(start), i, "{r} frame {i} start");
            // The second field, half a frame later.
            assert_eq!(r.ns_to_frames(start + duration / 2), i, "{r} {i} field 2");
            // Jitter just under a quarter frame either way.
            assert_eq!(r.ns_to_frames(start - duration / 4 + 1), i, "{r} {i} early");
            assert_eq!(r.ns_to_frames(start + duration / 4), i, "{r} {i} late");
            // 3/4 frame later belongs to the next frame.
            assert_eq!(
                r.ns_to_frames(start + duration * 3 / 4 + 1),
                i + 1,
                "{r} {i}"
            );
        }
    }
    // Total at the ends of the range.
    assert!(rate(30, 1).ns_to_frames(i64::MAX) > 0);
    assert!(rate(30, 1).ns_to_frames(i64::MIN) < 0);
    assert_eq!(rate(u32::MAX, 1).ns_to_frames(i64::MAX), i64::MAX);
}

#[test]
fn ns_to_frames_interval_boundaries_are_exact() {
    // Brute force around every boundary: ns belongs to frame i exactly when
    // frames_to_ns(i) − q ≤ ns, q = a quarter frame; multiplied out by 4·num to stay exact.
    for r in [
        rate(30000, 1001),
        rate(24000, 1001),
        rate(7, 3),
        rate(30, 1),
        rate(60, 1),
    ] {
        let (duration_num, duration_den) = r.frame_duration_fraction();
        let starts_frame = |ns: i64, i: i64| {
            4 * duration_den * i128::from(ns)
                >= 4 * duration_den * i128::from(r.frames_to_ns(i)) - duration_num
        };
        for i in -50_i64..50 {
            let quarter = r.frames_to_ns(1) / 4;
            let boundary = r.frames_to_ns(i) - quarter;
            for ns in boundary - 3..boundary + 3 {
                let expected = if starts_frame(ns, i) { i } else { i - 1 };
                assert_eq!(r.ns_to_frames(ns), expected, "{r} ns {ns} near frame {i}");
            }
        }
    }
}

#[test]
fn drop_frame_checks_from_timecode_md_section_5() {
    // 00:00:59;29 + 1 → 00:01:00;02 (29.97 DF skips ;00 and ;01).
    assert_eq!(tc("00:00:59;29").add_frames(1, df2997()), tc("00:01:00;02"));
    // 59.94: 00:00:59;59 + 1 → 00:01:00;04.
    assert_eq!(tc("00:00:59;59").add_frames(1, df5994()), tc("00:01:00;04"));
    // Tenth minutes keep ;00.
    assert_eq!(tc("00:09:59;29").add_frames(1, df2997()), tc("00:10:00;00"));
    // 00:01:00;00 does not exist.
    assert_eq!(
        tc("00:01:00;00").validate(df2997()),
        Err(TimecodeError::DroppedLabel {
            timecode: tc("00:01:00;00")
        })
    );
    // 25 fps wraps at midnight.
    assert_eq!(
        tc("23:59:59:24").add_frames(1, rate(25, 1)),
        tc("00:00:00:00")
    );
    assert_eq!(tc("01:00:00;00").frame_of_day(df2997()), 107_892);
    assert_eq!(tc("00:10:00;00").frame_of_day(df2997()), 17_982);
    // 17 982 frames = 599.9994 s.
    assert_eq!(df2997().frames_to_ns(17_982), 599_999_400_000);
    assert_eq!(tc("01:04:00;02").frame_of_day(df2997()), 115_086);
    assert_eq!(
        Timecode::from_frame_of_day(115_086, df2997(), true),
        tc("01:04:00;02")
    );
}

#[test]
fn dropped_labels_are_invalid_only_where_dropped() {
    let r = df2997();
    for label in ["00:01:00;00", "00:01:00;01", "23:59:00;01", "00:11:00;00"] {
        assert!(
            matches!(
                tc(label).validate(r),
                Err(TimecodeError::DroppedLabel { .. })
            ),
            "{label}"
        );
    }
    for label in [
        "00:01:00;02",
        "00:10:00;00",
        "00:10:00;01",
        "00:01:01;00",
        "00:00:00;00",
    ] {
        assert_eq!(tc(label).validate(r), Ok(()), "{label}");
    }
    let r = df5994();
    for label in ["00:01:00;00", "00:01:00;03"] {
        assert!(tc(label).validate(r).is_err(), "{label}");
    }
    assert_eq!(tc("00:01:00;04").validate(r), Ok(()));
    assert_eq!(tc("00:20:00;00").validate(r), Ok(()));
    // The same labels are fine in non-drop counting.
    assert_eq!(tc("00:01:00:00").validate(df2997()), Ok(()));
}

#[test]
fn validate_checks_ranges_frames_and_drop_frame_rate() {
    let r25 = rate(25, 1);
    assert_eq!(tc("23:59:59:24").validate(r25), Ok(()));
    assert_eq!(
        Timecode::new(24, 0, 0, 0, false).validate(r25),
        Err(TimecodeError::OutOfRange {
            field: "hours",
            value: 24,
            max: 23
        })
    );
    assert!(matches!(
        Timecode::new(0, 60, 0, 0, false).validate(r25),
        Err(TimecodeError::OutOfRange {
            field: "minutes",
            ..
        })
    ));
    assert!(matches!(
        Timecode::new(0, 0, 60, 0, false).validate(r25),
        Err(TimecodeError::OutOfRange {
            field: "seconds",
            ..
        })
    ));
    assert_eq!(
        tc("00:00:00:25").validate(r25),
        Err(TimecodeError::FramesTooLarge {
            frames: 25,
            nominal: 25
        })
    );
    assert_eq!(tc("00:00:00:23").validate(rate(24000, 1001)), Ok(()));
    assert!(tc("00:00:00:24").validate(rate(24000, 1001)).is_err());
    for r in [
        r25,
        rate(24000, 1001),
        rate(30, 1),
        rate(50, 1),
        rate(60, 1),
    ] {
        assert_eq!(
            tc("00:00:10;00").validate(r),
            Err(TimecodeError::DropFrameAtRate { rate: r })
        );
    }
    // Messages say what to do.
    let message = TimecodeError::DropFrameAtRate { rate: r25 }.to_string();
    assert!(message.contains("30000/1001"), "{message}");
    let message = tc("00:01:00;00")
        .validate(df2997())
        .unwrap_err()
        .to_string();
    assert!(message.contains("00:01:00;00"), "{message}");
    let message = tc("00:00:00:30")
        .validate(rate(30, 1))
        .unwrap_err()
        .to_string();
    assert!(message.contains("0..=29"), "{message}");
}

#[test]
fn frames_per_day_at_every_rate() {
    assert_eq!(Timecode::frames_per_day(df2997(), true), 2_589_408);
    assert_eq!(Timecode::frames_per_day(df5994(), true), 5_178_816);
    assert_eq!(Timecode::frames_per_day(df2997(), false), 2_592_000);
    assert_eq!(
        Timecode::frames_per_day(rate(24000, 1001), false),
        2_073_600
    );
    assert_eq!(Timecode::frames_per_day(rate(25, 1), false), 2_160_000);
    assert_eq!(Timecode::frames_per_day(rate(60, 1), false), 5_184_000);
    // DF requested at a rate without it counts non-drop.
    assert_eq!(Timecode::frames_per_day(rate(25, 1), true), 2_160_000);
    assert_eq!(Timecode::frames_per_day(rate(u32::MAX, 1), false), u32::MAX);
    for (r, df) in all_rates() {
        let last = Timecode::from_frame_of_day(-1, r, df);
        assert_eq!(last.hours, 23);
        assert_eq!(last.minutes, 59);
        assert_eq!(last.seconds, 59);
        assert_eq!(u32::from(last.frames), r.nominal() - 1);
        assert_eq!(last.frame_of_day(r) + 1, Timecode::frames_per_day(r, df));
        assert_eq!(last.add_frames(1, r), Timecode::new(0, 0, 0, 0, df));
    }
}

/// Walks every frame of a day with a label counter written independently of the
/// formulas (increment ff, carry, skip the dropped labels) and checks both directions.
fn round_trip_whole_day(r: FrameRate, drop_frame: bool) {
    let nominal = r.nominal() as u8;
    let dropped = if drop_frame { 2 * nominal / 30 } else { 0 };
    let mut label = Timecode::new(0, 0, 0, 0, drop_frame);
    let frames_per_day = Timecode::frames_per_day(r, drop_frame);
    for n in 0..frames_per_day {
        assert_eq!(label.frame_of_day(r), n, "{label} at {r}");
        assert_eq!(
            Timecode::from_frame_of_day(i64::from(n), r, drop_frame),
            label
        );
        assert_eq!(label.validate(r), Ok(()));
        // Independent label counter.
        label.frames += 1;
        if label.frames == nominal {
            label.frames = 0;
            label.seconds += 1;
            if label.seconds == 60 {
                label.seconds = 0;
                label.minutes += 1;
                if label.minutes == 60 {
                    label.minutes = 0;
                    label.hours += 1;
                }
                if !label.minutes.is_multiple_of(10) {
                    label.frames = dropped;
                }
            }
        }
    }
    assert_eq!(label.hours, 24, "a day has exactly frames_per_day frames");
}

#[test]
fn round_trip_every_frame_of_a_day_2997_df() {
    round_trip_whole_day(df2997(), true);
}

#[test]
fn round_trip_every_frame_of_a_day_5994_df() {
    round_trip_whole_day(df5994(), true);
}

#[test]
fn round_trip_every_frame_of_a_day_25() {
    round_trip_whole_day(rate(25, 1), false);
}

#[test]
fn round_trip_samples_at_every_rate() {
    for (r, df) in all_rates() {
        let frames_per_day = i64::from(Timecode::frames_per_day(r, df));
        for n in (0..frames_per_day).step_by(997).chain([frames_per_day - 1]) {
            let label = Timecode::from_frame_of_day(n, r, df);
            assert_eq!(label.validate(r), Ok(()), "{label} at {r}");
            assert_eq!(i64::from(label.frame_of_day(r)), n, "{label} at {r}");
        }
        // Wrapping both ways.
        assert_eq!(
            Timecode::from_frame_of_day(frames_per_day + 5, r, df),
            Timecode::from_frame_of_day(5, r, df)
        );
        assert_eq!(
            Timecode::from_frame_of_day(-frames_per_day - 1, r, df),
            Timecode::from_frame_of_day(frames_per_day - 1, r, df)
        );
        assert_eq!(
            Timecode::from_frame_of_day(i64::MIN, r, df).validate(r),
            Ok(())
        );
    }
}

#[test]
fn add_frames_wraps_both_ways() {
    let r = rate(25, 1);
    assert_eq!(tc("00:00:00:00").add_frames(-1, r), tc("23:59:59:24"));
    assert_eq!(
        tc("00:00:00:00").add_frames(2_160_000, r),
        tc("00:00:00:00")
    );
    assert_eq!(
        tc("12:00:00:00").add_frames(i64::MAX, r).validate(r),
        Ok(())
    );
    assert_eq!(
        tc("00:01:00;02").add_frames(-1, df2997()),
        tc("00:00:59;29")
    );
    assert_eq!(
        tc("00:00:00;00").add_frames(-1, df2997()),
        tc("23:59:59;29")
    );
    assert_eq!(
        tc("00:01:00;04").add_frames(-1, df5994()),
        tc("00:00:59;59")
    );
    // A drop-frame flag at a rate without drop-frame is kept, and counting is non-drop.
    assert_eq!(
        tc("16:30:00;29").add_frames(1, rate(30, 1)),
        tc("16:30:01;00")
    );
    assert_eq!(
        tc("00:00:59;29").add_frames(1, rate(30, 1)),
        tc("00:01:00;00")
    );
}

#[test]
fn seconds_of_day_is_the_label_reading() {
    assert_eq!(tc("16:30:00;10").seconds_of_day(), 16 * 3600 + 30 * 60);
    assert_eq!(tc("23:59:59:29").seconds_of_day(), 86_399);
    assert_eq!(
        Timecode::new(255, 255, 255, 0, false).seconds_of_day(),
        933_555
    );
}

#[test]
fn display_and_parse() {
    assert_eq!(tc("16:30:00:10").to_string(), "16:30:00:10");
    assert_eq!(tc("16:30:00;10").to_string(), "16:30:00;10");
    assert_eq!(tc("16:30:00.10"), tc("16:30:00;10"));
    assert_eq!(tc("16:30:00,10"), tc("16:30:00;10"));
    assert_eq!(tc(" 01:02:03:04 "), Timecode::new(1, 2, 3, 4, false));
    assert!(tc("01:02:03;04").drop_frame);
    assert_eq!(tc("00:00:00:119").frames, 119);
    for bad in [
        "",
        "1:02:03:04",
        "01:02:03",
        "01-02-03:04",
        "01:02:03/04",
        "aa:bb:cc:dd",
        "01:02:03:",
        "01:02:03:0x",
        "01:02:03:1234",
        "+1:02:03:04",
        "01:02:03:-1",
        "00:00:00:256",
        "０1:02:03:04",
    ] {
        assert!(
            matches!(bad.parse::<Timecode>(), Err(TimecodeError::Parse(_))),
            "{bad:?}"
        );
    }
    assert!(matches!(
        "24:00:00:00".parse::<Timecode>(),
        Err(TimecodeError::OutOfRange { field: "hours", .. })
    ));
    assert!(matches!(
        "00:60:00:00".parse::<Timecode>(),
        Err(TimecodeError::OutOfRange {
            field: "minutes",
            ..
        })
    ));
    assert!(matches!(
        "00:00:60:00".parse::<Timecode>(),
        Err(TimecodeError::OutOfRange {
            field: "seconds",
            ..
        })
    ));
    // Rate-free: frame 99 parses, validation against a rate rejects it.
    assert!(tc("00:00:00:99").validate(rate(30, 1)).is_err());
    let message = "x".parse::<Timecode>().unwrap_err().to_string();
    assert!(message.contains("hh:mm:ss:ff"), "{message}");
}

#[test]
fn frame_clock_examples_from_timecode_md_6_3() {
    // 29.97 DF, 60-frame segments (2.002 s) from 00:00:59;20 anchored at 00:00:59 UTC.
    let second = 1_638_748_859_000_000_000; // 2021-12-06T00:00:59Z
    let clock = FrameClock::new(second, 20, df2997(), 0);
    assert_eq!(clock.utc_ns(0), second + 667_333_333);
    assert_eq!(clock.utc_ns(60), second + 2_669_333_333);
    assert_eq!(clock.utc_ns(120), second + 4_671_333_333);
    assert_eq!(clock.rate(), df2997());
    assert_eq!(clock.frame_at(clock.utc_ns(60)), 60);
    assert_eq!(clock.frame_at(clock.utc_ns(60) + 16_000_000), 60);
    assert_eq!(clock.frame_at(clock.utc_ns(-7)), -7);
    // An SEI time_offset shifts every frame.
    let shifted = FrameClock::new(second, 20, df2997(), 1_000);
    assert_eq!(shifted.utc_ns(5), clock.utc_ns(5) + 1_000);
    assert_eq!(shifted.offset_ns(), 1_000);
    assert_eq!(shifted.anchor_frames(), 20);
    assert_eq!(shifted.second_utc_ns(), second);
    // Saturates instead of overflowing.
    assert_eq!(clock.utc_ns(i64::MAX), i64::MAX);
    assert_eq!(clock.utc_ns(i64::MIN), i64::MIN);
    assert_eq!(
        FrameClock::new(i64::MAX, u32::MAX, rate(1, 1), i64::MAX).utc_ns(1),
        i64::MAX
    );
}

fn any_rate() -> impl Strategy<Value = (FrameRate, bool)> {
    proptest::sample::select(all_rates())
}

fn valid_timecode() -> impl Strategy<Value = (Timecode, FrameRate)> {
    any_rate().prop_flat_map(|(r, df)| {
        (0..i64::from(Timecode::frames_per_day(r, df)))
            .prop_map(move |n| (Timecode::from_frame_of_day(n, r, df), r))
    })
}

proptest! {
    #[test]
    fn add_then_subtract_is_identity(
        (label, r) in valid_timecode(),
        k in prop_oneof![-100_000i64..100_000, (i64::MIN + 1)..=i64::MAX],
    ) {
        prop_assert_eq!(label.add_frames(k, r).add_frames(-k, r), label);
    }

    #[test]
    fn frame_of_day_round_trips(
        (r, df) in any_rate(), h in 0u8..24, m in 0u8..60, s in 0u8..60, f in 0u8..60,
    ) {
        let label = Timecode::new(h, m, s, f, df);
        if label.validate(r).is_ok() {
            let n = label.frame_of_day(r);
            prop_assert!(n < Timecode::frames_per_day(r, df));
            prop_assert_eq!(Timecode::from_frame_of_day(i64::from(n), r, df), label);
        }
    }

    #[test]
    fn add_frames_one_is_the_next_frame((label, r) in valid_timecode()) {
        let next = label.add_frames(1, r);
        prop_assert_eq!(next.validate(r), Ok(()));
        let frames_per_day = Timecode::frames_per_day(r, label.drop_frame);
        prop_assert_eq!(next.frame_of_day(r), (label.frame_of_day(r) + 1) % frames_per_day);
    }

    #[test]
    fn parse_display_round_trip(
        h in 0u8..24, m in 0u8..60, s in 0u8..60, f in 0u8..=255, df in any::<bool>(),
    ) {
        let label = Timecode::new(h, m, s, f, df);
        prop_assert_eq!(label.to_string().parse::<Timecode>(), Ok(label));
    }

    #[test]
    fn parse_never_panics(text in "\\PC{0,16}") {
        let _ = text.parse::<Timecode>();
    }

    #[test]
    fn frame_clock_strictly_increasing(
        (r, _) in any_rate(),
        second in -4_000_000_000_000_000_000i64..4_000_000_000_000_000_000,
        anchor in 0u32..120,
        offset in -1_000_000_000i64..1_000_000_000,
        k in -10_000_000_000i64..10_000_000_000,
    ) {
        let clock = FrameClock::new(second, anchor, r, offset);
        let (t0, t1) = (clock.utc_ns(k), clock.utc_ns(k + 1));
        prop_assert!(t0 < t1);
        // The step is one frame, floored: within 1 ns of den/num s.
        let exact = i128::from(r.den()) * NANOS_PER_SECOND / i128::from(r.num());
        prop_assert!((i128::from(t1 - t0) - exact).abs() <= 1);
        prop_assert_eq!(clock.frame_at(t0), k);
        prop_assert_eq!(clock.frame_at(t1 - 1), k + 1);
    }

    #[test]
    fn ns_to_frames_inverts_frames_to_ns((r, _) in any_rate(), i in -10_000_000_000i64..10_000_000_000) {
        prop_assert_eq!(r.ns_to_frames(r.frames_to_ns(i)), i);
    }

    #[test]
    fn total_on_any_input(
        num in any::<u32>(), den in any::<u32>(), h in any::<u8>(), m in any::<u8>(),
        s in any::<u8>(), f in any::<u8>(), df in any::<bool>(), k in any::<i64>(),
    ) {
        if let Some(r) = FrameRate::new(num, den) {
            let label = Timecode::new(h, m, s, f, df);
            let _ = label.validate(r);
            let _ = label.frame_of_day(r);
            let _ = label.add_frames(k, r);
            let _ = Timecode::from_frame_of_day(k, r, df);
            let _ = r.frames_to_ns(k);
            let _ = r.ns_to_frames(k);
            let _ = FrameClock::new(k, u32::from(f), r, k).utc_ns(k);
            let _ = FrameClock::new(k, u32::from(f), r, k).frame_at(k);
        }
    }
}

/// The i64 fast paths against the exact formulas.
mod fast_path {
    use super::*;

    proptest! {
        /// The i64 fast paths agree with the exact i128 formulas everywhere.
        #[test]
        fn fast_paths_match_exact(num in 1u32.., den in 1u32.., value in any::<i64>()) {
            let rate = FrameRate::new(num, den).expect("non-zero");
            prop_assert_eq!(rate.frames_to_ns(value), saturate_i64(rate.frames_to_ns_exact(i128::from(value))));
            prop_assert_eq!(rate.ns_to_frames(value), saturate_i64(rate.ns_to_frames_exact(i128::from(value))));
            let small = value % 10_000_000;
            prop_assert_eq!(rate.frames_to_ns(small), saturate_i64(rate.frames_to_ns_exact(i128::from(small))));
            prop_assert_eq!(rate.ns_to_frames(small), saturate_i64(rate.ns_to_frames_exact(i128::from(small))));
        }
    }
}
