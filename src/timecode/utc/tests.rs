// SPDX-License-Identifier: MPL-2.0
//! Unit tests of the parent module.

use super::*;
use crate::timecode::{FrameClock, FrameRate, Timecode};
use proptest::prelude::*;

const HOUR_NS: i64 = 3_600_000_000_000;
const DAY_NS: i64 = 24 * HOUR_NS;

fn ns(text: &str) -> i64 {
    parse_rfc3339(text).unwrap()
}

fn zone(text: &str) -> Zone {
    text.parse().unwrap()
}

fn tc(text: &str) -> Timecode {
    text.parse().unwrap()
}

fn date(text: &str) -> LocalDate {
    text.parse().unwrap()
}

fn rate_from(text: &str) -> FrameRate {
    let (num, den) = text.split_once('/').unwrap_or((text, "1"));
    FrameRate::new(num.parse().unwrap(), den.parse().unwrap()).unwrap()
}

/// The whole §6.1 pipeline for a first frame: label seconds → resolve_latest → FrameClock.
fn anchor_clock(timecode: Timecode, rate: FrameRate, zone: &Zone, now: i64) -> FrameClock {
    let frac = rate.frames_to_ns(i64::from(timecode.frames));
    let second = resolve_latest(timecode.seconds_of_day(), frac, zone, now, 0);
    FrameClock::new(second, u32::from(timecode.frames), rate, 0)
}

fn label_utc_ms(timecode: &str, rate: &str, zone_text: &str, now: &str) -> String {
    let clock = anchor_clock(tc(timecode), rate_from(rate), &zone(zone_text), ns(now));
    format_rfc3339_millis(clock.utc_ns(0))
}

#[test]
fn seed_table_now_2021_12_06t21z() {
    // The Live Stream API's table, all six rows; now = 2021-12-06T21:00:00Z.
    let now = "2021-12-06T21:00:00Z";
    let rows = [
        ("UTC", "16:30:00;10", "2021-12-06T16:30:00.333Z"),
        (
            "America/Los_Angeles",
            "16:30:00;10",
            "2021-12-06T00:30:00.333Z",
        ),
        (
            "America/New_York",
            "16:30:00;10",
            "2021-12-05T21:30:00.333Z",
        ),
        ("Asia/Bangkok", "16:30:00;10", "2021-12-06T09:30:00.333Z"),
        (
            "America/Los_Angeles",
            "03:30:00;10",
            "2021-12-06T11:30:00.333Z",
        ),
        ("Asia/Bangkok", "03:30:00;10", "2021-12-06T20:30:00.333Z"),
    ];
    for (zone_text, timecode, expected) in rows {
        let got = label_utc_ms(timecode, "30/1", zone_text, now);
        assert_eq!(got, expected, "{zone_text} {timecode}");
        // "never later than the current UTC time"
        assert!(ns(&got) <= ns(now));
    }
}

fn string_field<'a>(case: &'a serde_json::Value, key: &str) -> &'a str {
    case[key]
        .as_str()
        .unwrap_or_else(|| panic!("case {case} has no string field {key}"))
}

#[test]
fn conversion_cases_json_all_checks() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/timecode/conversion_cases.json"
    );
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let cases: Vec<serde_json::Value> = serde_json::from_str(&text).unwrap();
    // 35 cases; 35 label checks + 9 elapsed checks = the 44 that tc_to_utc.py counts.
    assert_eq!(cases.len(), 35);
    let mut checks = 0;
    for case in &cases {
        let name = string_field(case, "name");
        let rate = rate_from(string_field(case, "rate"));
        let timecode = tc(string_field(case, "timecode"));
        let zone = zone(case["zone"].as_str().unwrap_or("UTC"));
        let now = ns(string_field(case, "now"));

        // Label reading (the one the elements use): hh:mm:ss + ff frames.
        let clock = anchor_clock(timecode, rate, &zone, now);
        let anchor = clock.utc_ns(0);
        assert_eq!(
            format_rfc3339_millis(anchor),
            string_field(case, "expected_label"),
            "{name}"
        );
        assert_eq!(
            format_rfc3339_micros(anchor),
            string_field(case, "expected_label_us"),
            "{name}"
        );
        assert!(anchor <= now, "{name}: never later than now");
        checks += 1;

        // Elapsed reading (GStreamer ≥ 1.28 to_date_time for DF), where the table has it:
        // the frame count since midnight as time of day.
        if let Some(expected) = case["expected_elapsed"].as_str() {
            let elapsed_ns = rate.frames_to_ns(i64::from(timecode.frame_of_day(rate)));
            let whole_seconds = u32::try_from(elapsed_ns / 1_000_000_000).unwrap();
            let frac = elapsed_ns % 1_000_000_000;
            let second = resolve_latest(whole_seconds, frac, &zone, now, 0);
            assert_eq!(
                format_rfc3339_millis(second + frac),
                expected,
                "{name} elapsed"
            );
            checks += 1;
        }
    }
    assert_eq!(checks, 44);
}

