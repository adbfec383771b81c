// SPDX-License-Identifier: MPL-2.0
//! Unit tests of the HLS playlists (and helpers the DASH tests share).

use super::*;
use crate::timecode::utc::parse_rfc3339;
use m3u8_rs::{MediaPlaylist as ParsedMedia, Playlist};

pub(crate) fn ntsc_grid() -> Grid {
    Grid::new(FrameRate::new(30000, 1001).unwrap(), 60).unwrap()
}

/// The facts of segment k of a 29.97 stream whose frames sit `offset_ns` after their
/// epoch slots (as the label-derived instants do).
pub(crate) fn fact(grid: &Grid, k: i64, offset_ns: i64) -> SegmentFact {
    SegmentFact {
        k,
        first_frame_utc_ns: grid.segment_start_ns(k) + offset_ns,
        frames: grid.frames_per_segment(),
        discontinuity: false,
    }
}

pub(crate) fn parse_media(text: &str) -> ParsedMedia {
    match m3u8_rs::parse_playlist_res(text.as_bytes()) {
        Ok(Playlist::MediaPlaylist(playlist)) => playlist,
        other => panic!("not a media playlist: {other:?}\n{text}"),
    }
}

fn is_gap(segment: &m3u8_rs::MediaSegment) -> bool {
    segment.unknown_tags.iter().any(|t| t.tag.contains("GAP"))
}

/// k of 2026-11-23T19:46:16Z on the 2.002 s grid.
fn k_now(grid: &Grid) -> i64 {
    grid.segment_of(parse_rfc3339("2026-11-23T19:46:16Z").unwrap())
}

#[test]
fn live_playlist_text_and_parsed_values() {
    let grid = ntsc_grid();
    let config = HlsConfig::cmaf(grid, PlaylistType::Live { window: 5 }, "v0").unwrap();
    let mut window = HlsWindow::new(config).unwrap();
    let k0 = k_now(&grid);
    for k in k0..k0 + 7 {
        window.add(fact(&grid, k, -13_955_000)).unwrap();
    }
    let playlist = window.playlist().unwrap();
    let text = playlist.render();
    let parsed = parse_media(&text);
    assert_eq!(
        parsed.version,
        Some(6),
        "EXT-X-MAP without I-FRAMES-ONLY needs 6"
    );
    assert_eq!(parsed.target_duration, 3, "ceil(2.002)");
    assert_eq!(
        parsed.media_sequence,
        (k0 + 2) as u64,
        "k of the first listed"
    );
    assert_eq!(parsed.discontinuity_sequence, 0);
    assert!(parsed.independent_segments);
    assert!(!parsed.end_list);
    assert_eq!(
        parsed.playlist_type, None,
        "no PLAYLIST-TYPE on live playlists"
    );
    assert_eq!(parsed.segments.len(), 5);
    assert_eq!(parsed.segments[0].map.as_ref().unwrap().uri, "v0_init.mp4");
    for (i, segment) in parsed.segments.iter().enumerate() {
        let k = k0 + 2 + i as i64;
        assert_eq!(segment.uri, format!("v0_{k}.m4s"));
        assert!((segment.duration - 2.002).abs() < 1e-6);
        assert!(!segment.discontinuity && !is_gap(segment));
        let pdt = segment.program_date_time.unwrap();
        let expected_ms = (grid.segment_start_ns(k) - 13_955_000).div_euclid(1_000_000);
        assert_eq!(pdt.timestamp_millis(), expected_ms, "PDT of segment {k}");
    }
    assert!(text.contains("#EXTINF:2.002000,\n"));
    assert!(text.ends_with(".m4s\n"));
    assert_eq!(playlist.media_sequence(), (k0 + 2) as u64);
    assert_eq!(playlist.segments().len(), 5);
}

#[test]
fn golden_text() {
    let grid = Grid::new(FrameRate::new(25, 1).unwrap(), 50).unwrap();
    let mut config = HlsConfig::cmaf(grid, PlaylistType::Live { window: 3 }, "v").unwrap();
    config.init_template = None;
    config.segment_template = NameTemplate::new("seg-$Number%05d$.ts").unwrap();
    let mut window = HlsWindow::new(config).unwrap();
    for k in [10, 11, 13] {
        window.add(fact(&grid, k, 0)).unwrap();
    }
    let expected = "#EXTM3U
#EXT-X-VERSION:3
#EXT-X-TARGETDURATION:2
#EXT-X-MEDIA-SEQUENCE:11
#EXT-X-DISCONTINUITY-SEQUENCE:0
#EXT-X-INDEPENDENT-SEGMENTS
#EXT-X-PROGRAM-DATE-TIME:1970-01-01T00:00:22.000Z
#EXTINF:2.000000,
seg-00011.ts
#EXT-X-PROGRAM-DATE-TIME:1970-01-01T00:00:24.000Z
#EXT-X-GAP
#EXTINF:2.000000,
seg-00012.ts
#EXT-X-PROGRAM-DATE-TIME:1970-01-01T00:00:26.000Z
#EXTINF:2.000000,
seg-00013.ts
";
    assert_eq!(window.playlist().unwrap().render(), expected);
    let parsed = parse_media(expected);
    assert!(is_gap(&parsed.segments[1]));
    assert!(!is_gap(&parsed.segments[0]) && !is_gap(&parsed.segments[2]));
}

