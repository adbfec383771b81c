// SPDX-License-Identifier: MPL-2.0
//! HLS playlists against RFC 8216 (and its revision, draft-pantos-hls-rfc8216bis): parsed with
//! m3u8-rs, then
//!
//! - every EXTINF, rounded to the nearest integer, is at most EXT-X-TARGETDURATION (§4.4.3.1);
//! - every segment has an EXT-X-PROGRAM-DATE-TIME, and each one is the previous one plus the
//!   previous EXTINF unless an EXT-X-DISCONTINUITY comes between (a PDT moved by a frame is a
//!   lie about when the frame was shot);
//! - fMP4 segments have an EXT-X-MAP whose file exists; listed segments exist (EXT-X-GAP ones
//!   need not);
//! - segment numbers: where names carry the number (`<representation>_<n>.m4s`, lockstep's
//!   `$Number$` naming), the n-th listed segment is EXT-X-MEDIA-SEQUENCE + n, so a media
//!   sequence that went back shows in one read; across reloads (`--watch`) the media and
//!   discontinuity sequence numbers never decrease (§6.2.2).

use std::path::Path;

use super::report::Report;

/// A segment as a playlist lists it.
#[derive(Debug, Clone, PartialEq)]
pub struct Listed {
    pub sequence: u64,
    pub uri: String,
    pub duration_s: f64,
    /// EXT-X-PROGRAM-DATE-TIME, ns since the Unix epoch.
    pub pdt_ns: Option<i64>,
    pub gap: bool,
    pub discontinuity: bool,
}

/// What a media playlist says.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Playlist {
    pub media_sequence: u64,
    pub discontinuity_sequence: u64,
    pub target_duration: u64,
    pub end_list: bool,
    pub segments: Vec<Listed>,
    pub init: Option<String>,
}

/// The trailing number of a segment name (`video_1767261600.m4s` → 1767261600).
pub fn number_in_name(uri: &str) -> Option<u64> {
    let stem = uri.rsplit('/').next()?.split('.').next()?;
    let digits = stem.rsplit('_').next()?;
    (!digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()))
        .then(|| digits.parse().ok())
        .flatten()
}

/// Parses and checks one media playlist; `dir` (when given) is where its files must be.
pub fn check_media(
    name: &str,
    text: &[u8],
    dir: Option<&Path>,
    report: &mut Report,
) -> Option<Playlist> {
    let playlist = match m3u8_rs::parse_media_playlist_res(text) {
        Ok(playlist) => playlist,
        Err(e) => {
            report.error(
                "hls-parse",
                name,
                format!("not a media playlist: {e:?}")
                    .chars()
                    .take(200)
                    .collect::<String>(),
            );
            return None;
        }
    };
    report.counts.playlists += 1;
    let mut out = Playlist {
        media_sequence: playlist.media_sequence,
        discontinuity_sequence: playlist.discontinuity_sequence,
        target_duration: playlist.target_duration,
        end_list: playlist.end_list,
        ..Playlist::default()
    };
    let mut map: Option<String> = None;
    for (index, segment) in playlist.segments.iter().enumerate() {
        if let Some(m) = &segment.map {
            map = Some(m.uri.clone());
        }
        let sequence = playlist.media_sequence + index as u64;
        let gap = segment
            .unknown_tags
            .iter()
            .any(|tag| tag.tag == "X-GAP" || tag.tag == "EXT-X-GAP");
        let duration_s = f64::from(segment.duration);
        // §4.4.3.1: the EXTINF duration, rounded to the nearest integer, must be ≤ the target.
        if duration_s.round() as u64 > playlist.target_duration {
            report.error(
                "hls-target-duration",
                name,
                format!(
                    "segment {} lasts {:.6} s, more than EXT-X-TARGETDURATION {} (RFC 8216 §4.4.3.1)",
                    segment.uri, duration_s, playlist.target_duration
                ),
            );
        }
        let pdt_ns = segment
            .program_date_time
            .and_then(|t| t.timestamp_nanos_opt());
        if pdt_ns.is_none() {
            report.error(
                "hls-pdt",
                name,
                format!("segment {} has no EXT-X-PROGRAM-DATE-TIME", segment.uri),
            );
        }
        // Media follows media: a segment starts where the last one with media (not
        // EXT-X-GAP) ends, unless an EXT-X-DISCONTINUITY comes between. Gap segments are
        // never fetched, so only media segments are held to it.
        let media_before = out.segments.iter().rposition(|s| !s.gap);
        if !gap
            && let Some(at) = media_before
            && let (Some(before), Some(now)) = (out.segments[at].pdt_ns, pdt_ns)
            && !segment.discontinuity
            && !out.segments[at + 1..].iter().any(|s| s.discontinuity)
        {
            let previous = &out.segments[at];
            let expected = before + (previous.duration_s * 1e9).round() as i64;
            let gaps_between = out.segments.len() - at - 1;
            if (now - expected).abs() > 1_000_000 {
                let text = format!(
                    "segment {} starts at {} but the previous one with media ends at {} ({:+.3} ms) with no EXT-X-DISCONTINUITY between",
                    segment.uri,
                    gstlockstep::timecode::utc::format_rfc3339_millis(now),
                    gstlockstep::timecode::utc::format_rfc3339_millis(expected),
                    (now - expected) as f64 / 1e6
                );
                if gaps_between == 0 {
                    report.error("hls-pdt", name, text);
                } else {
                    // A cut-short segment and gaps: players that place segments by their
                    // media times (hls.js) play on; one that adds up EXTINF drifts.
                    report.warning(
                        "hls-pdt",
                        name,
                        format!(
                            "{text} ({gaps_between} EXT-X-GAP segments between; \
                             hlsdashsink discontinuity-on-jump=true marks the jump)"
                        ),
                    );
                }
            }
        }
        if let Some(number) = number_in_name(&segment.uri)
            && number != sequence
        {
            report.error(
                "hls-media-sequence",
                name,
                format!(
                    "segment {} is number {number} by its name but the playlist's media sequence makes it {sequence}",
                    segment.uri
                ),
            );
        }
        if segment.uri.ends_with(".m4s") && map.is_none() {
            report.error(
                "hls-map",
                name,
                format!("fMP4 segment {} has no EXT-X-MAP before it", segment.uri),
            );
        }
        if let Some(dir) = dir
            && !gap
            && !dir.join(&segment.uri).is_file()
        {
            report.error(
                "hls-missing-segment",
                name,
                format!("segment {} is listed but not in the directory", segment.uri),
            );
        }
        out.segments.push(Listed {
            sequence,
            uri: segment.uri.clone(),
            duration_s,
            pdt_ns,
            gap,
            discontinuity: segment.discontinuity,
        });
    }
    if let (Some(dir), Some(init)) = (dir, &map)
        && !dir.join(init).is_file()
    {
        report.error(
            "hls-map",
            name,
            format!("the init segment {init} is not in the directory"),
        );
    }
    out.init = map;
    Some(out)
}

