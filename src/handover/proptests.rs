// SPDX-License-Identifier: MPL-2.0
//! Property tests: for random positions, criteria, leads, GOPs and message delays the agreed
//! frame meets every criterion and both sides agree on it; over a lossy, duplicating, reordering
//! network both sides always end the same way (both complete at the same frames, or both failed
//! with no switch).

use proptest::prelude::*;

use super::sim::{PERIOD, Sim, config};
use super::*;

/// A small deterministic generator for the network's choices.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        // xorshift64*
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// True with probability `percent` / 100.
    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

#[derive(Debug, Clone)]
struct Scenario {
    start: FrameIndex,
    delay: u32,
    alignment: u32,
    target_lead: u32,
    updated_lead: u32,
    min_keyframe_interval: u32,
    updated_after: i64,
    updated_gop: i64,
    /// Chance (percent) that a message waits one more frame on the network.
    slow: u64,
    seed: u64,
}

fn scenario() -> impl Strategy<Value = Scenario> {
    (
        (
            -1_000_000_000_000i64..1_000_000_000_000,
            0u32..300,
            prop_oneof![Just(0u32), Just(1), 2u32..130],
            1u32..20,
            1u32..20,
        ),
        (0u32..60, 1i64..30, 1i64..200, 0u64..70, any::<u64>()),
    )
        .prop_map(
            |(
                (start, delay, alignment, target_lead, updated_lead),
                (min_keyframe_interval, updated_after, updated_gop, slow, seed),
            )| Scenario {
                start,
                delay,
                alignment,
                target_lead,
                updated_lead,
                min_keyframe_interval,
                updated_after,
                // An encoder's own GOP respects its minimum keyframe interval.
                updated_gop: updated_gop.max(i64::from(min_keyframe_interval) + 1),
                slow,
                seed: seed | 1,
            },
        )
}

fn build(s: &Scenario) -> Sim {
    let mut target_config = config();
    target_config.lead_frames = s.target_lead;
    let mut updated_config = config();
    updated_config.lead_frames = s.updated_lead;
    updated_config.min_keyframe_interval = s.min_keyframe_interval;
    // Long enough for the largest delay and alignment of the scenarios.
    for c in [&mut target_config, &mut updated_config] {
        c.reply_timeout_ns = 1_000 * PERIOD;
        c.ready_timeout_ns = 1_000 * PERIOD;
    }
    let criteria = Criteria {
        delay_frames: s.delay,
        alignment: s.alignment,
    };
    let mut sim = Sim::new(criteria, target_config, updated_config, s.start);
    sim.updated_from = s.start + s.updated_after;
    sim.updated_gop = s.updated_gop;
    sim
}

/// Steps frame by frame; every message on the network is delivered now or (with `slow`%) one
/// frame later, in a random order, with `loss`% lost and `dup`% duplicated.
fn run_network(sim: &mut Sim, rng: &mut Rng, slow: u64, loss: u64, dup: u64, frames: usize) {
    for _ in 0..frames {
        let mut held = Vec::new();
        while !sim.in_flight.is_empty() {
            let i = rng.below(sim.in_flight.len());
            if rng.chance(slow) {
                held.push(sim.in_flight.remove(i));
            } else if rng.chance(loss) {
                sim.in_flight.remove(i);
            } else {
                let keep = rng.chance(dup);
                sim.deliver(i, keep);
            }
        }
        sim.in_flight = held;
        if sim.done() {
            return;
        }
        sim.step();
    }
}

fn check_agreement(s: &Scenario, sim: &Sim) -> Result<(), TestCaseError> {
    let at = sim.switched_at.expect("switched");
    prop_assert!(
        is_aligned(at, s.alignment),
        "{at} not aligned to {}",
        s.alignment
    );
    let first = s.start + s.updated_after;
    prop_assert!(at >= first + i64::from(s.delay), "{at} before the delay");
    for (role, agreement, position) in &sim.positions_at_agreement {
        if agreement.frame != at {
            continue;
        }
        let position = position.expect("a position at agreement");
        let lead = match role {
            Role::Target => s.target_lead,
            Role::Updated => s.updated_lead,
        };
        prop_assert!(
            at >= position.last_frame + i64::from(lead),
            "{role}: {at} within the lead of {}",
            position.last_frame
        );
        if *role == Role::Updated
            && let Some(key) = position.last_keyframe
        {
            prop_assert!(at >= key + i64::from(s.min_keyframe_interval));
        }
    }
    let t = sim.negotiated(Role::Target);
    let u = sim.negotiated(Role::Updated);
    prop_assert_eq!(t.last().map(|a| a.frame), Some(at));
    prop_assert_eq!(u.last().map(|a| a.frame), Some(at));
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// Random positions and criteria, slow but lossless messages: the handover completes, the
    /// frame meets every criterion at the time each side agreed, both agree on it.
    #[test]
    fn agreed_frame_meets_every_criterion(s in scenario()) {
        let mut sim = build(&s);
        let mut rng = Rng(s.seed);
        run_network(&mut sim, &mut rng, s.slow, 0, 0, 3_000);
        prop_assert!(sim.done(), "not finished: {:?} {:?}", sim.target.phase(), sim.updated.phase());
        prop_assert!(
            sim.failure(Role::Target).is_none() && sim.failure(Role::Updated).is_none(),
            "{:?} {:?}",
            sim.failure(Role::Target),
            sim.failure(Role::Updated)
        );
        let at = sim.assert_complete();
        check_agreement(&s, &sim)?;
        // Not later than needed: one alignment period after the latest bound is the most.
        let first = s.start + s.updated_after;
        let period = i64::from(s.alignment.max(1));
        prop_assert!(at < first + i64::from(s.delay) + period + 200, "{at}");
    }

    /// A lossy, duplicating, reordering network: both sides end, and the same way; with every
    /// keyframe honoured, they complete.
    #[test]
    fn both_sides_end_the_same_way_over_a_bad_network(
        s in scenario(),
        loss in 0u64..40,
        dup in 0u64..40,
        ignored_keyframes in 0u32..4,
    ) {
        let mut sim = build(&s);
        sim.ignore_keyframe_requests = ignored_keyframes;
        let mut rng = Rng(s.seed);
        run_network(&mut sim, &mut rng, s.slow, loss, dup, 6_000);
        prop_assert!(sim.done(), "not finished: {:?} {:?}", sim.target.phase(), sim.updated.phase());
        match (sim.completion(Role::Target), sim.completion(Role::Updated)) {
            (Some(t), Some(u)) => {
                let at = sim.switched_at.expect("switched");
                prop_assert_eq!((t.target_last, t.updated_first), (at - 1, at));
                prop_assert_eq!((u.target_last, u.updated_first), (at - 1, at));
                prop_assert!(sim.failure(Role::Target).is_none() && sim.failure(Role::Updated).is_none());
                check_agreement(&s, &sim)?;
            }
            (None, None) => {
                // Losses are recovered by retransmission (the reply timeout is far longer than
                // the retransmission interval): only keyframes the encoder ignores, and
                // confirmations that arrive too late, use up the attempts.
                prop_assert!(
                    ignored_keyframes > 0,
                    "failed with every keyframe honoured: {:?}",
                    sim.failure(Role::Updated)
                );
                prop_assert!(sim.switched_at.is_none(), "switched without completing");
                prop_assert!(sim.failure(Role::Target).is_some() || sim.target.phase() == Phase::Idle);
                prop_assert!(sim.failure(Role::Updated).is_some());
            }
            (t, u) => prop_assert!(false, "one side complete, the other not: {:?} {:?}", t, u),
        }
    }
}
