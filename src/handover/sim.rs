// SPDX-License-Identifier: MPL-2.0
//! Test harness: a target and an updated endpoint with simulated encoders, a simulated switching
//! core and a network in between that the test controls (delivery order, loss, duplicates).
//!
//! Both encoders output frame `n` at time `(n - start + 25) * PERIOD`; the target's keyframes follow its GOP,
//! the updated encoder's follow its own GOP plus the keyframes the glue asks for (unless told to
//! ignore some requests). The switch happens at a scheduled frame when the updated encoder's frame
//! there is a keyframe, else the simulated core reports the switch as failed, as `SwitchCore`
//! does in encoded mode.

use std::collections::BTreeSet;

use super::*;

pub const PERIOD: Nanos = 40_000_000;

/// Config with short timeouts in frame periods.
pub fn config() -> Config {
    Config {
        lead_frames: 3,
        min_keyframe_interval: 0,
        max_keyframe_attempts: 3,
        max_rounds: 8,
        retransmit_interval_ns: 2 * PERIOD,
        reply_timeout_ns: 25 * PERIOD,
        ready_timeout_ns: 50 * PERIOD,
        stall_timeout_ns: 25 * PERIOD,
    }
}

/// [`config`] without retransmissions within a test's horizon, so a test can hold a message back.
pub fn config_no_retransmit() -> Config {
    Config {
        retransmit_interval_ns: 10_000 * PERIOD,
        ..config()
    }
}