#[test]
fn gaps_at_the_live_edge_and_their_instants() {
    let grid = ntsc_grid();
    let config = HlsConfig::cmaf(grid, PlaylistType::Live { window: 6 }, "v0").unwrap();
    let mut window = HlsWindow::new(config).unwrap();
    let k0 = k_now(&grid);
    // Frames 13.955 ms before their slots; the gap instants keep that offset.
    window.add(fact(&grid, k0, -13_955_000)).unwrap();
    window.add(fact(&grid, k0 + 3, -13_955_000)).unwrap();
    let playlist = window.playlist_at(k0 + 4).unwrap();
    let parsed = parse_media(&playlist.render());
    assert_eq!(parsed.segments.len(), 5);
    let gaps: Vec<bool> = parsed.segments.iter().map(is_gap).collect();
    assert_eq!(gaps, [false, true, true, false, true]);
    for (i, segment) in parsed.segments.iter().enumerate() {
        let k = k0 + i as i64;
        let expected = (grid.segment_start_ns(k) - 13_955_000).div_euclid(1_000_000);
        let got = segment.program_date_time.unwrap().timestamp_millis();
        assert!(
            (got - expected).abs() <= 1,
            "segment {k}: {got} vs {expected}"
        );
        assert!((segment.duration - 2.002).abs() < 1e-6);
    }
    assert!(window.playlist_at(k0 - 1).is_err());
}

#[test]
fn event_vod_and_endlist() {
    let grid = ntsc_grid();
    let k0 = k_now(&grid);
    for (kind, tag) in [
        (PlaylistType::Event, Some(m3u8_rs::MediaPlaylistType::Event)),
        (PlaylistType::Vod, Some(m3u8_rs::MediaPlaylistType::Vod)),
        (PlaylistType::Live { window: 5 }, None),
    ] {
        let config = HlsConfig::cmaf(grid, kind, "v0").unwrap();
        let mut window = HlsWindow::new(config).unwrap();
        for k in k0..k0 + 8 {
            window.add(fact(&grid, k, 0)).unwrap();
        }
        let parsed = parse_media(&window.playlist().unwrap().render());
        assert_eq!(parsed.playlist_type, tag);
        assert_eq!(parsed.end_list, kind == PlaylistType::Vod);
        let listed = if kind == (PlaylistType::Live { window: 5 }) {
            5
        } else {
            8
        };
        assert_eq!(parsed.segments.len(), listed);
        window.end();
        let parsed = parse_media(&window.playlist().unwrap().render());
        assert!(parsed.end_list);
    }
}

