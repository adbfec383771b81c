// SPDX-License-Identifier: MPL-2.0
//! Are two redundant outputs interchangeable? A player or an origin that switches from one to
//! the other must not notice: the same manifest files; in every playlist the same segments
//! (names, numbers, durations, program date-times) wherever both list them; manifests byte
//! for byte when both list the same segments.
//! The first difference is named (file, line).

use std::collections::{BTreeSet, HashMap};
use std::path::Path;

use super::hls;
use super::report::Report;

fn manifest_names(dir: &Path) -> BTreeSet<String> {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .filter_map(|e| e.file_name().into_string().ok())
                .filter(|n| n.ends_with(".m3u8") || n.ends_with(".mpd"))
                .collect()
        })
        .unwrap_or_default()
}

/// The first line where two texts differ: (line number from 1, line of a, line of b).
pub fn first_difference(a: &[u8], b: &[u8]) -> Option<(usize, String, String)> {
    if a == b {
        return None;
    }
    let (a, b) = (String::from_utf8_lossy(a), String::from_utf8_lossy(b));
    let mut la = a.lines();
    let mut lb = b.lines();
    let mut number = 0;
    loop {
        number += 1;
        match (la.next(), lb.next()) {
            (Some(x), Some(y)) if x == y => continue,
            (None, None) => {
                // Only the line ends differ.
                return Some((number, "(end)".into(), "(end)".into()));
            }
            (x, y) => {
                return Some((
                    number,
                    x.unwrap_or("(end of file)").to_owned(),
                    y.unwrap_or("(end of file)").to_owned(),
                ));
            }
        }
    }
}

fn compare_bytes(a: &Path, b: &Path, name: &str, report: &mut Report) -> bool {
    let (x, y) = (
        std::fs::read(a.join(name)).unwrap_or_default(),
        std::fs::read(b.join(name)).unwrap_or_default(),
    );
    match first_difference(&x, &y) {
        None => true,
        Some((line, one, two)) => {
            report.error(
                "compare-manifest",
                name,
                format!("differs from line {line}: {one:?} against {two:?}"),
            );
            false
        }
    }
}

/// Adds to `report` every way `a` and `b` are not interchangeable.
pub fn interchangeable(a: &Path, b: &Path, report: &mut Report) {
    let (names_a, names_b) = (manifest_names(a), manifest_names(b));
    for name in names_a.symmetric_difference(&names_b) {
        let (has, lacks) = if names_a.contains(name) {
            (a, b)
        } else {
            (b, a)
        };
        report.error(
            "compare-files",
            name,
            format!("{} has it, {} does not", has.display(), lacks.display()),
        );
    }
    let mut same_window = true;
    for name in names_a
        .intersection(&names_b)
        .filter(|n| n.ends_with(".m3u8"))
    {
        let bytes_a = std::fs::read(a.join(name)).unwrap_or_default();
        let bytes_b = std::fs::read(b.join(name)).unwrap_or_default();
        if String::from_utf8_lossy(&bytes_a).contains("#EXT-X-STREAM-INF") {
            compare_bytes(a, b, name, report);
            continue;
        }
        let mut quiet = Report::new(Vec::new());
        let (Some(pa), Some(pb)) = (
            hls::check_media(name, &bytes_a, None, &mut quiet),
            hls::check_media(name, &bytes_b, None, &mut quiet),
        ) else {
            continue;
        };
        let by_uri: HashMap<&str, &hls::Listed> =
            pb.segments.iter().map(|s| (s.uri.as_str(), s)).collect();
        let mut diverged = false;
        for one in &pa.segments {
            let Some(two) = by_uri.get(one.uri.as_str()) else {
                continue;
            };
            let what = if one.sequence != two.sequence {
                Some(format!("number {} against {}", one.sequence, two.sequence))
            } else if (one.duration_s - two.duration_s).abs() > 1e-6 {
                Some(format!(
                    "duration {:.6} s against {:.6} s",
                    one.duration_s, two.duration_s
                ))
            } else if one.pdt_ns != two.pdt_ns {
                Some("another program date-time".to_owned())
            } else if one.gap != two.gap {
                Some("a gap in one of them".to_owned())
            } else {
                None
            };
            if let Some(what) = what
                && !diverged
            {
                diverged = true;
                report.error(
                    "compare-segment",
                    name,
                    format!("segment {} first diverges: {what}", one.uri),
                );
            }
        }
        let same = pa.media_sequence == pb.media_sequence
            && pa.segments.len() == pb.segments.len()
            && pa.end_list == pb.end_list;
        if same {
            compare_bytes(a, b, name, report);
        } else {
            same_window = false;
            report.warning(
                "compare-window",
                name,
                format!(
                    "the two list different windows (from {} and {}): compared segment by segment",
                    pa.media_sequence, pb.media_sequence
                ),
            );
        }
    }
    for name in names_a
        .intersection(&names_b)
        .filter(|n| n.ends_with(".mpd"))
    {
        if same_window {
            compare_bytes(a, b, name, report);
        }
    }
    // Segment bytes are not compared: redundant encoders write different encodings of the same
    // frames, and a player switching between them needs the same frames at the same times,
    // numbers and names, which the playlists say.
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_difference_names_the_line() {
        assert_eq!(first_difference(b"a\nb\n", b"a\nb\n"), None);
        assert_eq!(
            first_difference(b"a\nb\nc", b"a\nx\nc"),
            Some((2, "b".into(), "x".into()))
        );
        assert_eq!(
            first_difference(b"a\n", b"a\nb\n"),
            Some((2, "(end of file)".into(), "b".into()))
        );
    }
}