#[test]
fn fixture_anchors_of_timecode_md_6_3() {
    let now = ns("2021-12-06T21:00:00Z");
    let utc = Zone::Utc;
    let us = |timecode: &str, rate: &str, zone: &Zone, now: i64, k: i64| {
        format_rfc3339_micros(anchor_clock(tc(timecode), rate_from(rate), zone, now).utc_ns(k))
    };
    assert_eq!(
        us("16:30:00:10", "30", &utc, now, 0),
        "2021-12-06T16:30:00.333333Z"
    );
    let la = zone("America/Los_Angeles");
    assert_eq!(
        us("16:30:00:10", "30", &la, now, 0),
        "2021-12-06T00:30:00.333333Z"
    );
    assert_eq!(
        us("00:00:59;20", "30000/1001", &utc, now, 0),
        "2021-12-06T00:00:59.667333Z"
    );
    assert_eq!(
        us("00:00:59;50", "60000/1001", &utc, now, 0),
        "2021-12-06T00:00:59.834166Z"
    );
    assert_eq!(
        us("16:30:00:10", "24000/1001", &utc, now, 0),
        "2021-12-06T16:30:00.417083Z"
    );
    assert_eq!(
        us("00:09:59;20", "30000/1001", &utc, now, 0),
        "2021-12-06T00:09:59.667333Z"
    );
    // 25 fps across midnight: frame 10 is 00:00:00:00 of the next day, no re-interpretation.
    let now = ns("2021-12-07T00:00:02Z");
    assert_eq!(
        us("23:59:59:15", "25", &utc, now, 0),
        "2021-12-06T23:59:59.600000Z"
    );
    assert_eq!(
        us("23:59:59:15", "25", &utc, now, 10),
        "2021-12-07T00:00:00.000000Z"
    );
    assert_eq!(
        us("23:59:59:15", "25", &utc, now, 29),
        "2021-12-07T00:00:00.760000Z"
    );
    // HLS program date-times of 60-frame segments.
    let now = ns("2021-12-06T21:00:00Z");
    let la_clock = anchor_clock(tc("16:30:00:10"), rate_from("30"), &la, now);
    let pdt: Vec<_> = (0..3)
        .map(|s| format_rfc3339_millis(la_clock.utc_ns(60 * s)))
        .collect();
    assert_eq!(
        pdt,
        [
            "2021-12-06T00:30:00.333Z",
            "2021-12-06T00:30:02.333Z",
            "2021-12-06T00:30:04.333Z"
        ]
    );
    let df_clock = anchor_clock(tc("00:00:59;20"), rate_from("30000/1001"), &utc, now);
    let pdt: Vec<_> = (0..3)
        .map(|s| format_rfc3339_micros(df_clock.utc_ns(60 * s)))
        .collect();
    assert_eq!(
        pdt,
        [
            "2021-12-06T00:00:59.667333Z",
            "2021-12-06T00:01:01.669333Z",
            "2021-12-06T00:01:03.671333Z"
        ]
    );
}

#[test]
fn resolve_latest_tolerance_absorbs_clock_skew() {
    // Case 10: a timecode one frame ahead of now goes 24 h back with the strict rule...
    let now = ns("2021-12-07T00:00:05Z");
    let frac = 33_333_333;
    let strict = resolve_latest(5, frac, &Zone::Utc, now, 0);
    assert_eq!(strict, ns("2021-12-06T00:00:05Z"));
    // ...and stays today with a tolerance of one frame or more.
    let tolerant = resolve_latest(5, frac, &Zone::Utc, now, 40_000_000);
    assert_eq!(tolerant, ns("2021-12-07T00:00:05Z"));
    // A negative tolerance moves the deadline back.
    assert_eq!(
        resolve_latest(5, 0, &Zone::Utc, now, -1),
        ns("2021-12-06T00:00:05Z")
    );
}

