// SPDX-License-Identifier: MPL-2.0
//! Unit tests of the switching core: one scenario per rule of the switching core.

use super::*;

/// Outputs without the drops, in a shape that is easy to compare.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Ev {
    Emit(PadId, FrameIndex, bool),
    Switched(Option<PadId>, PadId, FrameIndex, SwitchReason),
    Gap(FrameIndex, FrameIndex),
    Failed(PadId, FrameIndex, SwitchFailure),
}

struct Harness {
    core: SwitchCore<u64>,
    out: Vec<Output<u64>>,
    now: Nanos,
    next_id: u64,
    /// Every output ever, drops included (for conservation checks).
    all: Vec<Output<u64>>,
}

const TIMEOUT: Nanos = 100;
const WINDOW: usize = 8;

fn config(encoded: bool) -> SwitchConfig {
    SwitchConfig {
        encoded,
        max_window: WINDOW,
        timeout_ns: TIMEOUT,
        auto_switch_back: false,
        switch_back_delay_ns: 50,
    }
}

impl Harness {
    fn new(config: SwitchConfig) -> Self {
        Harness {
            core: SwitchCore::new(config),
            out: Vec::new(),
            now: 0,
            next_id: 0,
            all: Vec::new(),
        }
    }

    fn push(&mut self, pad: PadId, index: FrameIndex, keyframe: bool) {
        let id = self.next_id;
        self.next_id += 1;
        self.core
            .push(pad, index, keyframe, id, self.now, &mut self.out);
        self.check();
    }

    /// Pushes `indices` on each pad in turn, frame by frame; `key(pad, index)` says keyframes.
    fn lockstep(
        &mut self,
        pads: &[PadId],
        indices: std::ops::Range<FrameIndex>,
        key: impl Fn(PadId, FrameIndex) -> bool,
    ) {
        for index in indices {
            for &pad in pads {
                self.push(pad, index, key(pad, index));
            }
        }
    }

    fn tick(&mut self, now: Nanos) {
        self.now = now;
        self.core.tick(now, &mut self.out);
        self.check();
    }

    fn eos(&mut self, pad: PadId) {
        assert!(self.core.eos(pad, &mut self.out));
        self.check();
    }

    fn error(&mut self, pad: PadId) {
        assert!(self.core.error(pad, &mut self.out));
        self.check();
    }

    fn check(&self) {
        for pad in self.core.pads() {
            assert!(self.core.queue_len(pad).unwrap() <= self.core.config().max_window);
        }
        assert_eq!(self.core.stats().repeats, 0);
    }

    /// The outputs since the last call, drops left out.
    fn take(&mut self) -> Vec<Ev> {
        let events = self
            .out
            .iter()
            .filter_map(|output| match *output {
                Output::Emit {
                    pad,
                    index,
                    discont,
                    ..
                } => Some(Ev::Emit(pad, index, discont)),
                Output::Switched {
                    from,
                    to,
                    at,
                    reason,
                } => Some(Ev::Switched(from, to, at, reason)),
                Output::Gap { from, to } => Some(Ev::Gap(from, to)),
                Output::SwitchFailed { pad, at, reason } => Some(Ev::Failed(pad, at, reason)),
                Output::Drop { .. } => None,
            })
            .collect();
        self.all.append(&mut self.out);
        events
    }
}

fn emitted(events: &[Ev]) -> Vec<(PadId, FrameIndex)> {
    events
        .iter()
        .filter_map(|event| match *event {
            Ev::Emit(pad, index, _) => Some((pad, index)),
            _ => None,
        })
        .collect()
}

fn emits(pad: PadId, indices: std::ops::RangeInclusive<FrameIndex>) -> Vec<(PadId, FrameIndex)> {
    indices.map(|index| (pad, index)).collect()
}

fn every(n: FrameIndex) -> impl Fn(PadId, FrameIndex) -> bool {
    move |_, index| index % n == 0
}

/// A (priority 0) and B (priority 1) in lockstep, A active, frames 0..6 output.
fn two_pads_running(encoded: bool, b_key: impl Fn(FrameIndex) -> bool) -> (Harness, PadId, PadId) {
    let mut h = Harness::new(config(encoded));
    let a = h.core.add_pad(0);
    let b = h.core.add_pad(1);
    h.lockstep(&[a, b], 0..6, |pad, index| {
        if pad == a { index == 0 } else { b_key(index) }
    });
    let events = h.take();
    assert_eq!(events[0], Ev::Switched(None, a, 0, SwitchReason::Initial));
    assert_eq!(emitted(&events), emits(a, 0..=5));
    (h, a, b)
}

