// SPDX-License-Identifier: MPL-2.0
//! Property tests: a switch storm over 2..=4 redundant branches in lockstep (random GOPs, random
//! skew within the window, random manual/scheduled switches, EOS, errors, skips and rejoins), after which
//! the output is every frame exactly once, in order, gaps reported, a keyframe after every switch,
//! and every payload accounted for exactly once.

use proptest::prelude::*;

use super::*;

const WINDOW: usize = 16;
const MAX_PADS: usize = 4;

#[derive(Debug, Clone)]
enum Op {
    /// The next frame of a pad (or, if it may not push, of the pad furthest behind).
    Push(usize),
    Request(usize),
    /// A scheduled switch this many frames after the output's position.
    Schedule(usize, FrameIndex),
    Eos(usize),
    Error(usize),
    /// An ended pad starts again, at the position of the branch furthest ahead.
    Restart(usize),
    /// A pad skips frames (its encoder lost them, or its timecode jumped).
    Jump(usize, FrameIndex),
    Tick(Nanos),
}

fn storm_op() -> impl Strategy<Value = Op> {
    prop_oneof![
        60 => (0..MAX_PADS).prop_map(Op::Push),
        6 => (0..MAX_PADS).prop_map(Op::Request),
        6 => (0..MAX_PADS, 0..40 as FrameIndex).prop_map(|(pad, ahead)| Op::Schedule(pad, ahead)),
        2 => (0..MAX_PADS).prop_map(Op::Eos),
        2 => (0..MAX_PADS).prop_map(Op::Error),
        3 => (0..MAX_PADS).prop_map(Op::Restart),
        2 => (0..MAX_PADS, 1..60 as FrameIndex).prop_map(|(pad, skip)| Op::Jump(pad, skip)),
        4 => (1..80 as Nanos).prop_map(Op::Tick),
    ]
}

fn lossless_op() -> impl Strategy<Value = Op> {
    prop_oneof![
        80 => (0..MAX_PADS).prop_map(Op::Push),
        8 => (0..MAX_PADS).prop_map(Op::Request),
        8 => (0..MAX_PADS, 0..40 as FrameIndex).prop_map(|(pad, ahead)| Op::Schedule(pad, ahead)),
        4 => (1..80 as Nanos).prop_map(Op::Tick),
    ]
}

/// A pad's GOP structure: keyframes at the running sums of `gaps` (each 1..=30), repeated.
#[derive(Debug, Clone)]
struct Gop {
    keyframes: Vec<bool>,
}

impl Gop {
    fn new(gaps: &[FrameIndex]) -> Self {
        let period: FrameIndex = gaps.iter().sum();
        let mut keyframes = vec![false; period as usize];
        let mut position = 0;
        for gap in gaps {
            position += gap;
            keyframes[(position - 1) as usize] = true;
        }
        Gop { keyframes }
    }

    fn is_key(&self, index: FrameIndex) -> bool {
        let period = self.keyframes.len() as FrameIndex;
        self.keyframes[index.rem_euclid(period) as usize]
    }
}

fn gops() -> impl Strategy<Value = Vec<Gop>> {
    prop::collection::vec(
        prop::collection::vec(1..=30 as FrameIndex, 1..12).prop_map(|gaps| Gop::new(&gaps)),
        MAX_PADS,
    )
}

#[derive(Debug)]
struct Branch {
    id: PadId,
    gop: Gop,
    /// The next index this branch produces.
    produced: FrameIndex,
    alive: bool,
}