#[test]
fn resolve_latest_can_be_more_than_24_hours_back() {
    // Fall back in Los Angeles, 2022-11-06 02:00 PDT → 01:00 PST. At 02:20 PST (10:20Z) the
    // latest 02:30 is yesterday's 02:30 PDT (2022-11-05T09:30Z): 24 h 50 min ago, because
    // that local day lasted 25 h.
    let la = zone("America/Los_Angeles");
    let now = ns("2022-11-06T10:20:00Z");
    let answer = resolve_latest(2 * 3600 + 1800, 0, &la, now, 0);
    assert_eq!(answer, ns("2022-11-05T09:30:00Z"));
    assert_eq!(now - answer, 24 * HOUR_NS + 50 * 60_000_000_000);
    assert!(now - answer < 25 * HOUR_NS);
}

#[test]
fn resolve_latest_midnight_and_frac() {
    let utc = Zone::Utc;
    let now = ns("2021-12-07T00:00:00Z");
    // Exactly now is allowed, 1 ns later is not.
    assert_eq!(resolve_latest(0, 0, &utc, now, 0), now);
    assert_eq!(
        resolve_latest(86_399, 999_999_999, &utc, now, 0),
        now - 1_000_000_000
    );
    assert_eq!(resolve_latest(0, 1, &utc, now, 0), now - DAY_NS);
    // seconds_of_day past a day reads modulo a day.
    assert_eq!(resolve_latest(86_400, 0, &utc, now, 0), now);
    // Total at the ends of the i64 range.
    let _ = resolve_latest(0, 0, &utc, i64::MIN, i64::MIN);
    let _ = resolve_latest(
        u32::MAX,
        i64::MAX,
        &zone("Pacific/Apia"),
        i64::MAX,
        i64::MAX,
    );
    let _ = resolve_latest(0, i64::MIN, &Zone::FixedOffset(i32::MIN), i64::MIN, 0);
}

#[test]
fn resolve_on_date_examples() {
    let la = zone("America/Los_Angeles");
    let sod = |text: &str| tc(text).seconds_of_day();
    assert_eq!(
        resolve_on_date(sod("16:30:00:00"), &la, date("2021-12-05")),
        ns("2021-12-06T00:30:00Z")
    );
    assert_eq!(
        resolve_on_date(sod("16:30:00:00"), &Zone::Utc, date("2021-12-05")),
        ns("2021-12-05T16:30:00Z")
    );
    assert_eq!(
        resolve_on_date(sod("02:30:00:00"), &zone("+05:30"), date("2021-12-06")),
        ns("2021-12-05T21:00:00Z")
    );
    // Spring forward: 02:30 does not exist, shifted forward to 03:30 PDT.
    assert_eq!(
        resolve_on_date(sod("02:30:00:00"), &la, date("2022-03-13")),
        ns("2022-03-13T10:30:00Z")
    );
    assert_eq!(
        resolve_on_date(sod("01:59:59:00"), &la, date("2022-03-13")),
        ns("2022-03-13T09:59:59Z")
    );
    assert_eq!(
        resolve_on_date(sod("03:00:00:00"), &la, date("2022-03-13")),
        ns("2022-03-13T10:00:00Z")
    );
    // Fall back: 01:30 happens twice; the first (PDT) occurrence.
    assert_eq!(
        resolve_on_date(sod("01:30:00:00"), &la, date("2022-11-06")),
        ns("2022-11-06T08:30:00Z")
    );
    // London: 01:30 on 2022-03-27 is in the gap → 02:30 BST = 01:30Z.
    assert_eq!(
        resolve_on_date(
            sod("01:30:00:00"),
            &zone("Europe/London"),
            date("2022-03-27")
        ),
        ns("2022-03-27T01:30:00Z")
    );
    // Midnight wrap: 24 h of seconds is the next day's midnight.
    assert_eq!(
        resolve_on_date(86_400, &Zone::Utc, date("2021-12-31")),
        ns("2022-01-01T00:00:00Z")
    );
    assert_eq!(
        resolve_on_date(0, &la, date("2022-01-01")),
        ns("2022-01-01T08:00:00Z")
    );
    // Leap day; an impossible date from the public fields is clamped, not a panic.
    assert_eq!(
        resolve_on_date(0, &Zone::Utc, date("2024-02-29")),
        ns("2024-02-29T00:00:00Z")
    );
    let impossible = LocalDate {
        year: 2023,
        month: 2,
        day: 30,
    };
    assert_eq!(
        resolve_on_date(0, &Zone::Utc, impossible),
        ns("2023-02-28T00:00:00Z")
    );
    let absurd = LocalDate {
        year: i16::MIN,
        month: 0,
        day: 255,
    };
    assert_eq!(resolve_on_date(u32::MAX, &la, absurd), i64::MIN);
}

