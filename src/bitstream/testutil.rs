// SPDX-License-Identifier: MPL-2.0
//! Test helpers: the fixture files and their expected dumps, and a simple access unit splitter
//! for Annex B streams.

use super::nal::AnnexBNalUnits;
use super::{AccessUnitInfo, ClockTimestamp};

pub const FIXTURE_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/timecode/");

pub fn fixture(name: &str) -> Vec<u8> {
    let path = format!("{FIXTURE_DIR}{name}");
    std::fs::read(&path).unwrap_or_else(|e| panic!("cannot read {path}: {e}"))
}

/// Codec-specific answers the splitter needs about a NAL unit.
pub trait AuBoundaryRules {
    /// True for NAL units that always start an access unit (access unit delimiters).
    fn is_delimiter(nal: &[u8]) -> bool;
    /// True for NAL units that start an access unit when they follow a picture's slices
    /// (parameter sets, prefix SEI).
    fn is_prefix(nal: &[u8]) -> bool;
    /// Some(true) for the first slice of a picture, Some(false) for other slices, None for
    /// non-VCL NAL units.
    fn first_slice(nal: &[u8]) -> Option<bool>;
}

pub struct H264Rules;

impl AuBoundaryRules for H264Rules {
    fn is_delimiter(nal: &[u8]) -> bool {
        nal[0] & 0x1f == 9
    }
    fn is_prefix(nal: &[u8]) -> bool {
        matches!(nal[0] & 0x1f, 6..=8)
    }
    fn first_slice(nal: &[u8]) -> Option<bool> {
        // first_mb_in_slice = 0 is ue(v) "1": the first payload bit.
        matches!(nal[0] & 0x1f, 1 | 5).then(|| nal[1] & 0x80 != 0)
    }
}

pub struct H265Rules;

impl AuBoundaryRules for H265Rules {
    fn is_delimiter(nal: &[u8]) -> bool {
        (nal[0] >> 1) & 0x3f == 35
    }
    fn is_prefix(nal: &[u8]) -> bool {
        matches!((nal[0] >> 1) & 0x3f, 32 | 33 | 34 | 39)
    }
    fn first_slice(nal: &[u8]) -> Option<bool> {
        // first_slice_segment_in_pic_flag is the first bit after the 2-byte header.
        ((nal[0] >> 1) & 0x3f < 32).then(|| nal[2] & 0x80 != 0)
    }
}

/// Splits an Annex B stream into access units: a new one starts at a delimiter, or at the
/// first prefix NAL unit (parameter set, SEI) or first slice of a picture after a slice.
/// Each access unit keeps its start codes.
pub fn split_access_units<R: AuBoundaryRules>(data: &[u8]) -> Vec<&[u8]> {
    let mut starts = Vec::new();
    let mut seen_slice = false;
    for nal in AnnexBNalUnits::new(data) {
        let offset = nal.as_ptr() as usize - data.as_ptr() as usize;
        // Back up over the start code (and the zero_byte of a 4-byte one).
        let start_code = if offset >= 4 && data[offset - 4] == 0 {
            offset - 4
        } else {
            offset - 3
        };
        let first_slice = R::first_slice(nal);
        let begins = R::is_delimiter(nal)
            || (seen_slice && (R::is_prefix(nal) || first_slice == Some(true)))
            || starts.is_empty();
        if begins {
            starts.push(start_code);
            seen_slice = false;
        }
        if first_slice.is_some() {
            seen_slice = true;
        }
    }
    let mut aus = Vec::with_capacity(starts.len());
    for (i, &start) in starts.iter().enumerate() {
        let end = starts.get(i + 1).copied().unwrap_or(data.len());
        aus.push(&data[start..end]);
    }
    aus
}

/// One line of `expected/<file>.tcsei.txt`.
#[derive(Debug)]
pub struct ExpectedAu {
    pub line: String,
    /// (hours, minutes, seconds, frames) per clock of the `tc=` field.
    pub timecodes: Vec<(u8, u8, u8, u16)>,
    /// The key=value fields of the first clock.
    pub fields: Vec<(String, i64)>,
    pub warning: bool,
}

pub fn expected_dump(name: &str) -> (String, Vec<ExpectedAu>) {
    let text = String::from_utf8(fixture(&format!("expected/{name}.tcsei.txt"))).unwrap();
    let mut lines = text.lines();
    let header = lines.next().unwrap().to_string();
    let aus = lines
        .filter(|l| l.starts_with("dec="))
        .map(|line| {
            let (main, warning) = match line.split_once(" WARNING: ") {
                Some((main, _)) => (main, true),
                None => (line, false),
            };
            let mut timecodes = Vec::new();
            let mut fields = Vec::new();
            for token in main.split_whitespace() {
                let Some((key, value)) = token.split_once('=') else {
                    continue;
                };
                if key == "tc" {
                    if value != "-" {
                        for tc in value.split(',') {
                            let parts: Vec<u16> =
                                tc.split([':', ';']).map(|p| p.parse().unwrap()).collect();
                            timecodes.push((
                                parts[0] as u8,
                                parts[1] as u8,
                                parts[2] as u8,
                                parts[3],
                            ));
                        }
                    }
                } else if key != "dec" && key != "disp" {
                    fields.push((key.to_string(), value.parse().unwrap()));
                }
            }
            ExpectedAu {
                line: line.to_string(),
                timecodes,
                fields,
                warning,
            }
        })
        .collect();
    (header, aus)
}

/// The value of `"key": N` in the JSON header line of a dump.
pub fn header_number(header: &str, key: &str) -> Option<i64> {
    let rest = &header[header.find(&format!("\"{key}\": "))? + key.len() + 4..];
    let end = rest
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(rest.len());
    rest[..end].parse().ok()
}

/// Checks one access unit against its expected dump line: every clock's time (absent fields
/// read as 0, as the dump prints them) and the fields of the first clock.
pub fn check_au(info: &AccessUnitInfo, expected: &ExpectedAu) {
    let got: Vec<(u8, u8, u8, u16)> = info
        .clocks
        .iter()
        .map(|c| {
            (
                c.hours.unwrap_or(0),
                c.minutes.unwrap_or(0),
                c.seconds.unwrap_or(0),
                c.n_frames,
            )
        })
        .collect();
    assert_eq!(got, expected.timecodes, "{}", expected.line);
    let Some(first) = info.clocks.first() else {
        return;
    };
    for (key, value) in &expected.fields {
        let ours = clock_field(first, key);
        if let Some(ours) = ours {
            assert_eq!(ours, *value, "{key} in {}", expected.line);
        }
    }
}

fn clock_field(c: &ClockTimestamp, key: &str) -> Option<i64> {
    Some(match key {
        "ct_type" => i64::from(c.ct_type),
        "nuit_field_based_flag" | "units_field_based_flag" => i64::from(c.nuit_field_based),
        "counting_type" => i64::from(c.counting_type),
        "full_timestamp_flag" => i64::from(c.full_timestamp),
        "discontinuity_flag" => i64::from(c.discontinuity),
        "cnt_dropped_flag" => i64::from(c.cnt_dropped),
        "n_frames" => i64::from(c.n_frames),
        "time_offset" | "time_offset_value" => i64::from(c.time_offset),
        // time_offset_length (H.265) is not kept in ClockTimestamp.
        _ => return None,
    })
}