#[test]
fn initial_choice_waits_for_the_preferred_pad() {
    let mut h = Harness::new(config(true));
    let backup = h.core.add_pad(1);
    let main = h.core.add_pad(0);
    h.push(backup, 0, true);
    assert_eq!(h.take(), vec![], "the preferred pad is still expected");
    h.push(main, 0, true);
    assert_eq!(
        h.take(),
        vec![
            Ev::Switched(None, main, 0, SwitchReason::Initial),
            Ev::Emit(main, 0, true),
        ]
    );
    h.lockstep(&[backup, main], 1..3, every(10));
    assert_eq!(emitted(&h.take()), emits(main, 1..=2));
    assert_eq!(h.core.active_pad(), Some(main));
    assert_eq!(h.core.next_index(), Some(3));
    assert_eq!(h.core.queue_len(backup), Some(0));
}

#[test]
fn initial_choice_gives_up_on_a_silent_preferred_pad_after_timeout() {
    let mut h = Harness::new(config(true));
    let _silent_main = h.core.add_pad(0);
    let backup = h.core.add_pad(1);
    for index in 0..4 {
        h.now = index as Nanos;
        h.push(backup, index, index == 0);
    }
    h.tick(50);
    assert_eq!(h.take(), vec![]);
    h.tick(TIMEOUT);
    let events = h.take();
    assert_eq!(
        events[0],
        Ev::Switched(None, backup, 0, SwitchReason::Initial)
    );
    assert_eq!(emitted(&events), emits(backup, 0..=3));
}

#[test]
fn initial_choice_starts_at_the_first_keyframe() {
    let mut h = Harness::new(config(true));
    let a = h.core.add_pad(0);
    h.push(a, 0, false);
    h.push(a, 1, false);
    assert_eq!(h.take(), vec![]);
    h.push(a, 2, true);
    h.push(a, 3, false);
    assert_eq!(
        h.take(),
        vec![
            Ev::Switched(None, a, 2, SwitchReason::Initial),
            Ev::Emit(a, 2, true),
            Ev::Emit(a, 3, false),
        ]
    );
    assert_eq!(h.core.stats().frames_dropped_inactive, 2);
}

#[test]
fn manual_switch_happens_at_the_next_keyframe_of_the_target() {
    let (mut h, a, b) = two_pads_running(true, |index| index % 10 == 0);
    assert_eq!(h.core.request_switch(b), Ok(()));
    // A pushes first every time: the output holds A's frame until B's arrives, then goes on.
    h.lockstep(&[a, b], 6..14, |pad, index| pad == a || index % 10 == 0);
    let events = h.take();
    let mut expected = emits(a, 6..=9);
    expected.extend(emits(b, 10..=13));
    assert_eq!(emitted(&events), expected);
    assert!(events.contains(&Ev::Switched(Some(a), b, 10, SwitchReason::Manual)));
    assert!(events.contains(&Ev::Emit(b, 10, true)));
    assert_eq!(h.core.active_pad(), Some(b));
    assert_eq!(h.core.pending_switch(), None);
    assert_eq!(h.core.stats().switches.manual, 1);
}

#[test]
fn manual_switch_to_a_pad_ahead_of_the_output() {
    let (mut h, a, b) = two_pads_running(true, |index| index % 10 == 0);
    // B runs 4 frames ahead; its keyframe 10 is in the window before A gets there.
    for index in 6..10 {
        h.push(b, index, false);
    }
    h.core.request_switch(b).unwrap();
    for index in 6..12 {
        h.push(b, index + 4, (index + 4) % 10 == 0);
        h.push(a, index, true);
    }
    let events = h.take();
    let mut expected = emits(a, 6..=9);
    expected.extend(emits(b, 10..=15));
    assert_eq!(emitted(&events), expected);
    assert!(events.contains(&Ev::Switched(Some(a), b, 10, SwitchReason::Manual)));
}

