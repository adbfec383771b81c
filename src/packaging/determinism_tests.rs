// SPDX-License-Identifier: MPL-2.0
//! The point of the packaging core: redundant packagers that see the same frames publish the
//! same bytes, whenever they started and across restarts.

use std::collections::BTreeMap;

use proptest::prelude::*;

use super::dash::{DashConfig, MpdKind, UtcTiming, VideoRepresentation};
use super::grid::Grid;
use super::hls::{HlsConfig, HlsWindow, PlaylistType, ResumePoint};
use super::{SegmentCutter, SegmentFact};
use crate::timecode::utc::parse_rfc3339;
use crate::timecode::{FrameClock, FrameRate};

/// The UTC instants of a timecoded source: frame i of the stream, with an optional forward
/// timecode jump of `jump_frames` at frame `jump_at` (both encoder branches see it).
struct Source {
    clock: FrameClock,
    jump_at: i64,
    jump_frames: i64,
}

impl Source {
    fn utc_ns(&self, i: i64) -> i64 {
        let shifted = if i >= self.jump_at {
            i + self.jump_frames
        } else {
            i
        };
        self.clock.utc_ns(shifted)
    }
}

/// What one packager published after each segment: k → (playlist, MPD with `$Number$`, MPD
/// with a SegmentTimeline, media sequence).
type Published = BTreeMap<i64, (String, String, String, u64)>;

struct Packager {
    cutter: SegmentCutter,
    hls: HlsWindow,
    dash: DashConfig,
    dash_timeline: DashConfig,
    facts: Vec<SegmentFact>,
    published: Published,
}

impl Packager {
    fn new(grid: Grid, window: u32, resume: Option<ResumePoint>) -> Packager {
        let hls_config = HlsConfig::cmaf(grid, PlaylistType::Live { window }, "v0").unwrap();
        let hls = match resume {
            Some(point) => HlsWindow::resume(hls_config, point).unwrap(),
            None => HlsWindow::new(hls_config).unwrap(),
        };
        let mut dash = DashConfig::cmaf(
            grid,
            UtcTiming::http_iso("https://time.example/iso"),
            vec![VideoRepresentation {
                id: "v0".into(),
                codecs: "avc1.64001f".into(),
                bandwidth: 3_000_000,
                width: 1280,
                height: 720,
            }],
        )
        .unwrap();
        dash.window = window;
        let mut dash_timeline = dash.clone();
        dash_timeline.segment_timeline = true;
        Packager {
            cutter: SegmentCutter::new(grid),
            hls,
            dash,
            dash_timeline,
            facts: Vec::new(),
            published: Published::new(),
        }
    }

    fn run(&mut self, source: &Source, frames: std::ops::Range<i64>) {
        for i in frames {
            for fact in self.cutter.push_frame(source.utc_ns(i)) {
                self.hls.add(fact).unwrap();
                self.facts.push(fact);
                let playlist = self.hls.playlist().unwrap();
                let mpd = self
                    .dash
                    .mpd(&self.facts, fact.k, MpdKind::Dynamic)
                    .unwrap();
                let timeline = self
                    .dash_timeline
                    .mpd(&self.facts, fact.k, MpdKind::Dynamic)
                    .unwrap();
                self.published.insert(
                    fact.k,
                    (
                        playlist.render(),
                        mpd.render(),
                        timeline.render(),
                        playlist.media_sequence(),
                    ),
                );
            }
        }
    }

    fn last_playlist(&self) -> &str {
        &self.published.values().next_back().unwrap().0
    }
}

/// Asserts that `a` and `b` published the same texts for every k from `from` on that both
/// published, and returns how many were compared.
fn assert_same_from(a: &Published, b: &Published, from: i64, what: &str) -> usize {
    let mut compared = 0;
    for (k, (playlist, mpd, timeline, _)) in b.range(from..) {
        let Some((playlist_a, mpd_a, timeline_a, _)) = a.get(k) else {
            continue;
        };
        assert_eq!(
            playlist_a, playlist,
            "{what}: HLS playlists differ at k = {k}"
        );
        assert_eq!(mpd_a, mpd, "{what}: MPDs differ at k = {k}");
        assert_eq!(
            timeline_a, timeline,
            "{what}: timeline MPDs differ at k = {k}"
        );
        compared += 1;
    }
    compared
}

