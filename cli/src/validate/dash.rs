// SPDX-License-Identifier: MPL-2.0
//! The DASH MPD: valid against the ISO/IEC 23009-1 schema (run by xmllint, the schema built
//! into the program), and its timing the same as the HLS playlists': every segment the video
//! playlist lists starts, by the MPD's `availabilityStartTime`, Period start, `timescale`,
//! `startNumber`, `presentationTimeOffset` and `SegmentTimeline`, at the playlist's
//! EXT-X-PROGRAM-DATE-TIME, and a static MPD's `mediaPresentationDuration` ends where the last
//! listed segment does.
//!
//! lockstep's MPDs put the media timeline on the Unix epoch (segment times are ticks since
//! 1970-01-01T00:00:00Z; a dynamic MPD's `availabilityStartTime` is the epoch), which is what
//! lets a static MPD, which has no `availabilityStartTime`, be compared with the program
//! date-times too.

use std::collections::BTreeMap;
use std::io::Write;
use std::process::{Command, Stdio};

use gstlockstep::timecode::utc::{format_rfc3339_millis, parse_rfc3339};

use super::hls::{Playlist, number_in_name};
use super::report::Report;

const SCHEMA: &str = include_str!("../../../tests/data/dash-schema/DASH-MPD.xsd");
const XLINK: &str = include_str!("../../../tests/data/dash-schema/xlink.xsd");
const NS: &str = "urn:mpeg:dash:schema:mpd:2011";