#[test]
fn manual_switch_rejections() {
    let (mut h, a, b) = two_pads_running(true, |_| true);
    assert_eq!(h.core.request_switch(PadId(99)), Err(Reject::UnknownPad));
    h.eos(b);
    assert_eq!(h.core.request_switch(b), Err(Reject::Unhealthy));
    // Requesting the active pad is a no-op.
    assert_eq!(h.core.request_switch(a), Ok(()));
    assert_eq!(h.core.pending_switch(), None);
}

#[test]
fn scheduled_switch_happens_exactly_at_the_frame() {
    let (mut h, a, b) = two_pads_running(true, |index| index % 4 == 0);
    // Frame 12 of B is not there yet: accepted. B's keyframes at 8 are not taken.
    assert_eq!(h.core.schedule_switch(b, 12), Ok(()));
    h.lockstep(&[a, b], 6..16, |pad, index| pad == a || index % 4 == 0);
    let events = h.take();
    let mut expected = emits(a, 6..=11);
    expected.extend(emits(b, 12..=15));
    assert_eq!(emitted(&events), expected);
    assert!(events.contains(&Ev::Switched(Some(a), b, 12, SwitchReason::Scheduled)));
    assert_eq!(h.core.stats().switches.scheduled, 1);
}

#[test]
fn scheduled_switch_rejected_in_the_past_or_unknown() {
    let (mut h, _a, b) = two_pads_running(true, |_| true);
    assert_eq!(
        h.core.schedule_switch(b, 3),
        Err(Reject::Past { next_index: 6 })
    );
    assert_eq!(
        h.core.schedule_switch(PadId(42), 10),
        Err(Reject::UnknownPad)
    );
    h.error(b);
    assert_eq!(h.core.schedule_switch(b, 10), Err(Reject::Unhealthy));
}

#[test]
fn scheduled_switch_rejected_when_the_queued_frame_is_not_a_keyframe() {
    let (mut h, _a, b) = two_pads_running(true, |index| index % 4 == 0);
    h.push(b, 6, false);
    h.push(b, 7, false);
    h.push(b, 8, true);
    assert_eq!(h.core.schedule_switch(b, 7), Err(Reject::NotKeyframe));
    assert_eq!(h.core.schedule_switch(b, 8), Ok(()));
}

#[test]
fn scheduled_switch_fails_when_the_frame_arrives_as_a_non_keyframe() {
    let (mut h, a, b) = two_pads_running(true, |index| index % 4 == 0);
    assert_eq!(h.core.schedule_switch(b, 10), Ok(()));
    h.lockstep(&[a, b], 6..13, |pad, index| pad == a || index % 4 == 0);
    let events = h.take();
    assert_eq!(emitted(&events), emits(a, 6..=12));
    assert!(events.contains(&Ev::Failed(b, 10, SwitchFailure::NotKeyframe)));
    assert_eq!(h.core.active_pad(), Some(a));
    assert_eq!(h.core.stats().switch_failures, 1);
}

#[test]
fn scheduled_switch_fails_when_the_pad_skipped_the_frame() {
    let (mut h, a, b) = two_pads_running(true, |_| true);
    h.core.schedule_switch(b, 8).unwrap();
    h.push(b, 6, true);
    h.push(b, 7, true);
    h.push(b, 9, true); // 8 lost on B
    assert_eq!(h.core.schedule_switch(b, 8), Err(Reject::NotDelivered));
    h.lockstep(&[a], 6..10, |_, _| false);
    let events = h.take();
    assert_eq!(emitted(&events), emits(a, 6..=9));
    assert!(events.contains(&Ev::Failed(b, 8, SwitchFailure::NotDelivered)));
}

