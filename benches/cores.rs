// SPDX-License-Identifier: MPL-2.0
//! Benchmark of the pure cores the next elements are built on (a benchmark, not a test).
//!
//! - Switching core (`synchronizedswitch`, `handoverbin`): 1,000,000 frames through
//!   `SwitchCore` with 2 and 8 branches in lockstep (a keyframe every 60 frames, a manual
//!   switch every 1,000 frames): ns per output frame, and resident memory after 100,000 and
//!   after 1,000,000 frames (it must stay flat).
//! - Packaging core (`hlsdashsink`): per segment, render the HLS media playlist and the DASH
//!   MPD and write both atomically (temp file, fsync, rename) into a temporary directory:
//!   p50 and p99 over 2,000 segments (the goal for the whole manifest update is
//!   p99 < 5 ms).
//!
//! Run: `cargo bench --bench cores`.

#[path = "support/mod.rs"]
mod support;

use std::time::Instant;

use gstlockstep::packaging::SegmentFact;
use gstlockstep::packaging::dash::{DashConfig, MpdKind, UtcTiming, VideoRepresentation};
use gstlockstep::packaging::grid::Grid;
use gstlockstep::packaging::hls::{HlsConfig, HlsWindow, PlaylistType};
use gstlockstep::packaging::output::write_atomically;
use gstlockstep::switching::{Output, SwitchConfig, SwitchCore};
use gstlockstep::timecode::FrameRate;
use support::rss_kb;

fn switching(branches: usize, frames: i64) -> String {
    let mut core: SwitchCore<u64> = SwitchCore::new(SwitchConfig::default());
    let pads: Vec<_> = (0..branches).map(|i| core.add_pad(i as u32)).collect();
    let mut out = Vec::with_capacity(64);
    let (mut emitted, mut rss_100k) = (0u64, 0);
    let start = Instant::now();
    for index in 0..frames {
        let now_ns = index as u64 * 33_366_667;
        for (i, &pad) in pads.iter().enumerate() {
            core.push(
                pad,
                index,
                index % 60 == 0,
                index as u64 * 16 + i as u64,
                now_ns,
                &mut out,
            );
        }
        if index % 1_000 == 999 {
            let _ = core.request_switch(pads[(index as usize / 1_000) % branches]);
        }
        emitted += out
            .iter()
            .filter(|o| matches!(o, Output::Emit { .. }))
            .count() as u64;
        out.clear();
        if index == 100_000 {
            rss_100k = rss_kb();
        }
    }
    let elapsed = start.elapsed();
    let stats = core.stats();
    format!(
        "| {branches} | {frames} | {emitted} | {:.0} ns | {:.0} ns | {} | {} kB | {} kB |",
        elapsed.as_nanos() as f64 / emitted as f64,
        elapsed.as_nanos() as f64 / (emitted as f64 * branches as f64),
        stats.switches.total(),
        rss_100k,
        rss_kb(),
    )
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn packaging(segments: i64) -> Result<String, String> {
    let rate = FrameRate::new(30000, 1001).ok_or("rate")?;
    let grid = Grid::new(rate, 60).map_err(|e| e.to_string())?;
    let mut hls = HlsWindow::new(
        HlsConfig::cmaf(grid, PlaylistType::Live { window: 6 }, "video")
            .map_err(|e| e.to_string())?,
    )
    .map_err(|e| e.to_string())?;
    let dash = DashConfig::cmaf(
        grid,
        UtcTiming::http_iso("https://time.example/iso"),
        vec![VideoRepresentation {
            id: "video".into(),
            codecs: "avc1.64001f".into(),
            bandwidth: 4_000_000,
            width: 1280,
            height: 720,
        }],
    )
    .map_err(|e| e.to_string())?;
    let dir = std::env::temp_dir().join(format!("lockstep-bench-cores-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let first_k = grid.segment_of(1_795_000_000_000_000_000);
    let mut facts = Vec::new();
    let mut times_ms = Vec::with_capacity(segments as usize);
    for k in first_k..first_k + segments {
        let fact = SegmentFact {
            k,
            first_frame_utc_ns: grid.segment_start_ns(k),
            frames: 60,
            discontinuity: false,
        };
        let start = Instant::now();
        hls.add(fact).map_err(|e| e.to_string())?;
        facts.push(fact);
        if facts.len() > 6 {
            facts.remove(0);
        }
        let playlist = hls.playlist().map_err(|e| e.to_string())?.render();
        let mpd = dash
            .mpd(&facts, k, MpdKind::Dynamic)
            .map_err(|e| e.to_string())?
            .render();
        write_atomically(&dir, "video.m3u8", playlist.as_bytes()).map_err(|e| e.to_string())?;
        write_atomically(&dir, "manifest.mpd", mpd.as_bytes()).map_err(|e| e.to_string())?;
        times_ms.push(start.elapsed().as_secs_f64() * 1e3);
    }
    let _ = std::fs::remove_dir_all(&dir);
    times_ms.sort_by(f64::total_cmp);
    Ok(format!(
        "| {segments} | {:.3} ms | {:.3} ms | {:.3} ms |",
        percentile(&times_ms, 0.5),
        percentile(&times_ms, 0.99),
        times_ms.last().copied().unwrap_or_default(),
    ))
}

fn main() -> Result<(), String> {
    if !support::run_by_cargo_bench() {
        return Ok(());
    }
    let mut report = String::from(
        "switching core, branches in lockstep, u64 payloads (in the element: buffer refs, moved)\n\
         | branches | frames | emitted | per output frame | per input frame | switches | RSS at 100k | RSS at 1M |\n\
         |---|---|---|---|---|---|---|---|\n",
    );
    for branches in [2, 8] {
        report.push_str(&switching(branches, 1_000_000));
        report.push('\n');
    }
    report.push_str(
        "\npackaging core: HLS playlist + DASH MPD rendered and written atomically per segment (fsync)\n\
         | segments | p50 | p99 | max |\n|---|---|---|---|\n",
    );
    report.push_str(&packaging(2_000)?);
    report.push('\n');
    print!("{report}");
    let _ = std::fs::write(
        concat!(env!("CARGO_MANIFEST_DIR"), "/target/bench-cores.txt"),
        &report,
    );
    Ok(())
}
