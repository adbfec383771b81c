// SPDX-License-Identifier: MPL-2.0
//! Unit tests of the publisher.

use super::*;
use crate::packaging::dash::UtcTiming;
use crate::packaging::fmp4::{self, AudioTrack, VideoTrack};
use crate::packaging::grid::Grid;
use crate::timecode::FrameRate;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

const T0: i64 = 1_767_261_600_000_000_000;
const K0: i64 = 1_767_261_600;
const FRAME: i64 = 40_000_000;

fn dir(name: &str) -> PathBuf {
    let dir =
        std::env::temp_dir().join(format!("lockstep-publisher-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn config(dir: &Path, playlist_type: PlaylistType) -> PublisherConfig {
    PublisherConfig {
        dir: dir.to_path_buf(),
        grid: Grid::new(FrameRate::new(25, 1).unwrap(), 25).unwrap(),
        track: VideoTrack {
            codec: fmp4::VideoCodec::H264,
            codec_config: vec![1, 0x42, 0xc0, 0x0c, 0xff, 0xe0, 0],
            width: 320,
            height: 180,
            timescale: 0,
        },
        playlist_type,
        window: 3,
        max_files: 0,
        hls: true,
        dash: true,
        storage_index: true,
        utc_timing: UtcTiming::http_iso("https://time.example/iso"),
        segment_timeline: true,
        bandwidth: 1_000_000,
        average_bandwidth: None,
        renditions: Vec::new(),
        format: SegmentFormat::Cmaf,
        audio: Vec::new(),
        name_by_time: false,
        discontinuity_on_jump: false,
    }
}

fn frame(index: i64, keyframe: bool) -> Frame<Vec<u8>> {
    Frame {
        utc_ns: T0 + index * FRAME,
        keyframe,
        data: vec![index as u8; 4],
        timecode: None,
        decode_lead_ns: 0,
    }
}

fn published(events: &[Event]) -> Vec<i64> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::Segment(s) => Some(s.k),
            _ => None,
        })
        .collect()
}