#[test]
fn failover_on_stall_via_tick() {
    let mut h = Harness::new(config(true));
    let a = h.core.add_pad(0);
    let b = h.core.add_pad(1);
    for index in 0..10 {
        h.now = index as Nanos;
        if index < 6 {
            h.push(a, index, index == 0);
        }
        h.push(b, index, index % 3 == 0);
    }
    assert_eq!(emitted(&h.take()), emits(a, 0..=5));
    h.tick(60);
    assert_eq!(h.take(), vec![], "not yet timed out");
    assert_eq!(h.core.is_healthy(a), Some(true));
    // A's last frame at 5, B's oldest waiting frame (6) at 6: both timeouts are over at 106.
    assert_eq!(h.core.next_deadline_ns(), Some(105));
    h.tick(105);
    assert_eq!(h.take(), vec![]);
    assert_eq!(h.core.next_deadline_ns(), Some(106));
    // B's frame 6 arrived at 6: the output has waited `timeout` at 106.
    h.tick(106);
    let events = h.take();
    assert_eq!(
        events[0],
        Ev::Switched(Some(a), b, 6, SwitchReason::Timeout)
    );
    assert_eq!(emitted(&events), emits(b, 6..=9));
    assert_eq!(h.core.is_healthy(a), Some(false));
    assert_eq!(h.core.stats().gap_frames, 0);
}

#[test]
fn no_failover_when_every_branch_pauses() {
    let (mut h, a, b) = two_pads_running(true, |_| true);
    h.tick(10_000);
    assert_eq!(h.take(), vec![]);
    // B resumes a little before A: that is not a stall of A.
    h.now = 10_001;
    h.push(b, 6, true);
    h.tick(10_050);
    assert_eq!(h.take(), vec![]);
    h.now = 10_060;
    h.push(a, 6, false);
    assert_eq!(h.take(), vec![Ev::Emit(a, 6, false)]);
}

#[test]
fn failover_on_eos_is_lossless_when_the_backup_holds_the_frame() {
    let (mut h, a, b) = two_pads_running(true, |_| true);
    h.push(b, 6, true);
    h.push(b, 7, false);
    h.eos(a);
    assert_eq!(
        h.take(),
        vec![
            Ev::Switched(Some(a), b, 6, SwitchReason::Eos),
            Ev::Emit(b, 6, true),
            Ev::Emit(b, 7, false),
        ]
    );
    assert_eq!(h.core.stats().switches.eos, 1);
}

#[test]
fn failover_on_error() {
    let (mut h, a, b) = two_pads_running(true, |_| true);
    h.push(b, 6, true);
    h.error(a);
    assert_eq!(
        h.take(),
        vec![
            Ev::Switched(Some(a), b, 6, SwitchReason::Error),
            Ev::Emit(b, 6, true),
        ]
    );
    assert_eq!(h.core.is_healthy(a), Some(false));
}

#[test]
fn failover_on_a_timecode_jump() {
    let (mut h, a, b) = two_pads_running(true, |_| true);
    h.push(b, 6, true);
    h.push(a, 6_000, true);
    assert_eq!(
        h.take(),
        vec![
            Ev::Switched(Some(a), b, 6, SwitchReason::Discontinuity),
            Ev::Emit(b, 6, true),
        ]
    );
    assert_eq!(h.core.is_healthy(a), Some(false));
    h.push(b, 7, false);
    assert_eq!(h.take(), vec![Ev::Emit(b, 7, false)]);
}

#[test]
fn failover_waits_for_a_lagging_backup_and_loses_nothing() {
    let mut h = Harness::new(config(true));
    let a = h.core.add_pad(0);
    let b = h.core.add_pad(1);
    // B lags two frames behind A; its keyframe at 6.
    h.lockstep(&[a], 0..2, every(100));
    for index in 2..6 {
        h.push(a, index, false);
        h.push(b, index - 2, false);
    }
    h.eos(a);
    h.push(b, 4, false);
    h.push(b, 5, false);
    assert_eq!(emitted(&h.take()), emits(a, 0..=5));
    h.push(b, 6, true);
    h.push(b, 7, false);
    let events = h.take();
    assert_eq!(events[0], Ev::Switched(Some(a), b, 6, SwitchReason::Eos));
    assert_eq!(emitted(&events), emits(b, 6..=7));
    assert_eq!(h.core.stats().gaps, 0);
}

#[test]
fn lossless_failover_raw_lockstep_with_skew() {
    let mut h = Harness::new(config(false));
    let a = h.core.add_pad(0);
    let b = h.core.add_pad(1);
    h.push(a, 0, false);
    // B runs 3 frames ahead of A.
    for index in 0..20 {
        h.push(b, index, false);
        if index >= 3 {
            h.push(a, index - 2, false);
        }
    }
    h.eos(a);
    h.push(b, 20, false);
    let events = h.take();
    let indices: Vec<FrameIndex> = emitted(&events).iter().map(|&(_, i)| i).collect();
    assert_eq!(indices, (0..=20).collect::<Vec<_>>());
    assert!(events.contains(&Ev::Switched(Some(a), b, 18, SwitchReason::Eos)));
    assert_eq!(h.core.stats().gap_frames, 0);
}