/// Runs `ops`, checking the bounds after every call; returns the outputs, the number of payloads
/// pushed, the core and the branches.
fn run(
    config: SwitchConfig,
    pad_count: usize,
    gops: Vec<Gop>,
    skew: FrameIndex,
    ops: &[Op],
) -> (Vec<Output<u64>>, u64, SwitchCore<u64>, Vec<Branch>) {
    let mut core = SwitchCore::new(config);
    let mut branches: Vec<Branch> = gops
        .into_iter()
        .take(pad_count)
        .enumerate()
        .map(|(slot, gop)| Branch {
            id: core.add_pad(slot as u32),
            gop,
            produced: 0,
            alive: true,
        })
        .collect();
    let mut out = Vec::new();
    let mut now: Nanos = 0;
    let mut next_id = 0u64;
    for op in ops {
        now += 1;
        let alive = branches.iter().filter(|branch| branch.alive).count();
        let slowest = branches
            .iter()
            .filter(|branch| branch.alive)
            .map(|branch| branch.produced)
            .min();
        match *op {
            Op::Push(slot) => {
                let Some(slowest) = slowest else { continue };
                let slot = slot % branches.len();
                let chosen = if branches[slot].alive && branches[slot].produced <= slowest + skew {
                    slot
                } else {
                    match branches
                        .iter()
                        .position(|branch| branch.alive && branch.produced == slowest)
                    {
                        Some(position) => position,
                        None => continue,
                    }
                };
                let branch = &mut branches[chosen];
                let index = branch.produced;
                branch.produced += 1;
                core.push(
                    branch.id,
                    index,
                    branch.gop.is_key(index),
                    next_id,
                    now,
                    &mut out,
                );
                next_id += 1;
            }
            Op::Request(slot) => {
                let _ = core.request_switch(branches[slot % branches.len()].id);
            }
            Op::Schedule(slot, ahead) => {
                let base = core.next_index().unwrap_or(0);
                let _ = core.schedule_switch(branches[slot % branches.len()].id, base + ahead);
            }
            Op::Eos(slot) | Op::Error(slot) => {
                let slot = slot % branches.len();
                // Never the last branch alive: the output must be able to go on.
                if branches[slot].alive && alive > 1 {
                    branches[slot].alive = false;
                    if matches!(op, Op::Eos(_)) {
                        core.eos(branches[slot].id, &mut out);
                    } else {
                        core.error(branches[slot].id, &mut out);
                    }
                }
            }
            Op::Restart(slot) => {
                let slot = slot % branches.len();
                if !branches[slot].alive {
                    let furthest = branches
                        .iter()
                        .filter(|branch| branch.alive)
                        .map(|branch| branch.produced)
                        .max()
                        .unwrap_or(0);
                    let branch = &mut branches[slot];
                    branch.alive = true;
                    branch.produced = branch.produced.max(furthest);
                }
            }
            Op::Jump(slot, skip) => {
                let slot = slot % branches.len();
                branches[slot].produced += skip;
            }
            Op::Tick(dt) => {
                now += dt;
                core.tick(now, &mut out);
            }
        }
        for branch in &branches {
            let len = core.queue_len(branch.id).unwrap_or(usize::MAX);
            assert!(len <= WINDOW, "queue of {} holds {len} frames", branch.id);
        }
        assert_eq!(core.stats().repeats, 0);
    }
    (out, next_id, core, branches)
}