#[test]
fn resolve_nearest_examples() {
    let utc = Zone::Utc;
    let la = zone("America/Los_Angeles");
    // Re-reading 23:59:59:24 shortly after midnight UTC: yesterday, not today.
    let expected = ns("2021-12-07T00:00:01Z");
    assert_eq!(
        resolve_nearest(86_399, 960_000_000, &utc, expected),
        ns("2021-12-06T23:59:59Z")
    );
    // And 00:00:00 shortly before midnight: tomorrow.
    let expected = ns("2021-12-06T23:59:59.5Z");
    assert_eq!(
        resolve_nearest(0, 0, &utc, expected),
        ns("2021-12-07T00:00:00Z")
    );
    // Far from the wall clock, the stream's date wins: a stream running 3 days behind.
    let expected = ns("2021-12-03T16:30:05Z");
    assert_eq!(
        resolve_nearest(16 * 3600 + 1800, 0, &utc, expected),
        ns("2021-12-03T16:30:00Z")
    );
    // Fall back: both 01:30 occurrences are candidates, the nearer one is chosen.
    assert_eq!(
        resolve_nearest(5400, 0, &la, ns("2022-11-06T08:40:00Z")),
        ns("2022-11-06T08:30:00Z")
    );
    assert_eq!(
        resolve_nearest(5400, 0, &la, ns("2022-11-06T09:20:00Z")),
        ns("2022-11-06T09:30:00Z")
    );
    // Spring forward: 02:30 is read as 03:30 PDT.
    assert_eq!(
        resolve_nearest(9000, 0, &la, ns("2022-03-13T10:31:00Z")),
        ns("2022-03-13T10:30:00Z")
    );
    // A tie (exactly 12 h either side) goes to the earlier candidate.
    assert_eq!(
        resolve_nearest(0, 0, &utc, ns("2021-12-06T12:00:00Z")),
        ns("2021-12-06T00:00:00Z")
    );
    // Midnight wrap in LA: 00:00:00:02 at 30 fps read just after local midnight.
    let expected = ns("2022-01-01T08:00:00.1Z");
    assert_eq!(
        resolve_nearest(0, 66_666_666, &la, expected),
        ns("2022-01-01T08:00:00Z")
    );
    let _ = resolve_nearest(u32::MAX, i64::MIN, &la, i64::MAX);
}