#[test]
fn gap_reported_when_no_branch_has_a_keyframe() {
    let (mut h, a, b) = two_pads_running(true, |index| index % 10 == 0);
    for index in 6..10 {
        h.push(b, index, false);
    }
    h.eos(a);
    assert_eq!(
        h.take(),
        vec![],
        "nothing can go out before B's next keyframe"
    );
    h.push(b, 10, true);
    assert_eq!(
        h.take(),
        vec![
            Ev::Gap(6, 10),
            Ev::Switched(Some(a), b, 10, SwitchReason::Eos),
            Ev::Emit(b, 10, true),
        ]
    );
    let stats = h.core.stats();
    assert_eq!((stats.gaps, stats.gap_frames, stats.repeats), (1, 4, 0));
}

#[test]
fn failover_takes_the_earliest_entry_and_waits_for_a_branch_that_may_offer_one() {
    let mut h = Harness::new(config(true));
    let a = h.core.add_pad(0);
    let b = h.core.add_pad(1);
    let c = h.core.add_pad(2);
    h.lockstep(&[a, b, c], 0..6, every(100));
    // B: keyframe at 10, and ahead. C lags; its keyframe at 8.
    for index in 6..11 {
        h.push(b, index, index == 10);
    }
    h.eos(a);
    assert_eq!(emitted(&h.take()), emits(a, 0..=5));
    h.push(c, 6, false);
    h.push(c, 7, false);
    assert_eq!(h.take(), vec![], "C may still offer an earlier keyframe");
    h.push(c, 8, true);
    let events = h.take();
    assert_eq!(
        events[..3],
        [
            Ev::Gap(6, 8),
            Ev::Switched(Some(a), c, 8, SwitchReason::Eos),
            Ev::Emit(c, 8, true),
        ]
    );
}

#[test]
fn failover_wait_for_a_silent_branch_ends_after_timeout() {
    let mut h = Harness::new(config(true));
    let a = h.core.add_pad(0);
    let b = h.core.add_pad(1);
    let c = h.core.add_pad(2);
    h.lockstep(&[a, b, c], 0..6, every(100));
    h.now = 10;
    for index in 6..11 {
        h.push(b, index, index == 10);
    }
    h.eos(a);
    h.tick(60);
    assert_eq!(emitted(&h.take()), emits(a, 0..=5));
    h.tick(110);
    let events = h.take();
    assert_eq!(events[0], Ev::Gap(6, 10));
    assert_eq!(events[1], Ev::Switched(Some(a), b, 10, SwitchReason::Eos));
}

#[test]
fn active_pad_that_loses_frames_continues_after_a_gap() {
    let (mut h, a, _b) = two_pads_running(true, |index| index % 10 == 0);
    // B is behind and has nothing better than A's own frame 8.
    h.push(_b, 6, false);
    h.push(_b, 7, false);
    h.push(_b, 8, false);
    h.push(a, 8, false); // A lost 6 and 7.
    assert_eq!(
        h.take(),
        vec![Ev::Gap(6, 8), Ev::Emit(a, 8, true)],
        "no switch, a reported gap"
    );
    assert_eq!(h.core.active_pad(), Some(a));
}

#[test]
fn late_joiner_becomes_eligible_once_it_meets_the_output() {
    let mut h = Harness::new(config(true));
    let a = h.core.add_pad(0);
    h.lockstep(&[a], 0..20, every(100));
    let late = h.core.add_pad(1);
    assert_eq!(
        h.core.is_healthy(late),
        Some(false),
        "nothing delivered yet"
    );
    h.push(late, 2, true); // far behind the output: out of step, dropped
    assert_eq!(h.core.is_healthy(late), Some(false));
    assert_eq!(h.core.request_switch(late), Err(Reject::Unhealthy));
    h.push(late, 18, true); // behind, but in step
    assert_eq!(h.core.is_healthy(late), Some(true));
    assert_eq!(h.core.queue_len(late), Some(0));
    h.core.request_switch(late).unwrap();
    for index in 19..26 {
        h.push(late, index, index == 24);
        h.push(a, index, false);
    }
    let events = h.take();
    assert!(events.contains(&Ev::Switched(Some(a), late, 24, SwitchReason::Manual)));
    let indices: Vec<FrameIndex> = emitted(&events).iter().map(|&(_, i)| i).collect();
    assert_eq!(indices, (0..=25).collect::<Vec<_>>());
}