/// The output invariants: strictly consecutive emits unless a gap reports the hole, frames only
/// from the active pad, a keyframe right after every switch (encoded mode), a switch or gap
/// followed at once by its frame, stats that agree, and every payload emitted, dropped or still
/// queued exactly once.
fn check_output(
    config: &SwitchConfig,
    outputs: &[Output<u64>],
    pushed: u64,
    core: &SwitchCore<u64>,
    branches: &[Branch],
) -> Result<(), TestCaseError> {
    let mut expected: Option<FrameIndex> = None;
    let mut active: Option<PadId> = None;
    let mut switch_pending: Option<(PadId, FrameIndex)> = None;
    // After a gap: its end, which a switch or the emit must follow at once.
    let mut gap_end: Option<FrameIndex> = None;
    let mut emits = 0u64;
    let mut gap_frames = 0u64;
    let mut seen = vec![0u8; pushed as usize];
    for output in outputs {
        match *output {
            Output::Emit {
                pad,
                index,
                payload,
                discont,
                keyframe,
            } => {
                if let Some(next) = expected {
                    prop_assert_eq!(index, next, "emits consecutive unless a gap reports it");
                }
                expected = Some(index + 1);
                gap_end = None;
                prop_assert_eq!(Some(pad), active, "frames come from the active pad");
                if let Some((to, at)) = switch_pending.take() {
                    prop_assert_eq!((pad, index), (to, at));
                    prop_assert!(discont);
                    if config.encoded {
                        prop_assert!(keyframe, "a non-keyframe right after a switch at {}", at);
                    }
                }
                seen[payload as usize] += 1;
                emits += 1;
            }
            Output::Drop { payload, .. } => seen[payload as usize] += 1,
            Output::Switched { from, to, at, .. } => {
                prop_assert!(switch_pending.is_none(), "two switches before a frame");
                prop_assert!(gap_end.is_none_or(|end| end == at));
                gap_end = None;
                prop_assert_eq!(from, active);
                if let Some(next) = expected {
                    prop_assert_eq!(at, next);
                }
                active = Some(to);
                switch_pending = Some((to, at));
            }
            Output::Gap { from, to } => {
                prop_assert!(
                    switch_pending.is_none(),
                    "a gap between a switch and its frame"
                );
                prop_assert_eq!(Some(from), expected, "a gap starts at the next index");
                prop_assert!(to > from);
                prop_assert!(gap_end.is_none(), "two gaps before a frame");
                gap_frames += (to - from) as u64;
                expected = Some(to);
                gap_end = Some(to);
            }
            Output::SwitchFailed { .. } => {
                prop_assert!(switch_pending.is_none() && gap_end.is_none());
            }
        }
    }
    for branch in branches {
        let mut previous = None;
        for (index, _, &payload) in core.queued(branch.id) {
            prop_assert!(previous.is_none_or(|previous| index > previous));
            prop_assert!(expected.is_none_or(|next| index >= next));
            previous = Some(index);
            seen[payload as usize] += 1;
        }
    }
    prop_assert!(
        seen.iter().all(|&count| count == 1),
        "payloads seen other than once: {:?}",
        seen.iter()
            .enumerate()
            .filter(|(_, count)| **count != 1)
            .collect::<Vec<_>>()
    );
    let stats = core.stats();
    prop_assert_eq!(stats.frames_out, emits);
    prop_assert_eq!(stats.gap_frames, gap_frames);
    prop_assert_eq!(stats.repeats, 0);
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    #[test]
    fn switch_storm(
        pad_count in 2..=MAX_PADS,
        gops in gops(),
        skew in 0..(WINDOW as FrameIndex - 2),
        encoded in prop::bool::weighted(0.8),
        auto_switch_back in any::<bool>(),
        ops in prop::collection::vec(storm_op(), 1_000),
    ) {
        let config = SwitchConfig {
            encoded,
            max_window: WINDOW,
            timeout_ns: 40,
            auto_switch_back,
            switch_back_delay_ns: 30,
        };
        let (outputs, pushed, core, branches) = run(config, pad_count, gops, skew, &ops);
        check_output(&config, &outputs, pushed, &core, &branches)?;
    }

    /// Without EOS, errors or stalls, switching never loses a frame: no gap, and the output keeps
    /// up with the slowest branch.
    #[test]
    fn lossless_storm(
        pad_count in 2..=MAX_PADS,
        gops in gops(),
        skew in 0..(WINDOW as FrameIndex - 4),
        encoded in prop::bool::weighted(0.8),
        ops in prop::collection::vec(lossless_op(), 1_000),
    ) {
        let config = SwitchConfig {
            encoded,
            max_window: WINDOW,
            timeout_ns: Nanos::MAX,
            auto_switch_back: false,
            switch_back_delay_ns: 0,
        };
        let (outputs, pushed, core, branches) = run(config, pad_count, gops, skew, &ops);
        check_output(&config, &outputs, pushed, &core, &branches)?;
        prop_assert_eq!(core.stats().gaps, 0);
        let slowest = branches.iter().map(|branch| branch.produced).min().unwrap_or(0);
        if slowest > 31 {
            prop_assert!(core.next_index().is_some_and(|next| next >= slowest));
        }
    }
}