#[test]
fn zones_parse_and_name() {
    assert_eq!(zone("UTC"), Zone::Utc);
    assert_eq!(Zone::iana("UTC"), Ok(Zone::Utc));
    assert_eq!(Zone::iana("Etc/UTC").unwrap().name(), "Etc/UTC");
    assert_eq!(zone("America/Los_Angeles").name(), "America/Los_Angeles");
    assert_eq!(zone("america/los_angeles").name(), "America/Los_Angeles");
    assert_eq!(zone("+19800s"), Zone::FixedOffset(19_800));
    assert_eq!(zone("-28800s"), Zone::FixedOffset(-28_800));
    assert_eq!(zone("3600s"), Zone::FixedOffset(3600));
    assert_eq!(zone("+05:30"), Zone::FixedOffset(19_800));
    assert_eq!(zone("-08:00"), Zone::FixedOffset(-28_800));
    assert_eq!(zone("+05"), Zone::FixedOffset(18_000));
    assert_eq!(zone("-00:00:30"), Zone::FixedOffset(-30));
    assert_eq!(Zone::FixedOffset(19_800).name(), "+05:30");
    assert_eq!(Zone::FixedOffset(-28_800).name(), "-08:00");
    assert_eq!(Zone::FixedOffset(0).name(), "+00:00");
    assert_eq!(Zone::FixedOffset(-30).name(), "-00:00:30");
    assert_eq!(Zone::FixedOffset(i32::MIN).name(), "-596523:14:08");
    assert_eq!(zone("Asia/Kolkata").to_string(), "Asia/Kolkata");
    assert_eq!(Zone::fixed_offset(64_800), Ok(Zone::FixedOffset(64_800)));
    assert_eq!(Zone::fixed_offset(-64_800), Ok(Zone::FixedOffset(-64_800)));
    assert_eq!(
        Zone::fixed_offset(64_801),
        Err(ZoneError::OffsetOutOfRange { seconds: 64_801 })
    );
    assert!(Zone::fixed_offset(i32::MIN).is_err());
    assert!("+19:00".parse::<Zone>().is_err());
    assert!("99999999999999s".parse::<Zone>().is_err());
    assert!("+5:30".parse::<Zone>().is_err());
    assert!("".parse::<Zone>().is_err());
    let error = Zone::iana("Mars/Olympus_Mons").unwrap_err();
    assert!(matches!(&error, ZoneError::UnknownZone { name, .. } if name == "Mars/Olympus_Mons"));
    let message = error.to_string();
    assert!(message.contains("Mars/Olympus_Mons"), "{message}");
    assert!(message.contains("America/Los_Angeles"), "{message}");
    let message = "+25:00".parse::<Zone>().unwrap_err().to_string();
    assert!(message.contains("18 h"), "{message}");
    fn assert_thread_safe<T: Send + Sync + Clone + fmt::Debug>() {}
    assert_thread_safe::<Zone>();
}

#[test]
fn local_dates_parse_display_and_validate() {
    assert_eq!(
        date("2021-12-06"),
        LocalDate {
            year: 2021,
            month: 12,
            day: 6
        }
    );
    assert_eq!(date("2024-02-29").to_string(), "2024-02-29");
    assert_eq!(
        LocalDate::new(-44, 3, 15).unwrap().to_string(),
        "-0044-03-15"
    );
    for bad in [
        "2021-12-6",
        "2021/12/06",
        "21-12-06",
        "2021-12-06T00:00",
        "２021-12-06",
        "",
    ] {
        assert!(
            matches!(bad.parse::<LocalDate>(), Err(DateError::Syntax { .. })),
            "{bad:?}"
        );
    }
    for bad in [
        "2023-02-29",
        "2021-13-01",
        "2021-00-10",
        "2021-04-31",
        "2021-01-00",
    ] {
        assert!(
            matches!(bad.parse::<LocalDate>(), Err(DateError::Invalid { .. })),
            "{bad:?}"
        );
    }
    assert!(LocalDate::new(2021, 200, 1).is_err());
    let message = "2023-02-29".parse::<LocalDate>().unwrap_err().to_string();
    assert!(message.contains("2023-02-29"), "{message}");
    // The local date at an instant depends on the zone.
    let now = ns("2021-12-06T21:00:00Z");
    assert_eq!(LocalDate::at_instant(now, &Zone::Utc), date("2021-12-06"));
    assert_eq!(
        LocalDate::at_instant(now, &zone("Asia/Bangkok")),
        date("2021-12-07")
    );
    assert_eq!(LocalDate::at_instant(-1, &Zone::Utc), date("1969-12-31"));
    let _ = LocalDate::at_instant(i64::MIN, &Zone::FixedOffset(i32::MIN));
}