fn switch_back_config() -> SwitchConfig {
    SwitchConfig {
        auto_switch_back: true,
        switch_back_delay_ns: 50,
        ..config(true)
    }
}

#[test]
fn auto_switch_back_after_the_delay_at_a_keyframe() {
    let mut h = Harness::new(switch_back_config());
    let main = h.core.add_pad(0);
    let backup = h.core.add_pad(1);
    h.lockstep(&[main, backup], 0..6, every(5));
    h.push(backup, 6, false);
    h.eos(main);
    h.push(backup, 7, false);
    h.push(backup, 8, false);
    // The failover found no keyframe at 6 on B: 6..10 lost (no other pad), B from 10.
    h.push(backup, 9, false);
    h.push(backup, 10, true);
    let events = h.take();
    assert!(events.contains(&Ev::Switched(Some(main), backup, 10, SwitchReason::Eos)));
    // Main restarts at time 20; keyframes every 5. Time advances 1 per frame.
    for index in 11..100 {
        h.now = 20 + (index - 11) as Nanos;
        h.push(main, index, index % 5 == 0);
        h.push(backup, index, index % 5 == 0);
    }
    let events = h.take();
    // Healthy since time 20 (index 11), delay 50: index 61 is at time 70, the first keyframe
    // from there is 65.
    assert!(
        events.contains(&Ev::Switched(
            Some(backup),
            main,
            65,
            SwitchReason::Priority
        )),
        "{events:?}"
    );
    assert_eq!(h.core.stats().switches.priority, 1);
    assert_eq!(h.core.active_pad(), Some(main));
}

#[test]
fn flapping_pad_does_not_bounce_the_output() {
    let mut h = Harness::new(switch_back_config());
    let main = h.core.add_pad(0);
    let backup = h.core.add_pad(1);
    h.lockstep(&[main, backup], 0..6, |_, _| true);
    h.eos(main);
    h.push(backup, 6, true);
    assert!(
        h.take()
            .contains(&Ev::Switched(Some(main), backup, 6, SwitchReason::Eos))
    );
    // Main flaps: 30 ns up, then EOS, a stall, a skipped frame… never 50 ns in a row.
    let mut index = 7;
    for cycle in 0..30 {
        for _ in 0..30 {
            h.now += 1;
            h.push(backup, index, true);
            h.push(main, index, true);
            index += 1;
        }
        match cycle % 3 {
            0 => h.eos(main),
            1 => {
                // Silent for a timeout: the backup carries on alone.
                for _ in 0..(TIMEOUT + 5) {
                    h.now += 1;
                    h.push(backup, index, true);
                    index += 1;
                }
                h.tick(h.now);
            }
            _ => index += 1, // main skips a frame; the backup too, unseen
        }
    }
    let events = h.take();
    assert_eq!(h.core.stats().switches.priority, 0, "{events:?}");
    assert_eq!(h.core.active_pad(), Some(backup));
}

#[test]
fn manual_switch_disarms_switch_back() {
    let mut h = Harness::new(switch_back_config());
    let main = h.core.add_pad(0);
    let backup = h.core.add_pad(1);
    h.lockstep(&[main, backup], 0..5, |_, _| true);
    h.core.request_switch(backup).unwrap();
    for index in 5..200 {
        h.now = index as Nanos;
        h.push(main, index, true);
        h.push(backup, index, true);
    }
    let stats = h.core.stats();
    assert_eq!((stats.switches.manual, stats.switches.priority), (1, 0));
    assert_eq!(h.core.active_pad(), Some(backup));
}