/// Frame `n`'s output time: frames since `origin`, plus one second, in periods.
fn time_of(origin: FrameIndex, n: FrameIndex) -> Nanos {
    let frames = Nanos::try_from(n.saturating_sub(origin)).unwrap_or(0);
    (frames + 25) * PERIOD
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InFlight {
    pub to: Role,
    pub message: Message,
}

#[derive(Debug, Clone)]
pub struct Sim {
    pub target: TargetEndpoint,
    pub updated: UpdatedEndpoint,
    pub now: Nanos,
    /// The frame the simulation started at (times count from it).
    pub origin: FrameIndex,
    /// The last frame both encoders output.
    pub frame: FrameIndex,
    pub target_gop: i64,
    pub updated_gop: i64,
    /// The updated encoder outputs nothing before this frame (it is still starting).
    pub updated_from: FrameIndex,
    /// Force-key-unit requests the updated encoder ignores (the next n).
    pub ignore_keyframe_requests: u32,
    pub keyframe_requests: BTreeSet<FrameIndex>,
    pub scheduled_switch: Option<FrameIndex>,
    pub switched_at: Option<FrameIndex>,
    /// Messages on the way, in sending order.
    pub in_flight: Vec<InFlight>,
    /// Every non-Send action, with the side that produced it.
    pub events: Vec<(Role, Action)>,
    /// Each side's position (as its sync info says) when it reported `Negotiated`.
    pub positions_at_agreement: Vec<(Role, Agreement, Option<BranchPosition>)>,
    /// Every message sent, in order.
    pub sent: Vec<Message>,
    /// Automatic delivery (`settle`, `run`) drops messages for which this returns true.
    pub drop_filter: fn(&Message, usize) -> bool,
}

impl Sim {
    /// Both encoders at frame `start` (the target's); the handover starts now with `criteria`.
    pub fn new(
        criteria: Criteria,
        target_config: Config,
        updated_config: Config,
        start: FrameIndex,
    ) -> Self {
        let mut target = TargetEndpoint::new(target_config);
        let now = time_of(start, start);
        target.on_frame(start, start % 30 == 0, now);
        let mut out = Vec::new();
        let updated = UpdatedEndpoint::start(7, criteria, updated_config, now, &mut out);
        let mut sim = Sim {
            target,
            updated,
            now,
            origin: start,
            frame: start,
            target_gop: 30,
            updated_gop: 1_000_000,
            updated_from: start + 1,
            ignore_keyframe_requests: 0,
            keyframe_requests: BTreeSet::new(),
            scheduled_switch: None,
            switched_at: None,
            in_flight: Vec::new(),
            events: Vec::new(),
            positions_at_agreement: Vec::new(),
            sent: Vec::new(),
            drop_filter: |_, _| false,
        };
        sim.route(Role::Updated, out);
        sim
    }

    /// Applies one side's actions: messages go on the network, commands to the simulated glue.
    pub fn route(&mut self, from: Role, actions: Vec<Action>) {
        for action in actions {
            match action {
                Action::Send(message) => {
                    assert_eq!(message.sender, from);
                    self.sent.push(message);
                    self.in_flight.push(InFlight {
                        to: from.peer(),
                        message,
                    });
                }
                other => {
                    match other {
                        Action::ScheduleKeyframe { frame } => {
                            assert_eq!(from, Role::Updated);
                            if self.ignore_keyframe_requests > 0 {
                                self.ignore_keyframe_requests -= 1;
                            } else {
                                self.keyframe_requests.insert(frame);
                            }
                        }
                        Action::ScheduleSwitch { frame } => {
                            assert_eq!(from, Role::Updated);
                            self.scheduled_switch = Some(frame);
                        }
                        // The glue cancels a pending switch when a handover fails.
                        Action::Failed(_) => self.scheduled_switch = None,
                        Action::Negotiated(agreement) => {
                            let position = match from {
                                Role::Target => self.target.sync_info().position,
                                Role::Updated => self.updated.sync_info().position,
                            };
                            self.positions_at_agreement
                                .push((from, agreement, position));
                        }
                        _ => {}
                    }
                    self.events.push((from, other));
                }
            }
        }
    }

    /// Delivers the in-flight message at `index` (optionally keeping a copy on the way: a
    /// duplicate).
    pub fn deliver(&mut self, index: usize, keep_copy: bool) {
        let item = if keep_copy {
            self.in_flight[index]
        } else {
            self.in_flight.remove(index)
        };
        let mut out = Vec::new();
        match item.to {
            Role::Target => self.target.receive(&item.message, self.now, &mut out),
            Role::Updated => self.updated.receive(&item.message, self.now, &mut out),
        }
        self.route(item.to, out);
    }

    /// Delivers everything on the way, in order, until the network is quiet (dropping what the
    /// filter says, counting messages in `sent` order).
    pub fn settle(&mut self) {
        let mut guard = 0;
        while !self.in_flight.is_empty() {
            guard += 1;
            assert!(guard < 10_000, "message storm");
            let item = self.in_flight[0];
            let index = self
                .sent
                .iter()
                .rposition(|m| *m == item.message)
                .unwrap_or(0);
            if (self.drop_filter)(&item.message, index) {
                self.in_flight.remove(0);
                continue;
            }
            self.deliver(0, false);
        }
    }

    /// Delivers messages in order until one of `kind` is next, and takes that one off the
    /// network (to hold it back). `None` if the network runs dry first.
    pub fn deliver_until(&mut self, kind: &str) -> Option<InFlight> {
        for _ in 0..1000 {
            let first = *self.in_flight.first()?;
            if first.message.body.name() == kind {
                return Some(self.in_flight.remove(0));
            }
            self.deliver(0, false);
        }
        None
    }

    /// Whether the updated encoder outputs frame `n` as a keyframe.
    pub fn updated_keyframe(&self, n: FrameIndex) -> bool {
        n == self.updated_from
            || n.rem_euclid(self.updated_gop) == 0
            || self.keyframe_requests.contains(&n)
    }

    /// Both encoders output their next frame; the simulated switching core acts; both sides tick.
    pub fn step(&mut self) {
        self.frame += 1;
        let n = self.frame;
        self.now = time_of(self.origin, n);
        self.target.on_frame(n, n % self.target_gop == 0, self.now);
        let mut out = Vec::new();
        let updated_key = self.updated_keyframe(n);
        if n >= self.updated_from {
            self.updated.on_frame(n, updated_key, self.now, &mut out);
            self.route(Role::Updated, out);
        }
        if self.scheduled_switch == Some(n) && self.switched_at.is_none() {
            self.scheduled_switch = None;
            if n >= self.updated_from && updated_key {
                self.switched_at = Some(n);
                let mut out = Vec::new();
                self.target.handed_over(n, self.now, &mut out);
                self.route(Role::Target, out);
                let mut out = Vec::new();
                self.updated.handed_over(n, self.now, &mut out);
                self.route(Role::Updated, out);
            } else {
                let mut out = Vec::new();
                self.updated.switch_failed(n, self.now, &mut out);
                self.route(Role::Updated, out);
            }
        }
        self.tick();
    }

    pub fn tick(&mut self) {
        let mut out = Vec::new();
        self.target.tick(self.now, &mut out);
        self.route(Role::Target, out);
        let mut out = Vec::new();
        self.updated.tick(self.now, &mut out);
        self.route(Role::Updated, out);
    }

    /// Steps frame by frame, delivering everything at once after each, until both sides are
    /// finished (or `max_frames`).
    pub fn run(&mut self, max_frames: usize) {
        for _ in 0..max_frames {
            self.settle();
            if self.done() {
                return;
            }
            self.step();
        }
        self.settle();
    }

    pub fn done(&self) -> bool {
        !self.target.phase().is_active() && !self.updated.phase().is_active()
    }

    pub fn events_of(&self, role: Role) -> Vec<Action> {
        self.events
            .iter()
            .filter(|(r, _)| *r == role)
            .map(|(_, a)| *a)
            .collect()
    }

    pub fn negotiated(&self, role: Role) -> Vec<Agreement> {
        self.events_of(role)
            .into_iter()
            .filter_map(|a| match a {
                Action::Negotiated(agreement) => Some(agreement),
                _ => None,
            })
            .collect()
    }

    pub fn completion(&self, role: Role) -> Option<Completion> {
        self.events_of(role).into_iter().find_map(|a| match a {
            Action::Complete(c) => Some(c),
            _ => None,
        })
    }

    pub fn failure(&self, role: Role) -> Option<Failure> {
        self.events_of(role).into_iter().find_map(|a| match a {
            Action::Failed(f) => Some(f),
            _ => None,
        })
    }

    /// The handover completed on both sides, at one frame, as agreed, with each side's view
    /// confirmed by the other. Returns the frame.
    pub fn assert_complete(&self) -> FrameIndex {
        let t = self.completion(Role::Target).expect("target complete");
        let u = self.completion(Role::Updated).expect("updated complete");
        let at = self.switched_at.expect("switched");
        assert_eq!(t.target_last, at - 1);
        assert_eq!(t.updated_first, at);
        assert_eq!(
            (t.target_last, t.updated_first),
            (u.target_last, u.updated_first)
        );
        assert!(t.peer_confirmed && u.peer_confirmed);
        assert_eq!(t.agreed, Some(at));
        assert_eq!(u.agreed, Some(at));
        let last_t = *self
            .negotiated(Role::Target)
            .last()
            .expect("target negotiated");
        let last_u = *self
            .negotiated(Role::Updated)
            .last()
            .expect("updated negotiated");
        assert_eq!(last_t.frame, at);
        assert_eq!(last_u.frame, at);
        assert_eq!(last_t.round, last_u.round);
        assert!(self.failure(Role::Target).is_none() && self.failure(Role::Updated).is_none());
        assert!(
            self.events_of(Role::Target)
                .contains(&Action::ReleaseTarget)
        );
        assert!(
            !self
                .events_of(Role::Updated)
                .contains(&Action::ReleaseTarget)
        );
        assert_eq!(self.target.phase(), Phase::Complete);
        assert_eq!(self.updated.phase(), Phase::Complete);
        at
    }
}