#[test]
fn rfc3339_parse_and_format() {
    assert_eq!(ns("2021-12-06T21:00:00Z"), 1_638_824_400_000_000_000);
    assert_eq!(ns("2021-12-06T13:00:00-08:00"), 1_638_824_400_000_000_000);
    assert_eq!(ns("2021-12-07T02:30:00+05:30"), 1_638_824_400_000_000_000);
    assert_eq!(
        ns("2021-12-06T21:00:00.123456789Z"),
        1_638_824_400_123_456_789
    );
    assert_eq!(ns("1970-01-01T00:00:00Z"), 0);
    assert!(
        parse_rfc3339("2021-12-06T21:00:00").is_err(),
        "an offset is required"
    );
    assert!(parse_rfc3339("yesterday").is_err());
    assert!(parse_rfc3339("2021-02-30T00:00:00Z").is_err());
    assert_eq!(
        parse_rfc3339("2300-01-01T00:00:00Z"),
        Err(DateError::OutOfRange {
            input: "2300-01-01T00:00:00Z".into()
        })
    );
    let message = parse_rfc3339("yesterday").unwrap_err().to_string();
    assert!(message.contains("2021-12-06T21:00:00Z"), "{message}");

    let t = ns("2021-12-06T16:30:00Z") + 333_333_333;
    assert_eq!(format_rfc3339_millis(t), "2021-12-06T16:30:00.333Z");
    assert_eq!(format_rfc3339_micros(t), "2021-12-06T16:30:00.333333Z");
    assert_eq!(format_rfc3339_nanos(t), "2021-12-06T16:30:00.333333333Z");
    assert_eq!(format_rfc3339_millis(999_999), "1970-01-01T00:00:00.000Z");
    // Floor also before 1970: −1 ns is 23:59:59.999999999 of the day before.
    assert_eq!(format_rfc3339_millis(-1), "1969-12-31T23:59:59.999Z");
    assert_eq!(format_rfc3339_micros(-1), "1969-12-31T23:59:59.999999Z");
    assert_eq!(
        format_rfc3339_nanos(-1_000_000_000),
        "1969-12-31T23:59:59.000000000Z"
    );
    assert_eq!(
        format_rfc3339_nanos(i64::MIN),
        "1677-09-21T00:12:43.145224192Z"
    );
    assert_eq!(
        format_rfc3339_nanos(i64::MAX),
        "2262-04-11T23:47:16.854775807Z"
    );
    for value in [i64::MIN, -1, 0, 1, t, i64::MAX] {
        assert_eq!(ns(&format_rfc3339_nanos(value)), value);
    }
}

// ---- property tests ----

const DST_ZONES: [&str; 7] = [
    "America/Los_Angeles",
    "America/New_York",
    "Europe/London",
    "Europe/Berlin",
    "Australia/Lord_Howe",
    "Australia/Sydney",
    "America/Santiago",
];

fn any_zone() -> impl Strategy<Value = Zone> {
    prop_oneof![
        Just(Zone::Utc),
        (-MAX_FIXED_OFFSET_SECONDS..=MAX_FIXED_OFFSET_SECONDS).prop_map(Zone::FixedOffset),
        Just(Zone::iana("Pacific/Kiritimati").unwrap()),
        proptest::sample::select(DST_ZONES.to_vec()).prop_map(|name| Zone::iana(name).unwrap()),
    ]
}

/// A label read at `now` in `zone`: the inputs of the date rule.
#[derive(Debug, Clone)]
struct Reading {
    zone: Zone,
    now: i64,
    seconds_of_day: u32,
    frac: i64,
}

/// A label's whole seconds and frame fraction at one of the rates.
fn any_label() -> impl Strategy<Value = (u32, i64)> {
    let rates = [
        (24000, 1001, false),
        (25, 1, false),
        (30000, 1001, true),
        (30, 1, false),
        (60000, 1001, true),
        (60000, 1001, false),
    ];
    proptest::sample::select(rates.to_vec()).prop_flat_map(|(num, den, df)| {
        let rate = FrameRate::new(num, den).unwrap();
        (0..i64::from(Timecode::frames_per_day(rate, df))).prop_map(move |n| {
            let label = Timecode::from_frame_of_day(n, rate, df);
            (
                label.seconds_of_day(),
                rate.frames_to_ns(i64::from(label.frames)),
            )
        })
    })
}

/// Any zone, now uniform over 2000-01-01 .. 2040-01-01, any label.
fn uniform_reading() -> impl Strategy<Value = Reading> {
    (
        any_zone(),
        946_684_800_000_000_000i64..2_208_988_800_000_000_000,
        any_label(),
    )
        .prop_map(|(zone, now, (seconds_of_day, frac))| Reading {
            zone,
            now,
            seconds_of_day,
            frac,
        })
}

