// SPDX-License-Identifier: MPL-2.0
//! What both endpoints share: the message link (stop-and-wait requests, replay of the last answer,
//! the phase deadline) and the tracking of their own branch's encoded frames.

use super::{Action, BranchPosition, EndpointStats, FrameIndex, Message, Nanos};

/// One side's end of the exchange.
#[derive(Debug, Clone)]
pub(super) struct Link {
    /// The request sent last and not yet answered; retransmitted on tick.
    outstanding: Option<Message>,
    next_retransmit: Nanos,
    /// The peer's request answered last, and the answer: a duplicate of it gets the answer again.
    answered: Option<(Message, Message)>,
    /// When the current phase times out.
    pub deadline: Option<Nanos>,
    /// Undecodable input arrived since the last progress.
    pub undecodable_seen: bool,
    pub stats: EndpointStats,
}

impl Link {
    pub fn new() -> Self {
        Link {
            outstanding: None,
            next_retransmit: 0,
            answered: None,
            deadline: None,
            undecodable_seen: false,
            stats: EndpointStats::default(),
        }
    }

    /// Forgets everything about the previous transaction (stats stay).
    pub fn reset(&mut self) {
        self.outstanding = None;
        self.answered = None;
        self.deadline = None;
        self.undecodable_seen = false;
    }

    /// Sends a message that expects no answer.
    pub fn send(&mut self, message: Message, out: &mut Vec<Action>) {
        self.stats.sent += 1;
        out.push(Action::Send(message));
    }

    /// Sends a request: retransmitted on tick until [`Link::settle`] or another request.
    pub fn request(
        &mut self,
        message: Message,
        now: Nanos,
        retransmit_interval: Nanos,
        out: &mut Vec<Action>,
    ) {
        self.outstanding = Some(message);
        self.next_retransmit = now.saturating_add(retransmit_interval.max(1));
        self.send(message, out);
    }

    /// Answers the peer's `request` (remembered for duplicates).
    pub fn answer(&mut self, request: Message, answer: Message, out: &mut Vec<Action>) {
        self.answered = Some((request, answer));
        self.send(answer, out);
    }

    /// Answers the peer's `request` with a message that is itself a request (e.g. a proposal
    /// answering a Sync): remembered for duplicates and retransmitted on tick.
    pub fn answer_and_request(
        &mut self,
        request: Message,
        answer: Message,
        now: Nanos,
        retransmit_interval: Nanos,
        out: &mut Vec<Action>,
    ) {
        self.answered = Some((request, answer));
        self.request(answer, now, retransmit_interval, out);
    }

    /// The outstanding request got its answer.
    pub fn settle(&mut self) {
        self.outstanding = None;
    }

    /// A new phase: progress was made, the deadline restarts (or goes away).
    pub fn progress(&mut self, deadline: Option<Nanos>) {
        self.deadline = deadline;
        self.undecodable_seen = false;
    }

    /// If `message` duplicates the request answered last, answers it again and returns true.
    pub fn replay_duplicate(&mut self, message: &Message, out: &mut Vec<Action>) -> bool {
        match self.answered {
            Some((request, answer)) if request == *message => {
                self.stats.duplicates += 1;
                self.stats.retransmitted += 1;
                out.push(Action::Send(answer));
                true
            }
            _ => false,
        }
    }

    /// Retransmits the outstanding request when due.
    pub fn tick(&mut self, now: Nanos, retransmit_interval: Nanos, out: &mut Vec<Action>) {
        if let Some(message) = self.outstanding
            && now >= self.next_retransmit
        {
            self.next_retransmit = now.saturating_add(retransmit_interval.max(1));
            self.stats.retransmitted += 1;
            out.push(Action::Send(message));
        }
    }

    /// The next time `tick` has something to do for the link.
    pub fn next_deadline(&self) -> Option<Nanos> {
        let retransmit = self.outstanding.map(|_| self.next_retransmit);
        [retransmit, self.deadline].into_iter().flatten().min()
    }

    pub fn timed_out(&self, now: Nanos) -> bool {
        self.deadline.is_some_and(|deadline| now >= deadline)
    }
}

/// The frames one branch has encoded, as the glue reports them.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct Branch {
    pub position: Option<BranchPosition>,
    /// When the last frame was reported.
    pub last_frame_at: Option<Nanos>,
}

impl Branch {
    /// Records an encoded frame. A frame before the last one is a jump back of the branch's
    /// timeline: its position starts again there.
    pub fn observe(&mut self, frame: FrameIndex, keyframe: bool, now: Nanos) {
        let key = keyframe.then_some(frame);
        self.position = Some(match self.position {
            Some(p) if frame >= p.last_frame => BranchPosition {
                first_frame: p.first_frame,
                last_frame: frame,
                last_keyframe: key.or(p.last_keyframe),
            },
            _ => BranchPosition {
                first_frame: frame,
                last_frame: frame,
                last_keyframe: key,
            },
        });
        self.last_frame_at = Some(now);
    }

    pub fn last_frame(&self) -> Option<FrameIndex> {
        self.position.map(|p| p.last_frame)
    }
}