#[test]
fn raw_mode_switches_on_any_frame() {
    let (mut h, a, b) = two_pads_running(false, |_| false);
    h.core.request_switch(b).unwrap();
    h.push(b, 6, false);
    h.push(a, 6, false);
    let events = h.take();
    assert_eq!(
        events,
        vec![
            Ev::Switched(Some(a), b, 6, SwitchReason::Manual),
            Ev::Emit(b, 6, true),
        ]
    );
    h.push(b, 7, false);
    h.eos(b);
    h.push(a, 7, false);
    h.push(a, 8, false);
    let events = h.take();
    assert_eq!(
        events,
        vec![
            Ev::Emit(b, 7, false),
            Ev::Switched(Some(b), a, 8, SwitchReason::Eos),
            Ev::Emit(a, 8, true),
        ]
    );
}

#[test]
fn window_bounds_memory_of_a_pad_that_is_never_active() {
    let mut h = Harness::new(SwitchConfig {
        timeout_ns: Nanos::MAX,
        ..config(true)
    });
    let a = h.core.add_pad(0);
    let runaway = h.core.add_pad(1);
    h.push(a, 0, true);
    for index in 0..1_000 {
        h.push(runaway, 1_000 + index, true);
        assert!(h.core.queue_len(runaway).unwrap() <= WINDOW);
    }
    h.push(a, 1, false);
    assert_eq!(emitted(&h.take()), emits(a, 0..=1));
    let stats = h.core.stats();
    assert_eq!(stats.frames_dropped_window, 1_000 - WINDOW as u64);
    assert_eq!(h.core.queue_len(runaway), Some(WINDOW));
    assert_eq!(h.core.active_pad(), Some(a));
}

#[test]
fn removing_the_active_pad_fails_over_and_releases_its_frames() {
    let (mut h, a, b) = two_pads_running(true, |_| true);
    h.push(b, 6, true);
    assert!(h.core.remove_pad(a, &mut h.out));
    assert_eq!(
        h.take(),
        vec![
            Ev::Switched(Some(a), b, 6, SwitchReason::Eos),
            Ev::Emit(b, 6, true),
        ]
    );
    assert!(!h.core.remove_pad(a, &mut h.out));
    assert_eq!(h.core.priority(a), None);
}

#[test]
fn push_on_an_unknown_pad_gives_the_payload_back() {
    let mut h = Harness::new(config(true));
    h.push(PadId(7), 0, true);
    h.take();
    assert!(matches!(
        h.all[..],
        [Output::Drop {
            cause: DropCause::UnknownPad,
            payload: 0,
            ..
        }]
    ));
}

#[test]
fn all_ended_after_every_pad_ends_and_drains() {
    let (mut h, a, b) = two_pads_running(true, |_| true);
    assert!(!h.core.all_ended());
    h.eos(a);
    h.eos(b);
    assert!(h.core.all_ended());
    assert_eq!(h.core.added_latency_frames(), 0);
    assert_eq!(h.core.max_added_latency_frames(), WINDOW as u64);
}

/// A dead branch (silent, its EOS swallowed by a valve or a cut link) does not hold EOS back
/// once every branch in service has ended; a branch that stalls right at the end delays EOS by
/// `timeout` at most.
#[test]
fn a_dead_branch_does_not_hold_back_eos() {
    let (mut h, a, _b) = two_pads_running(true, |_| true);
    // b dies (no more frames, no EOS); a goes on and ends.
    h.lockstep(&[a], 6..20, |_, _| true);
    h.tick(h.now + TIMEOUT);
    assert!(!h.core.all_ended(), "a still delivers");
    h.eos(a);
    assert!(h.core.all_ended(), "b has been silent past the timeout");

    // Both deliver until the end, then b stalls as a reaches EOS: EOS waits for b's timeout.
    let (mut h, a, b) = two_pads_running(true, |_| true);
    h.lockstep(&[a, b], 6..20, |_, _| true);
    h.eos(a);
    assert!(!h.core.all_ended(), "b may still deliver");
    h.tick(h.now + TIMEOUT - 1);
    assert!(!h.core.all_ended());
    h.tick(h.now + 1);
    assert!(
        h.core.all_ended(),
        "b silent for the timeout: out of service"
    );

    // Every branch silent but none ended (a paused live source): no EOS.
    let (mut h, _a, _b) = two_pads_running(true, |_| true);
    h.tick(h.now + 10 * TIMEOUT);
    assert!(!h.core.all_ended());
}