/// Uniform sampling almost never meets a DST transition (a gap or fold is 1 h on 2 days a
/// year), so half the cases put now within ±30 h of a transition of a DST zone in
/// 2000..2040, and the label within ±1.5 h of the transition's wall-clock time.
fn near_dst_transition() -> impl Strategy<Value = Reading> {
    (
        proptest::sample::select(DST_ZONES.to_vec()),
        2000i16..2040,
        0usize..2,
        -30 * 3600i64..30 * 3600,
        -5400i64..5400,
        0i64..1_000_000_000,
    )
        .prop_map(|(name, year, which, now_delta, label_delta, frac)| {
            let zone = Zone::iana(name).unwrap();
            let Zone::Iana(iana) = &zone else {
                unreachable!("{name} is an IANA zone")
            };
            let new_year = Offset::UTC
                .to_timestamp(civil::date(year, 1, 1).at(0, 0, 0, 0))
                .unwrap();
            let transition = iana
                .time_zone()
                .following(new_year)
                .nth(which)
                .unwrap()
                .timestamp()
                .as_second();
            // The wall clock just before the transition (e.g. 02:00 in Los Angeles).
            let (_, local_before) = wall_clock(&zone, transition - 1);
            let seconds_of_day = (local_before + 1 + label_delta).rem_euclid(SECONDS_PER_DAY);
            Reading {
                zone,
                now: (transition + now_delta) * 1_000_000_000 + frac,
                seconds_of_day: u32::try_from(seconds_of_day).unwrap(),
                frac,
            }
        })
}

fn any_reading() -> impl Strategy<Value = Reading> {
    prop_oneof![uniform_reading(), near_dst_transition()]
}

/// The zone's wall clock at `utc_seconds`: (local day number, seconds of day).
fn wall_clock(zone: &Zone, utc_seconds: i64) -> (i64, i64) {
    let local = utc_seconds + zone.offset_seconds_at(utc_seconds);
    (
        local.div_euclid(SECONDS_PER_DAY),
        local.rem_euclid(SECONDS_PER_DAY),
    )
}