fn assert_media_sequence_never_decreases(published: &[&Published]) {
    let mut previous = 0;
    for (playlist, _, _, sequence) in published.iter().flat_map(|p| p.values()) {
        assert!(
            *sequence >= previous,
            "media sequence decreased:\n{playlist}"
        );
        previous = *sequence;
    }
}

#[test]
fn late_start_and_restart_publish_identical_manifests() {
    // 29.97 drop-frame, label 19:46:16;07 in UTC on 2026-11-23; 60-frame (2.002 s) segments.
    let rate = FrameRate::new(30000, 1001).unwrap();
    let grid = Grid::new(rate, 60).unwrap();
    let window = 5;
    let source = Source {
        clock: FrameClock::new(parse_rfc3339("2026-11-23T19:46:16Z").unwrap(), 7, rate, 0),
        // A forward jump of 3.5 segments in the middle: both see it, both list the same gaps.
        jump_at: 1500,
        jump_frames: 210,
    };
    let end = 3000;

    let mut a = Packager::new(grid, window, None);
    a.run(&source, 0..end);
    // B starts two segments and 17 frames later.
    let mut b = Packager::new(grid, window, None);
    b.run(&source, 137..end);
    // C runs, stops at frame 900, and restarts at frame 1000 from the playlist it published.
    let mut c = Packager::new(grid, window, None);
    c.run(&source, 0..900);
    let point = ResumePoint::from_playlist(c.last_playlist()).unwrap();
    let mut c_again = Packager::new(grid, window, Some(point));
    c_again.run(&source, 1000..end);

    // B's first complete segment is the one after its start; once A's window starts there, the
    // texts are the same.
    let b_first = *b.published.keys().next().unwrap();
    assert_eq!(b_first, grid.segment_of(source.utc_ns(137)) + 1);
    let compared = assert_same_from(
        &a.published,
        &b.published,
        b_first + window as i64 - 1,
        "A/B",
    );
    assert!(compared > 30, "compared {compared}");
    // The $Number$ MPD does not even depend on the window's first segment: identical from B's
    // first segment on.
    for (k, (_, mpd, _, _)) in &b.published {
        assert_eq!(&a.published[k].1, mpd, "A/B $Number$ MPD at k = {k}");
    }

    let c_first = *c_again.published.keys().next().unwrap();
    let compared = assert_same_from(
        &a.published,
        &c_again.published,
        c_first + window as i64 - 1,
        "A/restarted C",
    );
    assert!(compared > 20, "compared {compared}");
    assert_same_from(&a.published, &c.published, 0, "A/C before the stop");
    assert_media_sequence_never_decreases(&[&c.published, &c_again.published]);
    assert_media_sequence_never_decreases(&[&a.published]);

    // The jump shows as gaps, identically, and no discontinuity.
    let around_jump = grid.segment_of(source.utc_ns(1500)) + 1;
    let (playlist, _, timeline, _) = &a.published[&around_jump];
    assert!(playlist.contains("#EXT-X-GAP"), "{playlist}");
    assert!(!playlist.contains("#EXT-X-DISCONTINUITY\n"));
    assert_eq!(&b.published[&around_jump].0, playlist);
    assert_eq!(&b.published[&around_jump].2, timeline);
    super::dash::tests::assert_schema_valid(timeline);
    super::dash::tests::assert_schema_valid(&a.published[&around_jump].1);
    crate::packaging::hls::tests::parse_media(playlist);
}