#[test]
fn discontinuity_sequence_follows_the_window_and_resumes() {
    let grid = ntsc_grid();
    let config = HlsConfig::cmaf(grid, PlaylistType::Live { window: 5 }, "v0").unwrap();
    let mut window = HlsWindow::new(config.clone()).unwrap();
    let k0 = k_now(&grid);
    let flagged = [k0 + 2, k0 + 4];
    let mut previous_dsn = 0;
    let mut per_segment: BTreeMap<i64, u64> = BTreeMap::new();
    for k in k0..k0 + 12 {
        let mut f = fact(&grid, k, 0);
        f.discontinuity = flagged.contains(&k) || k == k0;
        window.add(f).unwrap();
        let playlist = window.playlist().unwrap();
        let parsed = parse_media(&playlist.render());
        assert!(parsed.discontinuity_sequence >= previous_dsn);
        previous_dsn = parsed.discontinuity_sequence;
        // The discontinuity sequence number of every segment stays the same in every
        // playlist that lists it (RFC 8216 §6.2.2).
        let mut dsn = parsed.discontinuity_sequence;
        for (i, segment) in parsed.segments.iter().enumerate() {
            if segment.discontinuity {
                assert!(i > 0, "no tag on the first listed segment");
                dsn += 1;
            }
            let k = parsed.media_sequence as i64 + i as i64;
            assert_eq!(*per_segment.entry(k).or_insert(dsn), dsn, "segment {k}");
        }
    }
    // The first fact's own flag does not count; the two later ones do.
    assert_eq!(per_segment[&(k0 + 1)], 0);
    assert_eq!(per_segment[&(k0 + 2)], 1);
    assert_eq!(per_segment[&(k0 + 11)], 2);
    assert_eq!(previous_dsn, 2);
    // A restart reads its last playlist back and continues with the same numbers.
    let text = window.playlist().unwrap().render();
    let point = ResumePoint::from_playlist(&text).unwrap();
    assert_eq!(point, window.playlist().unwrap().resume_point().unwrap());
    assert_eq!(point.last_k, k0 + 11);
    assert_eq!(point.discontinuity_sequence, 2);
    let mut restarted = HlsWindow::resume(config, point).unwrap();
    assert!(
        restarted.add(fact(&grid, k0 + 11, 0)).is_err(),
        "k already published"
    );
    let mut f = fact(&grid, k0 + 14, 0);
    f.discontinuity = true;
    restarted.add(f).unwrap();
    let parsed = parse_media(&restarted.playlist().unwrap().render());
    assert_eq!(parsed.media_sequence, (k0 + 14) as u64);
    assert_eq!(parsed.discontinuity_sequence, 3);
    assert_eq!(ResumePoint::from_playlist("not a playlist"), None);
    assert_eq!(
        ResumePoint::from_playlist("#EXTM3U\n#EXT-X-MEDIA-SEQUENCE:5\n"),
        None
    );
}

#[test]
fn configuration_and_fact_errors_say_what_to_do() {
    let grid = ntsc_grid();
    let short = HlsConfig::cmaf(grid, PlaylistType::Live { window: 4 }, "v0").unwrap();
    let text = HlsWindow::new(short).unwrap_err().to_string();
    assert!(text.contains("playlist-length 4 is too short"), "{text}");
    assert!(text.contains("use playlist-length 5"), "{text}");
    assert!(
        HlsConfig::cmaf(grid, PlaylistType::Live { window: 5 }, "v0")
            .map(HlsWindow::new)
            .unwrap()
            .is_ok()
    );
    let bad_id = HlsConfig::cmaf(grid, PlaylistType::Event, "../x").unwrap();
    assert!(matches!(HlsWindow::new(bad_id), Err(HlsError::Name(_))));
    let mut numbered_init = HlsConfig::cmaf(grid, PlaylistType::Event, "v0").unwrap();
    numbered_init.init_template = Some(NameTemplate::new("init-$Number$.mp4").unwrap());
    assert!(matches!(
        HlsWindow::new(numbered_init),
        Err(HlsError::Config(_))
    ));

    let config = HlsConfig::cmaf(grid, PlaylistType::Event, "v0").unwrap();
    let mut window = HlsWindow::new(config).unwrap();
    assert!(matches!(window.playlist(), Err(HlsError::Empty)));
    let k0 = k_now(&grid);
    let mut wrong_k = fact(&grid, k0, 0);
    wrong_k.k += 1;
    assert!(
        window
            .add(wrong_k)
            .unwrap_err()
            .to_string()
            .contains("grid puts")
    );
    let mut too_long = fact(&grid, k0, 0);
    too_long.frames = 61;
    assert!(window.add(too_long).is_err());
    window.add(fact(&grid, k0, 0)).unwrap();
    window.add(fact(&grid, k0, 0)).unwrap();
    assert!(window.add(fact(&grid, k0 - 1, 0)).is_err());
    let mut changed = fact(&grid, k0, 0);
    changed.frames = 30;
    assert!(window.add(changed).is_err());
    let mut before_1970 =
        HlsWindow::new(HlsConfig::cmaf(grid, PlaylistType::Event, "v").unwrap()).unwrap();
    assert!(before_1970.add(fact(&grid, -1, 0)).is_err());
}

