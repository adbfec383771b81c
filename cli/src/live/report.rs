// SPDX-License-Identifier: MPL-2.0
//! What a run did, counted while it runs (the status line) and told at its end (the report).

use std::fmt::Write as _;

use serde::Serialize;

/// A switch of the output between the redundant branches.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SwitchRecord {
    pub frame: i64,
    pub timecode: String,
    pub from: String,
    pub to: String,
    pub reason: String,
}

/// An encoder replaced on air.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HandoverRecord {
    pub branch: String,
    /// The frame the two encoders agreed on (`handover-negotiated`).
    pub announced_frame: Option<i64>,
    /// The first frame of the new encoder (`handover-complete`).
    pub first_frame: i64,
    pub encoder: String,
}

/// Counters and records of a run.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Tally {
    pub seconds_on_air: f64,
    pub frames_in: u64,
    pub frames_out: u64,
    pub segments: u64,
    pub switches: Vec<SwitchRecord>,
    pub handovers: Vec<HandoverRecord>,
    pub handovers_failed: Vec<String>,
    /// Frames no branch delivered (the switch's gap reports) and segments published as gaps.
    pub gap_frames: u64,
    pub gap_segments: u64,
    pub repeats: u64,
    pub errors: Vec<String>,
}

impl Tally {
    /// Switches after the initial choice.
    pub fn switch_count(&self) -> usize {
        self.switches
            .iter()
            .filter(|s| s.reason != "initial")
            .count()
    }

    pub fn gaps(&self) -> u64 {
        self.gap_frames + self.gap_segments
    }

    /// The status line.
    pub fn status(&self) -> String {
        let seconds = self.seconds_on_air as u64;
        format!(
            "on air {:02}:{:02}:{:02} | segments {} | switches {} | handovers {} | gaps {} | repeats {}",
            seconds / 3600,
            seconds / 60 % 60,
            seconds % 60,
            self.segments,
            self.switch_count(),
            self.handovers.len(),
            self.gaps(),
            self.repeats
        )
    }

    /// The report at the end of a run; `verdict` is the validator's one-line verdict.
    pub fn report(&self, verdict: &str) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "lockstep live report");
        let _ = writeln!(
            out,
            "  on air     {:.1} s; frames in {}, frames out {}; segments {}",
            self.seconds_on_air, self.frames_in, self.frames_out, self.segments
        );
        let _ = writeln!(out, "  switches   {}", self.switch_count());
        for s in &self.switches {
            let _ = writeln!(
                out,
                "    frame {} ({}): {} -> {} ({})",
                s.frame, s.timecode, s.from, s.to, s.reason
            );
        }
        let _ = writeln!(out, "  handovers  {}", self.handovers.len());
        for h in &self.handovers {
            let announced = h
                .announced_frame
                .map_or("not announced".to_owned(), |f| format!("announced {f}"));
            let _ = writeln!(
                out,
                "    branch {} from frame {} ({announced}): {}",
                h.branch, h.first_frame, h.encoder
            );
        }
        for failed in &self.handovers_failed {
            let _ = writeln!(out, "    failed: {failed}");
        }
        let _ = writeln!(
            out,
            "  gaps       {} ({} frames no branch delivered, {} segments published as gaps)",
            self.gaps(),
            self.gap_frames,
            self.gap_segments
        );
        let _ = writeln!(out, "  repeats    {}", self.repeats);
        for error in &self.errors {
            let _ = writeln!(out, "  error      {error}");
        }
        let _ = writeln!(out, "  validator  {verdict}");
        out
    }
}