#[test]
fn cuts_on_the_grid_and_publishes_on_the_last_frame() {
    let dir = dir("cut");
    let mut publisher = Publisher::new(config(&dir, PlaylistType::Live { window: 3 })).unwrap();
    // Joins 10 frames before segment K0: skips them, asks for a keyframe at K0.
    let events = publisher.push(frame(-10, true)).unwrap();
    assert_eq!(
        events,
        vec![Event::KeyframeWanted {
            rendition: 0,
            utc_ns: T0,
            k: K0
        }]
    );
    for i in -9..24 {
        let events = publisher.push(frame(i, i % 25 == 0)).unwrap();
        assert!(published(&events).is_empty(), "frame {i}");
    }
    // The 25th frame of K0 completes it: segment and manifests at once.
    let events = publisher.push(frame(24, false)).unwrap();
    assert_eq!(published(&events), vec![K0]);
    assert!(
        events
            .iter()
            .any(|e| matches!(e, Event::Manifests { k, .. } if *k == K0))
    );
    assert!(dir.join(format!("video_{K0}.m4s")).is_file());
    for i in 25..40 {
        publisher.push(frame(i, i % 25 == 0)).unwrap();
    }
    // EOS: the open segment, short, and final manifests.
    let events = publisher.finish().unwrap();
    assert_eq!(published(&events), vec![K0 + 1]);
    let playlist = std::fs::read_to_string(dir.join(MEDIA_PLAYLIST)).unwrap();
    assert!(playlist.contains("#EXTINF:0.600000,\nvideo_1767261601.m4s\n#EXT-X-ENDLIST\n"));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn missing_keyframe_and_backward_jump() {
    let dir = dir("keyframe");
    let mut publisher = Publisher::new(config(&dir, PlaylistType::Event)).unwrap();
    for i in 0..25 {
        publisher.push(frame(i, i == 0)).unwrap();
    }
    // Segment K0+1 does not start on a keyframe: reported, not written.
    let events = publisher.push(frame(25, false)).unwrap();
    assert!(events.contains(&Event::NotKeyframe {
        rendition: 0,
        k: K0 + 1,
        utc_ns: T0 + 25 * FRAME
    }));
    for i in 26..75 {
        publisher.push(frame(i, i % 25 == 0)).unwrap();
    }
    assert!(!dir.join(format!("video_{}.m4s", K0 + 1)).exists());
    // Back in time: dropped with an event, nothing changes.
    let events = publisher.push(frame(3, true)).unwrap();
    assert!(matches!(events[..], [Event::Backward { .. }]));
    let playlist = std::fs::read_to_string(dir.join(MEDIA_PLAYLIST)).unwrap();
    assert!(
        playlist.contains("#EXT-X-GAP\n#EXTINF:1.000000,\nvideo_1767261601.m4s\n"),
        "{playlist}"
    );
    assert!(playlist.contains("video_1767261602.m4s\n"));
    let _ = std::fs::remove_dir_all(&dir);
}

/// A forward timecode jump (frames 30..80 never arrive): the open segment closes early
/// with its real length, the segment the jump lands in is skipped (it lacks its first
/// frame), the missing k are EXT-X-GAP entries, and the grid continues.
#[test]
fn forward_jump_closes_early_and_lists_gaps() {
    let dir = dir("jump");
    let mut publisher = Publisher::new(config(&dir, PlaylistType::Event)).unwrap();
    let mut events = Vec::new();
    for i in (0..30).chain(80..125) {
        events.extend(publisher.push(frame(i, i % 25 == 0 || i == 80)).unwrap());
    }
    assert_eq!(published(&events), vec![K0, K0 + 1, K0 + 4]);
    let short = events.iter().find_map(|e| match e {
        Event::Segment(s) if s.k == K0 + 1 => Some(s.frames),
        _ => None,
    });
    assert_eq!(short, Some(5));
    let playlist = std::fs::read_to_string(dir.join(MEDIA_PLAYLIST)).unwrap();
    assert!(
        playlist.contains(
            "#EXTINF:0.200000,\nvideo_1767261601.m4s\n\
             #EXT-X-PROGRAM-DATE-TIME:2026-01-01T10:00:02.000Z\n#EXT-X-GAP\n\
             #EXTINF:1.000000,\nvideo_1767261602.m4s\n\
             #EXT-X-PROGRAM-DATE-TIME:2026-01-01T10:00:03.000Z\n#EXT-X-GAP\n\
             #EXTINF:1.000000,\nvideo_1767261603.m4s\n\
             #EXT-X-PROGRAM-DATE-TIME:2026-01-01T10:00:04.000Z\n#EXTINF:1.000000,\n\
             video_1767261604.m4s\n"
        ),
        "{playlist}"
    );
    // The timeline MPD leaves the missing segments out; an event keeps every segment
    // available (no timeShiftBufferDepth: infinite).
    let mpd = std::fs::read_to_string(dir.join(MPD)).unwrap();
    assert!(mpd.contains("type=\"dynamic\"") && !mpd.contains("timeShiftBufferDepth"));
    crate::packaging::dash::tests::assert_schema_valid(&mpd);
    assert!(
        mpd.contains("<S t=\"159053544000000\" d=\"90000\"/>"),
        "{mpd}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// (media sequence number, discontinuity sequence number, gap) of every entry of a media
/// playlist, read with m3u8-rs: the numbers a player keys its timelines on.
fn sequence_numbers(text: &str) -> Vec<(u64, u64, bool)> {
    let Ok(m3u8_rs::Playlist::MediaPlaylist(playlist)) =
        m3u8_rs::parse_playlist_res(text.as_bytes())
    else {
        panic!("not a media playlist: {text}");
    };
    let mut dsn = playlist.discontinuity_sequence;
    playlist
        .segments
        .iter()
        .enumerate()
        .map(|(i, segment)| {
            if segment.discontinuity {
                dsn += 1;
            }
            let gap = segment.unknown_tags.iter().any(|t| t.tag.contains("GAP"));
            (playlist.media_sequence + i as u64, dsn, gap)
        })
        .collect()
}

/// The media playlist after every manifest update, by the last k listed.
fn playlists_by_k(
    dir: &Path,
    name: &str,
    publisher: &mut Publisher<Vec<u8>>,
    frames: impl Iterator<Item = Frame<Vec<u8>>>,
    events: &mut Vec<Event>,
) -> BTreeMap<i64, String> {
    let mut out = BTreeMap::new();
    for frame in frames {
        for event in publisher.push(frame).unwrap() {
            if let Event::Manifests { k, .. } = &event {
                out.insert(*k, std::fs::read_to_string(dir.join(name)).unwrap());
            }
            events.push(event);
        }
    }
    out
}

fn jumping_frames(range: std::ops::Range<i64>) -> impl Iterator<Item = Frame<Vec<u8>>> {
    // Frames 30..80 never come: the timecode jumps 2 s forward inside K0+1.
    range
        .filter(|i| !(30..80).contains(i))
        .map(|i| frame(i, i % 25 == 0 || i == 80))
}

/// The playlists of a packager fed [`jumping_frames`] up to K0+5, dropped without finishing
/// (the open segment is lost) and made again on the same directory for K0+6 on.
fn restarted_after_the_jump(config: PublisherConfig) -> BTreeMap<i64, String> {
    restarted_after_the_jump_with(config, MEDIA_PLAYLIST)
}

/// As [`restarted_after_the_jump`], the manifest `name` after each update.
fn restarted_after_the_jump_with(config: PublisherConfig, name: &str) -> BTreeMap<i64, String> {
    let dir = config.dir.clone();
    let mut first = Publisher::new(config.clone()).unwrap();
    let frames = jumping_frames(0..150);
    playlists_by_k(&dir, name, &mut first, frames, &mut Vec::new());
    drop(first);
    let mut second = Publisher::new(config).unwrap();
    let frames = jumping_frames(150..250);
    playlists_by_k(&dir, name, &mut second, frames, &mut Vec::new())
}

/// With `discontinuity_on_jump`, the first segment written after one that a forward jump
/// cut short starts a new discontinuity domain: EXT-X-DISCONTINUITY before it while an
/// earlier entry is listed, then EXT-X-DISCONTINUITY-SEQUENCE 1 for good once it heads the
/// live window; the jump is reported. A packager restarted after the jump continues the
/// count and writes the same playlists again. Off, nothing but gaps (the test above).
#[test]
fn forward_jump_is_a_discontinuity_when_asked() {
    let live = PlaylistType::Live { window: 5 };
    let dir_a = dir("jump-disc-a");
    let mut config_a = config(&dir_a, live);
    config_a.discontinuity_on_jump = true;
    let mut a = Publisher::new(config_a.clone()).unwrap();
    let mut events = Vec::new();
    let playlists = playlists_by_k(
        &dir_a,
        MEDIA_PLAYLIST,
        &mut a,
        jumping_frames(0..250),
        &mut events,
    );
    assert_eq!(
        published(&events),
        vec![K0, K0 + 1, K0 + 4, K0 + 5, K0 + 6, K0 + 7, K0 + 8, K0 + 9]
    );
    assert!(events.contains(&Event::CutShort {
        rendition: 0,
        k: K0 + 1,
        frames: 5,
        next_utc_ns: T0 + 80 * FRAME,
        discontinuity: true
    }));
    let k = |offset: i64| (K0 + offset) as u64;
    // (msn, dsn, gap) per entry after each update: K0+4 opens domain 1.
    assert_eq!(
        sequence_numbers(&playlists[&(K0 + 1)]),
        vec![(k(0), 0, false), (k(1), 0, false)]
    );
    assert_eq!(
        sequence_numbers(&playlists[&(K0 + 4)]),
        vec![
            (k(0), 0, false),
            (k(1), 0, false),
            (k(2), 0, true),
            (k(3), 0, true),
            (k(4), 1, false)
        ]
    );
    assert!(playlists[&(K0 + 4)].contains(&format!(
        "#EXT-X-GAP\n#EXTINF:1.000000,\nvideo_{}.m4s\n#EXT-X-DISCONTINUITY\n\
         #EXT-X-PROGRAM-DATE-TIME:2026-01-01T10:00:04.000Z\n#EXTINF:1.000000,\nvideo_{}.m4s\n",
        K0 + 3,
        K0 + 4
    )));
    // Once K0+4 heads the window, the count is in the header and stays.
    for last in [K0 + 8, K0 + 9] {
        let first = last - 4;
        assert_eq!(
            sequence_numbers(&playlists[&last]),
            (first..=last)
                .map(|k| (k as u64, 1, false))
                .collect::<Vec<_>>()
        );
        assert!(playlists[&last].contains("#EXT-X-DISCONTINUITY-SEQUENCE:1\n"));
        assert!(!playlists[&last].contains("#EXT-X-DISCONTINUITY\n"));
    }
    // The same jump on a packager stopped after K0+5 (no EOS) and restarted at K0+6.
    let dir_b = dir("jump-disc-b");
    let mut config_b = config_a.clone();
    config_b.dir = dir_b.clone();
    let after = restarted_after_the_jump(config_b);
    for k in K0 + 6..=K0 + 9 {
        assert_eq!(after[&k], playlists[&k], "after the restart, segment {k}");
    }
    let _ = std::fs::remove_dir_all(&dir_a);
    let _ = std::fs::remove_dir_all(&dir_b);
}

/// A packager restarted after a jump whose gaps then head the live window lists the same
/// window as its peer: the window starts at the first segment written within it, not at
/// the older segment the restarted packager read back (it listed the gaps before).
#[test]
fn restart_after_a_jump_lists_the_same_window() {
    let live = PlaylistType::Live { window: 5 };
    let (dir_a, dir_b) = (dir("jump-restart-a"), dir("jump-restart-b"));
    let mut a = Publisher::new(config(&dir_a, live)).unwrap();
    let expected = playlists_by_k(
        &dir_a,
        MEDIA_PLAYLIST,
        &mut a,
        jumping_frames(0..250),
        &mut Vec::new(),
    );
    let after = restarted_after_the_jump(config(&dir_b, live));
    for k in K0 + 6..=K0 + 9 {
        assert_eq!(after[&k], expected[&k], "segment {k}");
    }
    assert!(expected[&(K0 + 6)].contains(&format!("#EXT-X-MEDIA-SEQUENCE:{}\n", K0 + 4)));
    assert!(!expected[&(K0 + 6)].contains("DISCONTINUITY\n"));
    let _ = std::fs::remove_dir_all(&dir_a);
    let _ = std::fs::remove_dir_all(&dir_b);
}

/// With a SegmentTimeline the MPD begins a Period after the jump's hole, `p<k>`, which
/// stays the first listed (same id) once the hole has left the window, also on a packager
/// restarted after the jump: its MPDs are the peer's.
#[test]
fn a_jump_begins_a_dash_period_that_outlives_the_window_and_a_restart() {
    let live = PlaylistType::Live { window: 5 };
    let (dir_a, dir_b) = (dir("jump-period-a"), dir("jump-period-b"));
    let mut a = Publisher::new(config(&dir_a, live)).unwrap();
    let expected = playlists_by_k(&dir_a, MPD, &mut a, jumping_frames(0..250), &mut Vec::new());
    let period_ids = |mpd: &str| -> Vec<String> {
        mpd.match_indices("<Period id=\"")
            .map(|(at, tag)| {
                let rest = &mpd[at + tag.len()..];
                rest[..rest.find('"').unwrap()].to_owned()
            })
            .collect()
    };
    let after_hole = format!("p{}", K0 + 4);
    assert_eq!(
        period_ids(&expected[&(K0 + 4)]),
        ["0".to_owned(), after_hole.clone()]
    );
    // K0+5..K0+9 listed: the hole is out of the window, its Period is not.
    assert_eq!(period_ids(&expected[&(K0 + 9)]), [after_hole]);
    let after = restarted_after_the_jump_with(config(&dir_b, live), MPD);
    for k in K0 + 6..=K0 + 9 {
        assert_eq!(after[&k], expected[&k], "MPD after segment {k}");
    }
    let _ = std::fs::remove_dir_all(&dir_a);
    let _ = std::fs::remove_dir_all(&dir_b);
}

/// The audio of the segment that opens the new discontinuity domain is missing: its
/// playlist moves the tag to its next listed segment, so every segment a player fetches
/// has the same discontinuity sequence number in the audio and the video playlist.
#[test]
fn audio_follows_the_video_discontinuity() {
    let dir = dir("jump-disc-audio");
    let mut config = audio_config(&dir);
    config.playlist_type = PlaylistType::Live { window: 5 };
    config.discontinuity_on_jump = true;
    let mut publisher = Publisher::new(config).unwrap();
    // AAC frames for 0 s..1.5 s and from 4.9 s on: the audio lands inside K0+4 after its
    // own jump, so it skips K0+4 and starts again at K0+5.
    let mut events = Vec::new();
    let start = |j: i64| T0 + (j - 10) * 1024 * 1_000_000_000 / 48_000;
    for j in (10..480).filter(|&j| {
        let at = start(j);
        !(T0 + 1_500_000_000..T0 + 4_900_000_000).contains(&at)
    }) {
        events.extend(publisher.push_audio(0, aac(j, 0)).unwrap());
    }
    let mut video = BTreeMap::new();
    let mut audio = BTreeMap::new();
    for frame in jumping_frames(0..200) {
        for event in publisher.push(frame).unwrap() {
            if let Event::Manifests { k, .. } = &event {
                video.insert(
                    *k,
                    std::fs::read_to_string(dir.join(MEDIA_PLAYLIST)).unwrap(),
                );
                audio.insert(
                    *k,
                    std::fs::read_to_string(dir.join("audio_0.m3u8")).unwrap(),
                );
            }
            events.push(event);
        }
    }
    assert!(events.contains(&Event::AudioMissing {
        id: "audio_0".into(),
        k: K0 + 4
    }));
    let k = |offset: i64| (K0 + offset) as u64;
    let video_entries = sequence_numbers(&video[&(K0 + 5)]);
    let audio_entries = sequence_numbers(&audio[&(K0 + 5)]);
    assert_eq!(
        video_entries[3..],
        [(k(4), 1, false), (k(5), 1, false)],
        "{}",
        video[&(K0 + 5)]
    );
    assert_eq!(
        audio_entries[3..],
        [(k(4), 0, true), (k(5), 1, false)],
        "{}",
        audio[&(K0 + 5)]
    );
    for k in K0 + 4..=K0 + 7 {
        let fetched = |text: &str| -> Vec<(u64, u64)> {
            sequence_numbers(text)
                .into_iter()
                .filter(|(_, _, gap)| !gap)
                .map(|(msn, dsn, _)| (msn, dsn))
                .collect()
        };
        let (v, a) = (fetched(&video[&k]), fetched(&audio[&k]));
        for entry in &a {
            assert!(v.contains(entry), "after {k}: audio {a:?}, video {v:?}");
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// Decode order I0 P3 B1 B2 P6 B4 B5 … with the encoder's DTS one frame before PTS for
/// the IDR: decode times continue across segments, offsets are never negative.
#[test]
fn b_frames_keep_presentation_times() {
    let dir = dir("bframes");
    let mut publisher = Publisher::new(config(&dir, PlaylistType::Event)).unwrap();
    let order = |segment: i64| {
        let base = segment * 25;
        let mut out = vec![base];
        let mut i = 1;
        while i + 2 < 25 {
            out.extend([base + i + 2, base + i, base + i + 1]);
            i += 3;
        }
        out.extend((base + i..base + 25).rev().collect::<Vec<_>>());
        out
    };
    let mut events = Vec::new();
    for segment in 0..2 {
        for (decode, n) in order(segment).into_iter().enumerate() {
            let decode = segment * 25 + decode as i64 - 1;
            events.extend(
                publisher
                    .push(Frame {
                        decode_lead_ns: (n - decode) * FRAME,
                        ..frame(n, n % 25 == 0)
                    })
                    .unwrap(),
            );
        }
    }
    assert_eq!(published(&events), vec![K0, K0 + 1]);
    for (segment, k) in [(0, K0), (1, K0 + 1)] {
        let bytes = std::fs::read(dir.join(format!("video_{k}.m4s"))).unwrap();
        let at = bytes.windows(4).position(|w| w == b"tfdt").unwrap();
        let tfdt = u64::from_be_bytes(bytes[at + 8..at + 16].try_into().unwrap());
        assert_eq!(
            tfdt as i64,
            ((K0 + segment) * 25 - 1) * 3600,
            "decode lead of 1 frame"
        );
        let at = bytes.windows(4).position(|w| w == b"trun").unwrap();
        assert_eq!(bytes[at + 4], 0, "version 0: no negative offset");
        let count = u32::from_be_bytes(bytes[at + 8..at + 12].try_into().unwrap());
        let presented: Vec<i64> = (0..count as usize)
            .map(|i| {
                let entry = at + 16 + i * 16;
                let offset = u32::from_be_bytes(bytes[entry + 12..entry + 16].try_into().unwrap());
                (tfdt as i64 + i as i64 * 3600 + i64::from(offset)) / 3600
            })
            .collect();
        let expected: Vec<i64> = order(segment).iter().map(|n| K0 * 25 + n).collect();
        assert_eq!(presented, expected);
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_restart_lists_the_published_segments_again() {
    let dir_once = dir("restart-once");
    let dir_twice = dir("restart-twice");
    let live = PlaylistType::Live { window: 3 };
    let mut once = Publisher::new(config(&dir_once, live)).unwrap();
    let mut first = Publisher::new(config(&dir_twice, live)).unwrap();
    for i in 0..60 {
        first.push(frame(i, i % 25 == 0)).unwrap();
    }
    for i in 0..50 {
        once.push(frame(i, i % 25 == 0)).unwrap();
    }
    drop(first);
    let mut second = Publisher::new(config(&dir_twice, live)).unwrap();
    for i in 50..125 {
        once.push(frame(i, i % 25 == 0)).unwrap();
        let events = second.push(frame(i, i % 25 == 0)).unwrap();
        if !published(&events).is_empty() {
            // The restarted packager's index still holds what it stored before.
            for name in [MEDIA_PLAYLIST, MPD, STORAGE_INDEX] {
                assert_eq!(
                    std::fs::read_to_string(dir_once.join(name)).unwrap(),
                    std::fs::read_to_string(dir_twice.join(name)).unwrap(),
                    "{name} at frame {i}"
                );
            }
        }
    }
    let _ = std::fs::remove_dir_all(&dir_once);
    let _ = std::fs::remove_dir_all(&dir_twice);
}

fn audio_config(dir: &Path) -> PublisherConfig {
    let mut config = config(dir, PlaylistType::Event);
    config.audio.push(AudioInput {
        id: "audio_0".into(),
        track: AudioTrack {
            config: crate::packaging::aac::AudioSpecificConfig::parse(&[0x11, 0x90]).unwrap(),
            bandwidth: 128_000,
        },
    });
    config
}

/// AAC frame j of a stream whose frame 10 starts exactly at T0 (48 kHz, 1024 samples).
fn aac(j: i64, jitter_ns: i64) -> AudioFrame<Vec<u8>> {
    AudioFrame {
        utc_ns: T0 + (j - 10) * 1024 * 1_000_000_000 / 48_000 + jitter_ns,
        data: vec![j as u8; 6],
    }
}

fn tfdt(bytes: &[u8]) -> u64 {
    let at = bytes.windows(4).position(|w| w == b"tfdt").unwrap();
    u64::from_be_bytes(bytes[at + 8..at + 16].try_into().unwrap())
}

fn sample_count(bytes: &[u8]) -> u32 {
    let at = bytes.windows(4).position(|w| w == b"trun").unwrap();
    u32::from_be_bytes(bytes[at + 8..at + 12].try_into().unwrap())
}

/// Audio is cut on the video's boundaries in samples, continuous across segments despite
/// timestamp jitter; the manifests wait for the audio of a segment and list it with the
/// video's facts.
#[test]
fn audio_segments_follow_the_grid_and_gate_the_manifests() {
    let dir = dir("audio");
    let mut publisher = Publisher::new(audio_config(&dir)).unwrap();
    let mut events = Vec::new();
    // Video first: segment K0 completes, but its audio has not arrived: nothing listed.
    for i in 0..25 {
        events.extend(publisher.push(frame(i, i % 25 == 0)).unwrap());
    }
    assert_eq!(published(&events), vec![K0]);
    assert!(!events.iter().any(|e| matches!(e, Event::Manifests { .. })));
    // Audio from before the boundary; ±3 ms of jitter stays on the 1024-sample grid.
    let mut manifests_at = None;
    for j in 0..110 {
        // The first frame anchors the sample positions; later ones may jitter.
        let jitter = match j {
            0 => 0,
            _ if j % 2 == 0 => 3_000_000,
            _ => -3_000_000,
        };
        let more = publisher.push_audio(0, aac(j, jitter)).unwrap();
        if more
            .iter()
            .any(|e| matches!(e, Event::Manifests { k, .. } if *k == K0))
        {
            manifests_at.get_or_insert(j);
        }
        events.extend(more);
    }
    // Frame 56 is the last one starting before K0 + 1 s (10 + 47 frames of 1024 > 48000).
    assert_eq!(manifests_at, Some(56));
    for i in 25..50 {
        events.extend(publisher.push(frame(i, i % 25 == 0)).unwrap());
    }
    let audio_k0 = std::fs::read(dir.join(format!("audio_0_{K0}.m4s"))).unwrap();
    assert_eq!(tfdt(&audio_k0), K0 as u64 * 48_000);
    assert_eq!(sample_count(&audio_k0), 47);
    let audio_k1 = std::fs::read(dir.join(format!("audio_0_{}.m4s", K0 + 1))).unwrap();
    assert_eq!(
        tfdt(&audio_k1),
        K0 as u64 * 48_000 + 47 * 1024,
        "continuous"
    );
    assert!(dir.join("audio_0_init.mp4").is_file());
    let audio_segments: Vec<&PublishedSegment> = events
        .iter()
        .filter_map(|e| match e {
            Event::Segment(s) if s.representation == "audio_0" => Some(s),
            _ => None,
        })
        .collect();
    assert_eq!(audio_segments[0].k, K0);
    assert_eq!(audio_segments[0].frames, 47);
    assert_eq!(
        audio_segments[0].duration_ns,
        47 * 1024 * 1_000_000_000 / 48_000
    );

    let video = std::fs::read_to_string(dir.join(MEDIA_PLAYLIST)).unwrap();
    let audio = std::fs::read_to_string(dir.join("audio_0.m3u8")).unwrap();
    // The audio playlist is the video's with the audio names: same k, PDT and EXTINF.
    assert_eq!(video.replace("video_", "audio_0_"), audio);
    assert!(
        audio.contains(&format!("audio_0_{}.m4s", K0 + 1)),
        "{audio}"
    );
    let multivariant = std::fs::read_to_string(dir.join(MULTIVARIANT_PLAYLIST)).unwrap();
    assert!(
        multivariant.contains(
            "#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID=\"audio\",NAME=\"audio_0\",DEFAULT=YES,\
             AUTOSELECT=YES,CHANNELS=\"2\",URI=\"audio_0.m3u8\""
        ),
        "{multivariant}"
    );
    assert!(multivariant.contains("BANDWIDTH=1128000,CODECS=\"avc1.42c00c,mp4a.40.2\""));
    assert!(multivariant.contains("AUDIO=\"audio\""));
    let mpd = std::fs::read_to_string(dir.join(MPD)).unwrap();
    crate::packaging::dash::tests::assert_schema_valid(&mpd);
    assert!(mpd.contains("mimeType=\"audio/mp4\""), "{mpd}");
    assert!(mpd.contains("id=\"audio_0\""), "{mpd}");
    assert!(
        mpd.contains(&format!("<S t=\"{}\" d=\"48000\"", K0 * 48_000)),
        "{mpd}"
    );
    let storage = std::fs::read_to_string(dir.join("storage_audio_0.json")).unwrap();
    let json: serde_json::Value = serde_json::from_str(&storage).unwrap();
    assert_eq!(json["representation"], "audio_0");
    assert_eq!(json["segments"][0]["duration_ns"], 1_002_666_666u64);
    let _ = std::fs::remove_dir_all(&dir);
}

/// Audio that stops is waited for until the glue reports it stalled; its segments are then
/// listed as missing, and the end of the stream lists everything.
#[test]
fn stalled_audio_does_not_stop_publication() {
    let dir = dir("audio-stall");
    let mut publisher = Publisher::new(audio_config(&dir)).unwrap();
    let mut events = Vec::new();
    for j in 0..60 {
        events.extend(publisher.push_audio(0, aac(j, 0)).unwrap());
    }
    for i in 0..100 {
        events.extend(publisher.push(frame(i, i % 25 == 0)).unwrap());
        if i == 80 {
            events.extend(publisher.audio_stalled(0).unwrap());
        }
    }
    let listed: Vec<i64> = events
        .iter()
        .filter_map(|e| match e {
            Event::Manifests { k, .. } => Some(*k),
            _ => None,
        })
        .collect();
    // K0's audio is there; K0 + 1 waits until the stall is reported (frame 80), after
    // which every video segment is listed at once.
    assert_eq!(listed, vec![K0, K0 + 2, K0 + 3], "{events:?}");
    assert!(events.contains(&Event::AudioMissing {
        id: "audio_0".into(),
        k: K0 + 1
    }));
    let audio = std::fs::read_to_string(dir.join("audio_0.m3u8")).unwrap();
    assert!(
        audio.contains(&format!(
            "#EXT-X-GAP\n#EXTINF:1.000000,\naudio_0_{}.m4s",
            K0 + 1
        )),
        "{audio}"
    );
    events.extend(publisher.finish().unwrap());
    let audio = std::fs::read_to_string(dir.join("audio_0.m3u8")).unwrap();
    assert!(audio.ends_with("#EXT-X-ENDLIST\n"), "{audio}");
    assert!(
        audio.contains(&format!("audio_0_{}.m4s", K0 + 3)),
        "{audio}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// An audio track that sends nothing: the multivariant playlist names no playlist that is not
/// on disk (no audio rendition while there is no audio playlist), and names it once the
/// track's playlist appears.
#[test]
fn multivariant_playlist_never_names_a_missing_playlist() {
    let dir = dir("audio-never");
    let mut publisher = Publisher::new(audio_config(&dir)).unwrap();
    let named = |dir: &Path| -> Vec<String> {
        let text = std::fs::read_to_string(dir.join(MULTIVARIANT_PLAYLIST)).unwrap();
        match m3u8_rs::parse_master_playlist_res(text.as_bytes()) {
            Ok(p) => p
                .variants
                .iter()
                .map(|v| v.uri.clone())
                .chain(p.alternatives.iter().filter_map(|a| a.uri.clone()))
                .collect(),
            Err(e) => panic!("{e:?}: {text}"),
        }
    };
    for i in 0..50 {
        publisher.push(frame(i, i % 25 == 0)).unwrap();
        if i == 10 {
            publisher.audio_stalled(0).unwrap();
        }
    }
    let uris = named(&dir);
    assert_eq!(
        uris,
        vec![MEDIA_PLAYLIST.to_owned()],
        "no audio playlist, no rendition"
    );
    for uri in &uris {
        assert!(dir.join(uri).is_file(), "{uri} is named and on disk");
    }
    // The audio comes (late): its first listed segment brings its playlist, and the
    // multivariant playlist names it from then on.
    for j in 94..200 {
        publisher.push_audio(0, aac(j, 0)).unwrap();
    }
    for i in 50..100 {
        publisher.push(frame(i, i % 25 == 0)).unwrap();
    }
    let uris = named(&dir);
    assert!(uris.contains(&"audio_0.m3u8".to_owned()), "{uris:?}");
    for uri in &uris {
        assert!(dir.join(uri).is_file(), "{uri} is named and on disk");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn audio_configuration_errors() {
    let dir = dir("audio-config");
    let error =
        |config: PublisherConfig| Publisher::<Vec<u8>>::new(config).err().unwrap().to_string();
    let mut ts = audio_config(&dir);
    ts.format = SegmentFormat::Ts;
    ts.dash = false;
    assert!(error(ts).contains("segment-format=cmaf"));
    // 29.97 fps, 60-frame segments: 2.002 s is 88288.2 samples at 44.1 kHz.
    let mut odd = audio_config(&dir);
    odd.grid = Grid::new(FrameRate::new(30000, 1001).unwrap(), 60).unwrap();
    odd.audio[0].track.config =
        crate::packaging::aac::AudioSpecificConfig::parse(&[0x12, 0x10]).unwrap();
    assert!(error(odd).contains("44100 Hz"));
    let _ = std::fs::remove_dir_all(&dir);
}

/// `$Time$` names: the segment's start on the epoch timeline in the track's timescale (90 kHz
/// video, 48 kHz audio), in the files, the playlists and the MPD's SegmentTimeline.
#[test]
fn segments_named_by_time() {
    let dir = dir("time");
    let mut config = audio_config(&dir);
    config.name_by_time = true;
    let mut publisher = Publisher::new(config.clone()).unwrap();
    for j in 0..110 {
        publisher.push_audio(0, aac(j, 0)).unwrap();
    }
    for i in 0..50 {
        publisher.push(frame(i, i % 25 == 0)).unwrap();
    }
    let video_t = K0 * 90_000;
    let audio_t = K0 * 48_000;
    assert!(dir.join(format!("video_{video_t}.m4s")).is_file());
    assert!(dir.join(format!("audio_0_{audio_t}.m4s")).is_file());
    let playlist = std::fs::read_to_string(dir.join(MEDIA_PLAYLIST)).unwrap();
    assert!(
        playlist.contains(&format!("\nvideo_{}.m4s\n", video_t + 90_000)),
        "{playlist}"
    );
    let audio = std::fs::read_to_string(dir.join("audio_0.m3u8")).unwrap();
    assert!(
        audio.contains(&format!("\naudio_0_{}.m4s\n", audio_t + 48_000)),
        "{audio}"
    );
    let mpd = std::fs::read_to_string(dir.join(MPD)).unwrap();
    crate::packaging::dash::tests::assert_schema_valid(&mpd);
    assert!(
        mpd.contains("media=\"$RepresentationID$_$Time$.m4s\""),
        "{mpd}"
    );
    config.segment_timeline = false;
    let error = Publisher::<Vec<u8>>::new(config).err().unwrap().to_string();
    assert!(error.contains("segment-timeline=true"), "{error}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn configuration_errors() {
    let dir = dir("config");
    let error =
        |config: PublisherConfig| Publisher::<Vec<u8>>::new(config).err().unwrap().to_string();
    let mut bad = config(&dir, PlaylistType::Event);
    bad.max_files = 5;
    assert!(error(bad).contains("would delete listed segments"));
    let mut bad = config(&dir, PlaylistType::Live { window: 5 });
    bad.max_files = 3;
    assert!(error(bad).contains("max-files 3 is smaller than playlist-length 5"));
    let mut bad = config(&dir, PlaylistType::Event);
    bad.track.codec_config = vec![0, 0, 0, 1, 0x67, 0, 0];
    assert!(error(bad).contains("configurationVersion"));
    assert!(
        check_directory(&dir.join("missing"))
            .unwrap_err()
            .to_string()
            .contains("missing")
    );
    let _ = std::fs::remove_dir_all(&dir);
}