#[test]
fn multivariant_playlist() {
    let rate = FrameRate::new(30000, 1001).unwrap();
    let playlist = MultivariantPlaylist::new(
        6,
        true,
        vec![
            Variant {
                uri: "v0.m3u8".into(),
                bandwidth: 3_000_000,
                average_bandwidth: Some(2_500_000),
                codecs: "avc1.64001f,mp4a.40.2".into(),
                resolution: Some((1280, 720)),
                frame_rate: Some(rate),
                audio_group: None,
            },
            Variant {
                uri: "v1.m3u8".into(),
                bandwidth: 800_000,
                average_bandwidth: None,
                codecs: "avc1.4d401e".into(),
                resolution: None,
                frame_rate: None,
                audio_group: None,
            },
        ],
    )
    .unwrap();
    let text = playlist.render();
    assert!(text.contains("FRAME-RATE=29.970"), "{text}");
    let parsed = match m3u8_rs::parse_playlist_res(text.as_bytes()) {
        Ok(Playlist::MasterPlaylist(p)) => p,
        other => panic!("{other:?}"),
    };
    assert_eq!(parsed.version, Some(6));
    assert!(parsed.independent_segments);
    assert_eq!(parsed.variants.len(), 2);
    let first = &parsed.variants[0];
    assert_eq!(first.uri, "v0.m3u8");
    assert_eq!(first.bandwidth, 3_000_000);
    assert_eq!(first.average_bandwidth, Some(2_500_000));
    assert_eq!(first.codecs.as_deref(), Some("avc1.64001f,mp4a.40.2"));
    let resolution = first.resolution.unwrap();
    assert_eq!((resolution.width, resolution.height), (1280, 720));
    assert!((first.frame_rate.unwrap() - 29.97).abs() < 1e-9);
    assert_eq!(parsed.variants[1].resolution, None);

    let bad = |variant: Variant| MultivariantPlaylist::new(6, true, vec![variant]).is_err();
    let good = Variant {
        uri: "v.m3u8".into(),
        bandwidth: 1,
        average_bandwidth: None,
        codecs: "avc1.64001f".into(),
        resolution: None,
        frame_rate: None,
        audio_group: None,
    };
    assert!(bad(Variant {
        uri: "../v.m3u8".into(),
        ..good.clone()
    }));
    assert!(bad(Variant {
        bandwidth: 0,
        ..good.clone()
    }));
    assert!(bad(Variant {
        codecs: "avc1\"".into(),
        ..good.clone()
    }));
    assert!(MultivariantPlaylist::new(6, true, vec![]).is_err());
    assert!(MultivariantPlaylist::new(6, true, vec![good]).is_ok());
}

#[test]
fn multivariant_playlist_with_audio_renditions() {
    let variant = Variant {
        uri: "video.m3u8".into(),
        bandwidth: 2_128_000,
        average_bandwidth: None,
        codecs: "avc1.64001f,mp4a.40.2".into(),
        resolution: Some((1280, 720)),
        frame_rate: None,
        audio_group: Some("audio".into()),
    };
    let rendition = |name: &str, default: bool| AudioRendition {
        group_id: "audio".into(),
        name: name.into(),
        uri: format!("{name}.m3u8"),
        channels: Some(2),
        default,
    };
    let text = MultivariantPlaylist::new(6, true, vec![variant.clone()])
        .unwrap()
        .with_audio(vec![
            rendition("audio_0", true),
            rendition("audio_1", false),
        ])
        .unwrap()
        .render();
    let parsed = match m3u8_rs::parse_playlist_res(text.as_bytes()) {
        Ok(Playlist::MasterPlaylist(p)) => p,
        other => panic!("{other:?}\n{text}"),
    };
    assert_eq!(parsed.variants[0].audio.as_deref(), Some("audio"));
    assert_eq!(parsed.alternatives.len(), 2);
    let first = &parsed.alternatives[0];
    assert_eq!(first.media_type, m3u8_rs::AlternativeMediaType::Audio);
    assert_eq!(first.group_id, "audio");
    assert_eq!(first.name, "audio_0");
    assert_eq!(first.uri.as_deref(), Some("audio_0.m3u8"));
    assert_eq!(first.channels.as_deref(), Some("2"));
    assert!(first.default && first.autoselect);
    assert!(!parsed.alternatives[1].default);

    let playlist = || MultivariantPlaylist::new(6, true, vec![variant.clone()]).unwrap();
    assert!(
        playlist().with_audio(vec![]).is_err(),
        "group without rendition"
    );
    assert!(
        playlist()
            .with_audio(vec![rendition("a", true), rendition("a", false)])
            .is_err()
    );
    assert!(
        playlist()
            .with_audio(vec![rendition("a", true), rendition("b", true)])
            .is_err()
    );
    let mut escaping = rendition("a", true);
    escaping.uri = "../a.m3u8".into();
    assert!(playlist().with_audio(vec![escaping]).is_err());
    let mut quoted = rendition("a\"", true);
    quoted.uri = "a.m3u8".into();
    assert!(playlist().with_audio(vec![quoted]).is_err());
}
