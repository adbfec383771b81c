// SPDX-License-Identifier: MPL-2.0
//! Unit tests of an ABR ladder: renditions cut on one grid, listed together.

use super::*;
use crate::packaging::dash::UtcTiming;
use crate::packaging::dash::tests::assert_schema_valid;
use crate::packaging::fmp4::{self, VideoTrack};
use crate::packaging::grid::Grid;
use crate::timecode::FrameRate;
use std::path::{Path, PathBuf};

const T0: i64 = 1_767_261_600_000_000_000;
const K0: i64 = 1_767_261_600;
const FRAME: i64 = 40_000_000;

fn dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("lockstep-ladder-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// An avcC record (no parameter sets) of the given profile and level.
fn avcc(profile: u8, level: u8) -> Vec<u8> {
    vec![1, profile, 0x00, level, 0xff, 0xe0, 0]
}

fn track(width: u16, height: u16, profile: u8, level: u8) -> VideoTrack {
    VideoTrack {
        codec: fmp4::VideoCodec::H264,
        codec_config: avcc(profile, level),
        width,
        height,
        timescale: 0,
    }
}

/// 1280×720, 640×360, 320×180 at 25 fps, 1 s segments, live window 5.
fn ladder(dir: &Path) -> PublisherConfig {
    PublisherConfig {
        dir: dir.to_path_buf(),
        grid: Grid::new(FrameRate::new(25, 1).unwrap(), 25).unwrap(),
        track: track(1280, 720, 0x64, 0x1f),
        playlist_type: PlaylistType::Live { window: 5 },
        window: 5,
        max_files: 0,
        hls: true,
        dash: true,
        storage_index: false,
        utc_timing: UtcTiming::http_iso("https://time.example/iso"),
        segment_timeline: false,
        bandwidth: 3_000_000,
        average_bandwidth: Some(2_500_000),
        renditions: vec![
            RenditionInput {
                id: "video_1".into(),
                track: track(640, 360, 0x4d, 0x1e),
                bandwidth: 1_200_000,
                average_bandwidth: Some(1_000_000),
            },
            RenditionInput {
                id: "video_2".into(),
                track: track(320, 180, 0x42, 0x0d),
                bandwidth: 400_000,
                average_bandwidth: None,
            },
        ],
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

/// Feeds frames `range` to every rendition, rendition by rendition per frame, with
/// `keyframe(rendition, index)` deciding the keyframes.
fn feed(
    publisher: &mut Publisher<Vec<u8>>,
    range: std::ops::Range<i64>,
    keyframe: impl Fn(usize, i64) -> bool,
) -> Vec<Event> {
    let mut events = Vec::new();
    for i in range {
        for rendition in 0..3 {
            events.extend(
                publisher
                    .push_rendition(rendition, frame(i, keyframe(rendition, i)))
                    .unwrap(),
            );
        }
    }
    events
}

fn media(dir: &Path, name: &str) -> m3u8_rs::MediaPlaylist {
    let text = std::fs::read(dir.join(name)).unwrap();
    match m3u8_rs::parse_playlist_res(&text) {
        Ok(m3u8_rs::Playlist::MediaPlaylist(playlist)) => playlist,
        other => panic!("{name} is no media playlist: {other:?}"),
    }
}

/// (media sequence number, URI, PDT in ms, gap) of every entry.
fn entries(playlist: &m3u8_rs::MediaPlaylist) -> Vec<(u64, String, Option<i64>, bool)> {
    playlist
        .segments
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let gap = s.unknown_tags.iter().any(|t| t.tag == "X-GAP");
            (
                playlist.media_sequence + i as u64,
                s.uri.clone(),
                s.program_date_time.map(|t| t.timestamp_millis()),
                gap,
            )
        })
        .collect()
}

/// Every rendition's segment k has the same number, PDT and duration; the multivariant
/// playlist lists each variant with its BANDWIDTH, AVERAGE-BANDWIDTH, CODECS, RESOLUTION and
/// FRAME-RATE; the MPD has one video AdaptationSet with a Representation per rendition.
#[test]
fn renditions_share_the_grid_and_are_listed_together() {
    let dir = dir("together");
    let mut publisher = Publisher::new(ladder(&dir)).unwrap();
    let events = feed(&mut publisher, 0..100, |_, i| i % 25 == 0);
    // Every rendition asks its own encoder for a keyframe at the next boundary.
    for rendition in 0..3 {
        assert!(events.contains(&Event::KeyframeWanted {
            rendition,
            utc_ns: T0 + 25 * FRAME,
            k: K0 + 1
        }));
    }
    let main = media(&dir, "video.m3u8");
    for (name, id) in [("video_1.m3u8", "video_1"), ("video_2.m3u8", "video_2")] {
        let rendition = media(&dir, name);
        assert_eq!(rendition.media_sequence, main.media_sequence);
        let expected: Vec<_> = entries(&main)
            .into_iter()
            .map(|(n, uri, pdt, gap)| (n, uri.replacen("video", id, 1), pdt, gap))
            .collect();
        assert_eq!(entries(&rendition), expected, "{name}");
        for (a, b) in rendition.segments.iter().zip(&main.segments) {
            assert_eq!(a.duration, b.duration);
        }
        assert!(dir.join(format!("{id}_init.mp4")).is_file());
    }
    assert_eq!(
        entries(&main).last().map(|e| e.0),
        Some(K0 as u64 + 3),
        "4 segments written and listed"
    );
    let text = std::fs::read(dir.join(MULTIVARIANT_PLAYLIST)).unwrap();
    let Ok(m3u8_rs::Playlist::MasterPlaylist(multivariant)) = m3u8_rs::parse_playlist_res(&text)
    else {
        panic!("no multivariant playlist");
    };
    let variants: Vec<_> = multivariant
        .variants
        .iter()
        .map(|v| {
            (
                v.uri.clone(),
                v.bandwidth,
                v.average_bandwidth,
                v.codecs.clone(),
                v.resolution.map(|r| (r.width, r.height)),
                v.frame_rate,
            )
        })
        .collect();
    assert_eq!(
        variants,
        vec![
            (
                "video.m3u8".to_owned(),
                3_000_000,
                Some(2_500_000),
                Some("avc1.64001f".to_owned()),
                Some((1280, 720)),
                Some(25.0)
            ),
            (
                "video_1.m3u8".to_owned(),
                1_200_000,
                Some(1_000_000),
                Some("avc1.4d001e".to_owned()),
                Some((640, 360)),
                Some(25.0)
            ),
            (
                "video_2.m3u8".to_owned(),
                400_000,
                None,
                Some("avc1.42000d".to_owned()),
                Some((320, 180)),
                Some(25.0)
            ),
        ]
    );
    let mpd = std::fs::read_to_string(dir.join(MPD)).unwrap();
    assert_schema_valid(&mpd);
    let document = roxmltree::Document::parse(&mpd).unwrap();
    let sets: Vec<_> = document
        .descendants()
        .filter(|n| n.has_tag_name("AdaptationSet"))
        .collect();
    assert_eq!(sets.len(), 1, "one video AdaptationSet");
    assert_eq!(sets[0].attribute("segmentAlignment"), Some("true"));
    assert_eq!(sets[0].attribute("startWithSAP"), Some("1"));
    assert_eq!(sets[0].attribute("maxWidth"), Some("1280"));
    let representations: Vec<_> = sets[0]
        .children()
        .filter(|n| n.has_tag_name("Representation"))
        .map(|r| {
            (
                r.attribute("id").unwrap().to_owned(),
                r.attribute("bandwidth").unwrap().to_owned(),
                r.attribute("width").unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        representations,
        [
            ("video", "3000000", "1280"),
            ("video_1", "1200000", "640"),
            ("video_2", "400000", "320")
        ]
        .map(|(a, b, c)| (a.to_owned(), b.to_owned(), c.to_owned()))
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// A rendition whose segment does not start with a keyframe is reported and shows a gap in
/// its own playlist only; the others list the segment.
#[test]
fn a_missing_keyframe_is_a_gap_in_that_rendition_only() {
    let dir = dir("gap");
    let mut publisher = Publisher::new(ladder(&dir)).unwrap();
    let events = feed(&mut publisher, 0..100, |rendition, i| {
        i % 25 == 0 && !(rendition == 1 && i == 50)
    });
    assert!(events.contains(&Event::NotKeyframe {
        rendition: 1,
        k: K0 + 2,
        utc_ns: T0 + 50 * FRAME
    }));
    let gaps = |name: &str| -> Vec<u64> {
        entries(&media(&dir, name))
            .into_iter()
            .filter(|e| e.3)
            .map(|e| e.0)
            .collect()
    };
    assert_eq!(gaps("video.m3u8"), Vec::<u64>::new());
    assert_eq!(gaps("video_1.m3u8"), vec![K0 as u64 + 2]);
    assert_eq!(gaps("video_2.m3u8"), Vec::<u64>::new());
    assert!(!dir.join(format!("video_1_{}.m4s", K0 + 2)).exists());
    assert!(dir.join(format!("video_2_{}.m4s", K0 + 2)).is_file());
    let _ = std::fs::remove_dir_all(&dir);
}

/// The manifests list k once every rendition finished it: a rendition running behind holds
/// them back; one that stalls (the glue says so) no longer does, and lists gaps.
#[test]
fn manifests_wait_for_every_rendition_until_one_stalls() {
    let dir = dir("wait");
    let mut publisher = Publisher::new(ladder(&dir)).unwrap();
    let mut listed = Vec::new();
    for i in 0..60 {
        for rendition in 0..2 {
            for event in publisher
                .push_rendition(rendition, frame(i, i % 25 == 0))
                .unwrap()
            {
                if let Event::Manifests { k, .. } = event {
                    listed.push(k);
                }
            }
        }
    }
    assert!(
        listed.is_empty(),
        "rendition 2 sent nothing yet: {listed:?}"
    );
    let events = publisher.rendition_stalled(2).unwrap();
    assert!(
        events.contains(&Event::Manifests {
            k: K0 + 1,
            names: vec![
                "video.m3u8".into(),
                "video_1.m3u8".into(),
                MULTIVARIANT_PLAYLIST.into(),
                MPD.into()
            ]
        }),
        "{events:?}"
    );
    assert!(
        !dir.join("video_2.m3u8").exists(),
        "a rendition with nothing listed has no playlist"
    );
    let text = std::fs::read_to_string(dir.join(MULTIVARIANT_PLAYLIST)).unwrap();
    assert!(
        !text.contains("video_2.m3u8"),
        "the multivariant playlist names only playlists that exist"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// Two packagers with the same ladder, one joining 1.4 s later, write the same manifests
/// once both list the same window.
#[test]
fn redundant_ladders_write_identical_manifests() {
    let (dir_a, dir_b) = (dir("redundant-a"), dir("redundant-b"));
    let mut a = Publisher::new(ladder(&dir_a)).unwrap();
    let mut b = Publisher::new(ladder(&dir_b)).unwrap();
    feed(&mut a, 0..250, |_, i| i % 25 == 0);
    feed(&mut b, 35..250, |_, i| i % 25 == 0);
    for name in [
        "video.m3u8",
        "video_1.m3u8",
        "video_2.m3u8",
        MULTIVARIANT_PLAYLIST,
        MPD,
    ] {
        assert_eq!(
            std::fs::read(dir_a.join(name)).unwrap(),
            std::fs::read(dir_b.join(name)).unwrap(),
            "{name}"
        );
    }
    let _ = std::fs::remove_dir_all(&dir_a);
    let _ = std::fs::remove_dir_all(&dir_b);
}

#[test]
fn ladder_configuration_errors() {
    let dir = dir("errors");
    let mut same_id = ladder(&dir);
    same_id.renditions[1].id = "video_1".into();
    let error = Publisher::<Vec<u8>>::new(same_id)
        .err()
        .unwrap()
        .to_string();
    assert!(error.contains("two tracks are named 'video_1'"), "{error}");
    let mut mixed = ladder(&dir);
    mixed.renditions[0].track.codec = fmp4::VideoCodec::H265;
    mixed.renditions[0].track.codec_config = Vec::new();
    let error = Publisher::<Vec<u8>>::new(mixed).err().unwrap().to_string();
    assert!(error.contains("share a codec"), "{error}");
    let mut no_rate = ladder(&dir);
    no_rate.renditions[1].bandwidth = 0;
    let error = Publisher::<Vec<u8>>::new(no_rate)
        .err()
        .unwrap()
        .to_string();
    assert!(error.contains("bandwidth of 'video_2' is 0"), "{error}");
    let _ = std::fs::remove_dir_all(&dir);
}