/// The media playlists a multivariant playlist names (variants and renditions), checked to
/// exist.
pub fn check_multivariant(
    name: &str,
    text: &[u8],
    dir: Option<&Path>,
    report: &mut Report,
) -> Vec<String> {
    let playlist = match m3u8_rs::parse_master_playlist_res(text) {
        Ok(playlist) => playlist,
        Err(e) => {
            report.error(
                "hls-parse",
                name,
                format!("not a multivariant playlist: {e:?}")
                    .chars()
                    .take(200)
                    .collect::<String>(),
            );
            return Vec::new();
        }
    };
    report.counts.playlists += 1;
    let mut uris: Vec<String> = playlist.variants.iter().map(|v| v.uri.clone()).collect();
    uris.extend(playlist.alternatives.iter().filter_map(|a| a.uri.clone()));
    if uris.is_empty() {
        report.error("hls-multivariant", name, "no variant stream");
    }
    for uri in &uris {
        if let Some(dir) = dir
            && !dir.join(uri).is_file()
        {
            report.error(
                "hls-multivariant",
                name,
                format!("{uri} is named but not in the directory"),
            );
        }
    }
    uris
}

/// Across two reads of the same live playlist: the media and discontinuity sequence numbers
/// never decrease (RFC 8216 §6.2.2).
pub fn check_reload(name: &str, before: &Playlist, after: &Playlist, report: &mut Report) {
    if after.media_sequence < before.media_sequence {
        report.error(
            "hls-media-sequence",
            name,
            format!(
                "EXT-X-MEDIA-SEQUENCE went back from {} to {} between two reads",
                before.media_sequence, after.media_sequence
            ),
        );
    }
    if after.discontinuity_sequence < before.discontinuity_sequence {
        report.error(
            "hls-discontinuity-sequence",
            name,
            format!(
                "EXT-X-DISCONTINUITY-SEQUENCE went back from {} to {} between two reads",
                before.discontinuity_sequence, after.discontinuity_sequence
            ),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = "#EXTM3U\n#EXT-X-VERSION:6\n#EXT-X-TARGETDURATION:1\n#EXT-X-MEDIA-SEQUENCE:100\n\
#EXT-X-MAP:URI=\"video_init.mp4\"\n\
#EXT-X-PROGRAM-DATE-TIME:2026-01-01T10:00:00.000Z\n#EXTINF:1.000000,\nvideo_100.m4s\n\
#EXT-X-PROGRAM-DATE-TIME:2026-01-01T10:00:01.000Z\n#EXTINF:1.000000,\nvideo_101.m4s\n";

    #[test]
    fn a_sound_playlist_passes_and_each_fault_is_named() {
        let mut report = Report::new(vec!["d".into()]);
        let playlist = check_media("video.m3u8", GOOD.as_bytes(), None, &mut report).unwrap();
        assert!(report.passed(), "{:?}", report.findings);
        assert_eq!(playlist.segments.len(), 2);
        assert_eq!(playlist.segments[1].sequence, 101);
        for (broken, check) in [
            (GOOD.replace("01.000Z", "01.040Z"), "hls-pdt"),
            (
                GOOD.replace("SEQUENCE:100", "SEQUENCE:99"),
                "hls-media-sequence",
            ),
            (
                GOOD.replace(
                    "#EXTINF:1.000000,\nvideo_101",
                    "#EXTINF:1.600000,\nvideo_101",
                ),
                "hls-target-duration",
            ),
            (
                GOOD.replace("#EXT-X-MAP:URI=\"video_init.mp4\"\n", ""),
                "hls-map",
            ),
            (
                GOOD.replace("#EXT-X-PROGRAM-DATE-TIME:2026-01-01T10:00:01.000Z\n", ""),
                "hls-pdt",
            ),
            ("garbage".to_owned(), "hls-parse"),
        ] {
            let mut report = Report::new(vec!["d".into()]);
            check_media("video.m3u8", broken.as_bytes(), None, &mut report);
            assert!(report.has(check), "{check}: {:?}", report.findings);
        }
    }

    /// A forward timecode jump as hlsdashsink lists it: a cut-short segment, EXT-X-GAP
    /// segments, then media again. With EXT-X-DISCONTINUITY it is sound; without, a warning
    /// (players that add up EXTINF drift); a jump with no gap and no tag stays an error.
    #[test]
    fn a_jump_across_gaps_is_sound_with_a_discontinuity() {
        let jump = |tag: &str| {
            format!(
                "#EXTM3U\n#EXT-X-VERSION:6\n#EXT-X-TARGETDURATION:1\n#EXT-X-MEDIA-SEQUENCE:100\n\
                 #EXT-X-MAP:URI=\"video_init.mp4\"\n\
                 #EXT-X-PROGRAM-DATE-TIME:2026-01-01T10:00:00.000Z\n#EXTINF:0.200000,\nvideo_100.m4s\n\
                 #EXT-X-PROGRAM-DATE-TIME:2026-01-01T10:00:01.000Z\n#EXT-X-GAP\n#EXTINF:1.000000,\nvideo_101.m4s\n\
                 {tag}#EXT-X-PROGRAM-DATE-TIME:2026-01-01T10:00:02.000Z\n#EXTINF:1.000000,\nvideo_102.m4s\n"
            )
        };
        let mut report = Report::new(vec!["d".into()]);
        check_media(
            "video.m3u8",
            jump("#EXT-X-DISCONTINUITY\n").as_bytes(),
            None,
            &mut report,
        );
        assert!(report.findings.is_empty(), "{:?}", report.findings);
        let mut report = Report::new(vec!["d".into()]);
        check_media("video.m3u8", jump("").as_bytes(), None, &mut report);
        assert!(report.passed(), "{:?}", report.findings);
        assert!(
            report.findings.iter().any(|f| f.check == "hls-pdt"),
            "a warning: {:?}",
            report.findings
        );
        let no_gap = jump("").replace("#EXT-X-GAP\n", "");
        let mut report = Report::new(vec!["d".into()]);
        check_media("video.m3u8", no_gap.as_bytes(), None, &mut report);
        assert!(!report.passed(), "{:?}", report.findings);
    }

    #[test]
    fn reloads_never_go_back() {
        let mut report = Report::new(vec!["d".into()]);
        let before = Playlist {
            media_sequence: 10,
            ..Playlist::default()
        };
        let after = Playlist {
            media_sequence: 9,
            ..Playlist::default()
        };
        check_reload("video.m3u8", &before, &after, &mut report);
        assert!(report.has("hls-media-sequence"));
    }

    #[test]
    fn numbers_in_names() {
        assert_eq!(number_in_name("video_1767261600.m4s"), Some(1767261600));
        assert_eq!(number_in_name("audio_0_12.m4s"), Some(12));
        assert_eq!(number_in_name("segment.m4s"), None);
    }
}