#[test]
fn conservation_in_the_unit_scenarios() {
    // Every payload pushed comes out exactly once (emitted or dropped) or is still queued.
    let (mut h, a, b) = two_pads_running(true, |index| index % 3 == 0);
    h.core.request_switch(b).unwrap();
    h.lockstep(&[a, b], 6..30, |pad, index| pad == a || index % 3 == 0);
    h.eos(b);
    h.lockstep(&[a], 30..40, |_, _| true);
    h.take();
    let mut seen = vec![0u32; h.next_id as usize];
    for output in &h.all {
        match output {
            Output::Emit { payload, .. } | Output::Drop { payload, .. } => {
                seen[*payload as usize] += 1
            }
            _ => {}
        }
    }
    for pad in [a, b] {
        for (_, _, &payload) in h.core.queued(pad) {
            seen[payload as usize] += 1;
        }
    }
    assert!(seen.iter().all(|&count| count == 1), "{seen:?}");
}

impl Harness {
    fn push_kind(&mut self, pad: PadId, index: FrameIndex, keyframe: bool, cut: bool) {
        let id = self.next_id;
        self.next_id += 1;
        let kind = FrameKind { keyframe, cut };
        self.core
            .push_kind(pad, index, kind, id, self.now, &mut self.out);
        self.check();
    }
}

#[test]
fn manual_switch_waits_for_a_cut_of_the_active_pad() {
    // B has a keyframe at every frame; A reorders: its frames 6..=9 are inside a B-frame run,
    // 10 is the first cut. The switch must not leave A before 10.
    let (mut h, a, b) = two_pads_running(true, |_| true);
    h.core.request_switch(b).unwrap();
    for index in 6..12 {
        h.push_kind(a, index, false, index >= 10);
        h.push(b, index, true);
    }
    let events = h.take();
    let mut expected = emits(a, 6..=9);
    expected.extend(emits(b, 10..=11));
    assert_eq!(emitted(&events), expected);
    assert!(events.contains(&Ev::Switched(Some(a), b, 10, SwitchReason::Manual)));
}

#[test]
fn manual_switch_holds_until_the_active_pad_says_whether_it_is_a_cut() {
    let (mut h, a, b) = two_pads_running(true, |_| true);
    h.core.request_switch(b).unwrap();
    // B's keyframe 6 arrives first: A's frame 6 is owed, so the output waits for it.
    h.push(b, 6, true);
    assert_eq!(emitted(&h.take()), vec![]);
    h.push_kind(a, 6, false, false);
    assert_eq!(emitted(&h.take()), emits(a, 6..=6));
    h.push(b, 7, true);
    h.push_kind(a, 7, false, true);
    let events = h.take();
    assert!(events.contains(&Ev::Switched(Some(a), b, 7, SwitchReason::Manual)));
    assert_eq!(emitted(&events), emits(b, 7..=7));
}

#[test]
fn scheduled_switch_fails_inside_a_reordered_run_of_the_active_pad() {
    let (mut h, a, b) = two_pads_running(true, |_| true);
    assert_eq!(h.core.schedule_switch(b, 8), Ok(()));
    for index in 6..10 {
        h.push_kind(a, index, false, index != 8);
        h.push(b, index, true);
    }
    let events = h.take();
    assert!(events.contains(&Ev::Failed(b, 8, SwitchFailure::NoCleanCut)));
    assert_eq!(emitted(&events), emits(a, 6..=9));
    assert_eq!(h.core.active_pad(), Some(a));
}

#[test]
fn failover_does_not_wait_for_a_cut() {
    let (mut h, a, b) = two_pads_running(true, |_| true);
    h.push_kind(a, 6, false, false);
    h.push(b, 6, true);
    h.push(b, 7, true);
    h.eos(a);
    let events = h.take();
    assert!(events.contains(&Ev::Switched(Some(a), b, 7, SwitchReason::Eos)));
}

#[test]
fn raw_mode_is_chosen_before_the_first_output_only() {
    let mut h = Harness::new(config(true));
    assert!(h.core.set_encoded(false));
    let a = h.core.add_pad(0);
    h.push(a, 0, false);
    assert_eq!(emitted(&h.take()), emits(a, 0..=0));
    assert!(!h.core.set_encoded(true));
    assert!(h.core.set_encoded(false));
}