/// Guards the generator: the DST-biased readings must really meet gaps and folds, or the
/// properties below would only ever see unambiguous wall-clock times.
#[test]
fn dst_generator_meets_gaps_and_folds() {
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;
    let mut runner = TestRunner::deterministic();
    let strategy = near_dst_transition();
    let (mut gaps, mut folds) = (0, 0);
    for _ in 0..1000 {
        let Reading {
            zone,
            now,
            seconds_of_day,
            ..
        } = strategy.new_tree(&mut runner).unwrap().current();
        let today = zone.local_day_at(i128::from(now));
        for day in today - 2..=today + 2 {
            let local = day * SECONDS_PER_DAY + i64::from(seconds_of_day);
            match zone.instants_of_wall_clock(local) {
                WallClockInstants::Skipped { .. } => gaps += 1,
                WallClockInstants::Repeated { .. } => folds += 1,
                WallClockInstants::Unique(_) => {}
            }
        }
    }
    assert!(gaps >= 100 && folds >= 100, "gaps {gaps}, folds {folds}");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    /// The bound that holds: now + tol − 25 h < answer + frac ≤ now + tol.
    ///
    /// Upper: only candidates ≤ now + tol are kept. Lower: after any reading of a time of
    /// day, the wall clock shows it again at most 24 h + (largest drop of the offset) later
    /// (a fold's two readings are both candidates, a gap's reading is shifted, not lost), and
    /// the candidate window (today+1 … today−2) contains the last reading before the
    /// deadline. These zones' offsets drop by at most 1 h at once (fall back), so
    /// consecutive readings are ≤ 25 h apart: were the answer ≤ deadline − 25 h, the next
    /// reading would still be ≤ deadline and would have been chosen instead. Strict, and not
    /// "within 24 h": see resolve_latest_can_be_more_than_24_hours_back.
    #[test]
    fn latest_is_never_later_than_now_and_less_than_25_hours_back(
        reading in any_reading(),
        tolerance in prop_oneof![Just(0i64), 0i64..2_000_000_000],
    ) {
        let Reading { zone, now, seconds_of_day, frac } = reading;
        let answer = resolve_latest(seconds_of_day, frac, &zone, now, tolerance);
        let deadline = now + tolerance;
        prop_assert!(answer + frac <= deadline);
        prop_assert!(answer + frac > deadline - 25 * HOUR_NS);
        // The answer is a whole second.
        prop_assert_eq!(answer % 1_000_000_000, 0);
    }

    /// The local time of day of the answer is the label's, except in a DST gap, where it is
    /// the label shifted forward by the gap (the pre-transition offset applied to the label).
    #[test]
    fn latest_reads_the_label_on_the_wall_clock(reading in any_reading()) {
        let Reading { zone, now, seconds_of_day, frac } = reading;
        let sod = i64::from(seconds_of_day);
        let answer_seconds = resolve_latest(seconds_of_day, frac, &zone, now, 0) / 1_000_000_000;
        let (day, local_sod) = wall_clock(&zone, answer_seconds);
        if local_sod != sod {
            // Must be a gap reading of the label on this or the previous local day.
            let from_gap = [day, day - 1].into_iter().any(|d| {
                zone.instants_of_wall_clock(d * SECONDS_PER_DAY + sod)
                    == WallClockInstants::Skipped { shifted_forward: answer_seconds }
            });
            prop_assert!(from_gap, "{sod} s in {zone}: local {local_sod} s");
        }
    }

    /// Re-reading a timecode of a running stream finds the stream's instant again.
    #[test]
    fn nearest_recovers_the_instant(
        reading in any_reading(),
        drift in -11 * HOUR_NS..11 * HOUR_NS,
    ) {
        let Reading { zone, now, seconds_of_day: sod, frac } = reading;
        let instant = resolve_latest(sod, frac, &zone, now, 0);
        prop_assert_eq!(resolve_nearest(sod, frac, &zone, instant + frac), instant);
        // Readings of one time of day are at least 23 h apart (a spring-forward day),
        // except the two occurrences of a repeated (fall-back) reading, ≤ 1 h apart. So
        // within ±11 h the instant itself is nearest unless it is one of such a pair.
        let nearest = resolve_nearest(sod, frac, &zone, instant + frac + drift);
        if nearest != instant {
            prop_assert!((nearest - instant).abs() <= HOUR_NS);
            let (day, _) = wall_clock(&zone, instant / 1_000_000_000);
            let pair = [day, day - 1, day + 1].into_iter().any(|d| {
                matches!(
                    zone.instants_of_wall_clock(d * SECONDS_PER_DAY + i64::from(sod)),
                    WallClockInstants::Repeated { earlier, later }
                        if [earlier, later] == [instant.min(nearest), instant.max(nearest)]
                            .map(|x| x / 1_000_000_000)
                )
            });
            prop_assert!(pair, "{sod} s in {zone}: {nearest} vs {instant}");
        }
    }

    #[test]
    fn on_date_lands_on_that_local_date(reading in any_reading()) {
        let Reading { zone, now, seconds_of_day, .. } = reading;
        let local_date = LocalDate::at_instant(now, &zone);
        let instant = resolve_on_date(seconds_of_day, &zone, local_date);
        let (day, local_sod) = wall_clock(&zone, instant / 1_000_000_000);
        let sod = i64::from(seconds_of_day);
        if local_sod == sod {
            prop_assert_eq!(LocalDate::at_instant(instant, &zone), local_date);
        } else {
            prop_assert!(matches!(
                zone.instants_of_wall_clock(local_date.day_number() * SECONDS_PER_DAY + sod),
                WallClockInstants::Skipped { .. }
            ), "{sod} s on {local_date} in {zone}: day {day} sod {local_sod}");
        }
    }

    #[test]
    fn format_then_parse_round_trips(value in any::<i64>()) {
        prop_assert_eq!(parse_rfc3339(&format_rfc3339_nanos(value)), Ok(value));
        let millis = parse_rfc3339(&format_rfc3339_millis(value)).unwrap();
        prop_assert!(millis <= value && value - millis < 1_000_000);
    }

    #[test]
    fn parsers_never_panic(text in "\\PC{0,30}") {
        let _ = text.parse::<Zone>();
        let _ = text.parse::<LocalDate>();
        let _ = parse_rfc3339(&text);
    }

    #[test]
    fn resolvers_are_total(
        sod in any::<u32>(), frac in any::<i64>(), now in any::<i64>(), tol in any::<i64>(),
        offset in any::<i32>(), year in any::<i16>(), month in any::<u8>(), day in any::<u8>(),
    ) {
        for zone in [Zone::Utc, Zone::FixedOffset(offset), Zone::iana("America/Sitka").unwrap()] {
            let _ = resolve_latest(sod, frac, &zone, now, tol);
            let _ = resolve_nearest(sod, frac, &zone, now);
            let _ = resolve_on_date(sod, &zone, LocalDate { year, month, day });
            let _ = LocalDate::at_instant(now, &zone);
        }
    }
}