fn any_rate() -> impl Strategy<Value = FrameRate> {
    prop::sample::select(vec![
        (24000, 1001),
        (24, 1),
        (25, 1),
        (30000, 1001),
        (30, 1),
        (50, 1),
        (60000, 1001),
        (60, 1),
    ])
    .prop_map(|(num, den)| FrameRate::new(num, den).unwrap())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn packagers_agree_whenever_they_start(
        rate in any_rate(),
        d in 12u32..=120,
        second in 0i64..4_102_444_800,
        label_frame in 0u32..60,
        late_by in 0i64..400,
        phase in 0i64..3,
    ) {
        let grid = Grid::new(rate, d).unwrap().with_phase(phase);
        // DASH $Number$ (= k) is an xs:unsignedInt: keep k below 2^32 (short segments reach
        // it early: 0.2 s segments in 1997).
        let last_second = (u128::from(u32::MAX) * u128::from(d) * u128::from(rate.den())
            / u128::from(rate.num())) as i64
            - 1000;
        let second = second % last_second.min(4_102_444_800);
        // The shortest live window the protocol allows (3 target durations).
        let window = (1..100)
            .find(|&w| {
                HlsWindow::new(HlsConfig::cmaf(grid, PlaylistType::Live { window: w }, "v0").unwrap())
                    .is_ok()
            })
            .unwrap();
        let source = Source {
            clock: FrameClock::new(second * 1_000_000_000, label_frame % rate.nominal(), rate, 0),
            jump_at: i64::MAX,
            jump_frames: 0,
        };
        let end = i64::from(d) * (i64::from(window) + 5) + late_by;
        let mut a = Packager::new(grid, window, None);
        a.run(&source, 0..end);
        let mut b = Packager::new(grid, window, None);
        b.run(&source, late_by..end);
        let b_first = *b.published.keys().next().unwrap();
        let compared = assert_same_from(&a.published, &b.published, b_first + i64::from(window) - 1, "A/B");
        prop_assert!(compared >= 1);
        // Every segment: D frames, and its facts agree.
        let shared: Vec<&SegmentFact> = b.facts.iter().collect();
        for fact in shared {
            prop_assert_eq!(fact.frames, d);
            prop_assert!(a.facts.contains(fact));
        }
    }
}

#[test]
fn cutter_reports_on_the_last_frame_and_skips_partial_segments() {
    let rate = FrameRate::new(25, 1).unwrap();
    let grid = Grid::new(rate, 50).unwrap();
    let mut cutter = SegmentCutter::new(grid);
    let frame = |n: i64| rate.frames_to_ns(n);
    // Join at frame 30 of segment 100: segment 100 is skipped.
    let mut reported = Vec::new();
    for n in 5030..5149 {
        let facts = cutter.push_frame(frame(n));
        if !facts.is_empty() {
            reported.push((n, facts));
        }
    }
    assert_eq!(reported.len(), 1);
    assert_eq!(reported[0].0, 5099, "published on the segment's last frame");
    assert_eq!(reported[0].1[0].k, 101);
    assert_eq!(reported[0].1[0].frames, 50);
    // A backward frame is ignored; a forward jump closes the open segment short.
    assert!(cutter.push_frame(frame(5100)).is_empty());
    let closed = cutter.push_frame(frame(5300));
    assert_eq!(closed.len(), 1);
    assert_eq!((closed[0].k, closed[0].frames), (102, 49), "5100..=5148");
    let mut cutter = SegmentCutter::new(grid);
    cutter.push_frame(frame(5200));
    cutter.push_frame(frame(5210));
    let short = cutter.push_frame(frame(5400));
    assert_eq!(
        (short[0].k, short[0].frames),
        (104, 11),
        "span of the frames seen"
    );
    assert_eq!(
        cutter.finish().map(|f| (f.k, f.frames)),
        Some((108, 1)),
        "5400 opened segment 108, closed short at the end"
    );
    assert_eq!(cutter.finish(), None);
    let mut cutter = SegmentCutter::new(grid);
    cutter.push_frame(frame(0));
    assert_eq!(cutter.finish().map(|f| (f.k, f.frames)), Some((0, 1)));
}