/// Runs xmllint with the built-in schema. `Err` when xmllint cannot run.
pub fn schema_errors(mpd: &[u8]) -> Result<Option<String>, String> {
    let dir = std::env::temp_dir().join(format!("lockstep-validate-schema-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let schema = dir.join("DASH-MPD.xsd");
    if !schema.is_file() {
        std::fs::write(&schema, SCHEMA).map_err(|e| e.to_string())?;
        std::fs::write(dir.join("xlink.xsd"), XLINK).map_err(|e| e.to_string())?;
    }
    let mut child = Command::new("xmllint")
        .args(["--noout", "--nonet", "--schema"])
        .arg(&schema)
        .arg("-")
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("xmllint cannot run ({e}): scripts/setup.sh installs it"))?;
    if let Some(mut stdin) = child.stdin.take() {
        let _ = stdin.write_all(mpd);
    }
    let output = child.wait_with_output().map_err(|e| e.to_string())?;
    if output.status.success() {
        Ok(None)
    } else {
        let text = String::from_utf8_lossy(&output.stderr);
        let first = text
            .lines()
            .find(|l| !l.contains("fails to validate") && !l.trim().is_empty())
            .unwrap_or("the MPD fails to validate")
            .replace("-:", "line ");
        Ok(Some(first.chars().take(300).collect()))
    }
}

/// `PT…S` / `PT…M…S` / `P…DT…H…M…S` → ns.
fn duration_ns(text: &str) -> Option<i64> {
    let rest = text.strip_prefix('P')?;
    let (days, time) = match rest.split_once('T') {
        Some((d, t)) => (d, t),
        None => (rest, ""),
    };
    let mut ns: f64 = 0.0;
    if let Some(d) = days.strip_suffix('D') {
        ns += d.parse::<f64>().ok()? * 86_400e9;
    } else if !days.is_empty() {
        return None;
    }
    let mut number = String::new();
    for c in time.chars() {
        match c {
            'H' | 'M' | 'S' => {
                let value: f64 = number.parse().ok()?;
                ns += value
                    * match c {
                        'H' => 3600e9,
                        'M' => 60e9,
                        _ => 1e9,
                    };
                number.clear();
            }
            c => number.push(c),
        }
    }
    number.is_empty().then_some(ns.round() as i64)
}

fn attr<T: std::str::FromStr>(node: roxmltree::Node, name: &str) -> Option<T> {
    node.attribute(name)?.parse().ok()
}

/// Segment start instants (UTC ns) by number, and the MPD's end when static.
#[derive(Debug, Default)]
struct VideoTiming {
    starts: BTreeMap<u64, i64>,
    durations: BTreeMap<u64, i64>,
    /// Numbers below this are not in the MPD.
    first_number: u64,
    /// A timeline lists exactly its segments; a plain template lists any number ≥ the first.
    timeline: bool,
    static_end_ns: Option<i64>,
}

fn video_timing(
    document: &roxmltree::Document,
    report: &mut Report,
    name: &str,
) -> Option<VideoTiming> {
    let root = document.root_element();
    let dynamic = root.attribute("type") == Some("dynamic");
    let ast = match root.attribute("availabilityStartTime") {
        Some(text) => Some(parse_rfc3339(text).ok().or_else(|| {
            report.error(
                "dash-timing",
                name,
                format!("availabilityStartTime {text} is no date"),
            );
            None
        })?),
        None if dynamic => {
            report.error(
                "dash-timing",
                name,
                "a dynamic MPD without availabilityStartTime",
            );
            return None;
        }
        None => None,
    };
    // Every Period: lockstep begins a new one after a hole in a SegmentTimeline.
    let mut timing = VideoTiming {
        first_number: u64::MAX,
        ..VideoTiming::default()
    };
    for period in root.children().filter(|n| n.has_tag_name((NS, "Period"))) {
        period_timing(period, dynamic, ast, &mut timing, report, name)?;
        if !timing.timeline {
            // A plain template addresses any number from its start: one Period says it all.
            break;
        }
    }
    if timing.first_number == u64::MAX {
        return None;
    }
    if !dynamic
        && let Some(total) = root
            .attribute("mediaPresentationDuration")
            .and_then(duration_ns)
    {
        let first = timing
            .starts
            .iter()
            .find(|(n, _)| **n != u64::MAX)
            .map(|(_, s)| *s)
            .or_else(|| timing.starts.get(&u64::MAX).copied());
        timing.static_end_ns = first.map(|s| s + total);
    }
    Some(timing)
}

/// Adds one Period's video segments to `timing`. `None` when it has no video template or
/// the template is unusable (reported).
fn period_timing(
    period: roxmltree::Node,
    dynamic: bool,
    ast: Option<i64>,
    timing: &mut VideoTiming,
    report: &mut Report,
    name: &str,
) -> Option<()> {
    let period_start = period.attribute("start").and_then(duration_ns).unwrap_or(0);
    let video = period.children().find(|n| {
        n.has_tag_name((NS, "AdaptationSet"))
            && (n.attribute("contentType") == Some("video")
                || n.attribute("mimeType")
                    .is_some_and(|m| m.starts_with("video/")))
    })?;
    let template = video
        .children()
        .find(|n| n.has_tag_name((NS, "SegmentTemplate")))
        .or_else(|| {
            video
                .children()
                .filter(|n| n.has_tag_name((NS, "Representation")))
                .find_map(|r| {
                    r.children()
                        .find(|n| n.has_tag_name((NS, "SegmentTemplate")))
                })
        })?;
    let timescale: i64 = attr(template, "timescale").unwrap_or(1).max(1);
    let start_number: u64 = attr(template, "startNumber").unwrap_or(1);
    let pto: i64 = attr(template, "presentationTimeOffset").unwrap_or(0);
    let to_ns = |ticks: i128| {
        i64::try_from(ticks * 1_000_000_000 / i128::from(timescale)).unwrap_or(i64::MAX)
    };
    // UTC of a media time (ticks): the epoch-anchored timeline's own instant for a static MPD;
    // AST + Period start + (t − PTO) for a dynamic one.
    let utc_of = |ticks: i64| match (dynamic, ast) {
        (true, Some(ast)) => ast + period_start + to_ns(i128::from(ticks) - i128::from(pto)),
        _ => to_ns(i128::from(ticks)),
    };
    timing.first_number = timing.first_number.min(start_number);
    if let Some(list) = template
        .children()
        .find(|n| n.has_tag_name((NS, "SegmentTimeline")))
    {
        timing.timeline = true;
        let mut number = start_number;
        let mut t: i64 = 0;
        for s in list.children().filter(|n| n.has_tag_name((NS, "S"))) {
            if let Some(start) = attr::<i64>(s, "t") {
                t = start;
            }
            let d: i64 = attr(s, "d").unwrap_or(0);
            let repeat: i64 = attr(s, "r").unwrap_or(0);
            for _ in 0..=repeat.clamp(0, 1_000_000) {
                timing.starts.insert(number, utc_of(t));
                timing.durations.insert(number, to_ns(i128::from(d)));
                number += 1;
                t = t.saturating_add(d);
            }
        }
    } else {
        let duration: i64 = attr(template, "duration").unwrap_or(0);
        if duration <= 0 {
            report.error(
                "dash-timing",
                name,
                "the video SegmentTemplate has neither a SegmentTimeline nor a duration",
            );
            return None;
        }
        // A plain template names any number from startNumber on: kept under u64::MAX, the
        // start and length of segment startNumber (media time PTO); segment n starts
        // (n − startNumber) durations later.
        timing
            .durations
            .insert(u64::MAX, to_ns(i128::from(duration)));
        timing.starts.insert(u64::MAX, utc_of(pto));
    }
    Some(())
}

/// Checks one MPD: the schema (when `schema`: it runs xmllint), then its timing against the
/// video playlist.
pub fn check(name: &str, text: &[u8], video: Option<&Playlist>, schema: bool, report: &mut Report) {
    report.counts.mpds += 1;
    match schema.then(|| schema_errors(text)) {
        None | Some(Ok(None)) => {}
        Some(Ok(Some(error))) => report.error(
            "dash-schema",
            name,
            format!("not valid against the DASH schema: {error}"),
        ),
        Some(Err(e)) => report.warning("dash-schema", name, format!("schema not checked: {e}")),
    }
    let Ok(text) = std::str::from_utf8(text) else {
        report.error("dash-parse", name, "not UTF-8");
        return;
    };
    let document = match roxmltree::Document::parse(text) {
        Ok(d) => d,
        Err(e) => {
            report.error("dash-parse", name, format!("not XML: {e}"));
            return;
        }
    };
    let Some(timing) = video_timing(&document, report, name) else {
        return;
    };
    let Some(playlist) = video else {
        return;
    };
    let template_duration = timing.durations.get(&u64::MAX).copied();
    let template_first = timing.starts.get(&u64::MAX).copied();
    for segment in playlist.segments.iter().filter(|s| !s.gap) {
        let number = number_in_name(&segment.uri).unwrap_or(segment.sequence);
        if number < timing.first_number {
            continue;
        }
        let expected = match template_duration {
            None => timing.starts.get(&number).copied(),
            Some(d) => template_first
                .map(|first| first + i64::try_from(number - timing.first_number).unwrap_or(0) * d),
        };
        let (Some(expected), Some(pdt)) = (expected, segment.pdt_ns) else {
            if timing.timeline && segment.pdt_ns.is_some() && !timing.starts.is_empty() {
                let last = timing.starts.keys().next_back().copied().unwrap_or(0);
                if number <= last {
                    report.error("dash-timing", name, format!("segment {number} ({}) is in the playlist but not in the SegmentTimeline", segment.uri));
                }
            }
            continue;
        };
        if (expected - pdt).abs() > 1_000_000 {
            report.error(
                "dash-timing",
                name,
                format!(
                    "segment {number} starts at {} in the MPD but at {} in the playlist's program date-time",
                    format_rfc3339_millis(expected),
                    format_rfc3339_millis(pdt)
                ),
            );
        }
        if let Some(d) = timing.durations.get(&number)
            && (*d as f64 / 1e9 - segment.duration_s).abs() > 0.001
        {
            report.error(
                "dash-timing",
                name,
                format!(
                    "segment {number} lasts {:.3} s in the MPD, {:.3} s in the playlist",
                    *d as f64 / 1e9,
                    segment.duration_s
                ),
            );
        }
    }
    if let (Some(end), true, Some(last)) = (
        timing.static_end_ns,
        playlist.end_list,
        playlist.segments.last(),
    ) && let Some(pdt) = last.pdt_ns
    {
        let playlist_end = pdt + (last.duration_s * 1e9).round() as i64;
        if (end - playlist_end).abs() > 1_000_000 {
            report.error(
                "dash-duration",
                name,
                format!(
                    "the static MPD's mediaPresentationDuration ends at {}, the media at {}",
                    format_rfc3339_millis(end),
                    format_rfc3339_millis(playlist_end)
                ),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iso_durations() {
        assert_eq!(duration_ns("PT2S"), Some(2_000_000_000));
        assert_eq!(duration_ns("PT6.84S"), Some(6_840_000_000));
        assert_eq!(duration_ns("PT1M0.5S"), Some(60_500_000_000));
        assert_eq!(duration_ns("P1DT1H"), Some(90_000_000_000_000));
        assert_eq!(duration_ns("2S"), None);
        assert_eq!(duration_ns("PTxS"), None);
    }
}
