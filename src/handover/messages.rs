// SPDX-License-Identifier: MPL-2.0
//! The messages the two endpoints exchange, and their byte encoding (version 1).
//!
//! # Encoding
//!
//! Big-endian, fixed layout, no padding. A 17-byte header, then the body of its kind:
//!
//! | bytes | field |
//! |---|---|
//! | 0..4 | magic `b"LKHO"` |
//! | 4 | protocol version, [`VERSION`] |
//! | 5 | kind (1 Notify, 2 Sync, 3 Propose, 4 Accept, 5 Counter, 6 Confirm, 7 Renegotiate, 8 Completed, 9 Abort) |
//! | 6 | sender role (0 target, 1 updated) |
//! | 7..9 | body length in bytes (`u16`) |
//! | 9..17 | transaction id (`u64`) |
//!
//! Bodies (`round` `u32`, frames `i64`, `u8` codes as in [`FailureReason::code`] etc.):
//!
//! - Notify: `delay_frames u32, alignment u32`
//! - Sync: sync info
//! - Propose / Accept / Confirm: `round, frame`
//! - Counter: `round, frame, reason u8`
//! - Renegotiate: `round, missed_frame, cause u8`, sync info
//! - Completed: `round, frame, have_peer u8 (0/1)`
//! - Abort: `reason u8, detail u8` (detail: the phase of a stall, the kind of protocol error, else 0)
//!
//! Sync info: `flags u8` (bit 0 position, bit 1 last keyframe, bit 2 earliest frame, bit 3 caps
//! changed; other bits 0), then only the fields present: `first_frame, last_frame` (bit 0),
//! `last_keyframe` (bit 1), `earliest_frame` (bit 2).
//!
//! Decoding checks everything and never panics: the magic, the version (the first 5 bytes keep
//! their meaning in every version, so an unsupported version is reported as such), the kind, that
//! the sender role may send that kind, that the declared length is exactly the rest of the input,
//! and every field's range (booleans 0/1, known codes, `first ≤ keyframe ≤ last ≤ earliest`).
//! The encoding is canonical: `encode(decode(b)) == b` for every `b` that decodes.

use std::fmt;

use super::{CounterReason, FailureReason, FrameIndex, MissCause, Phase, ProtocolViolation};

/// First bytes of every message.
pub const MAGIC: [u8; 4] = *b"LKHO";
/// The protocol version this code speaks.
pub const VERSION: u8 = 1;
/// Header size in bytes.
pub const HEADER_LEN: usize = 17;

/// Which endpoint sent a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    /// The endpoint of the running encoder branch, the one being replaced.
    Target,
    /// The endpoint of the new encoder branch.
    Updated,
}

impl Role {
    fn code(self) -> u8 {
        match self {
            Role::Target => 0,
            Role::Updated => 1,
        }
    }

    /// The other role.
    pub fn peer(self) -> Role {
        match self {
            Role::Target => Role::Updated,
            Role::Updated => Role::Target,
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Role::Target => "target",
            Role::Updated => "updated",
        })
    }
}

/// The handover criteria, sent by the updated side in [`Body::Notify`] (the element's properties).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Criteria {
    /// `handover-delay` in frames: the handover frame is at least this many frames after the
    /// updated branch's first encoded frame (the minimum parallel run, so rate control and
    /// look-ahead settle). The glue converts the property's nanoseconds with the stream's frame
    /// rate, rounding up.
    pub delay_frames: u32,
    /// `handover-alignment` in frames: the handover frame is a multiple of it (e.g. the segment
    /// length). 0 and 1 mean any frame.
    pub alignment: u32,
}

/// Where a branch is: the facts its endpoint reports about its own encoded output.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct BranchPosition {
    /// The first frame the branch encoded (for the updated branch: the start of the parallel run).
    pub first_frame: FrameIndex,
    /// The last frame the branch encoded.
    pub last_frame: FrameIndex,
    /// The last keyframe it encoded, if any. The GOP phase is `last_frame - last_keyframe`.
    pub last_keyframe: Option<FrameIndex>,
}

impl BranchPosition {
    /// Frames since the last keyframe (0 when the last frame is a keyframe); `None` before the
    /// first keyframe.
    pub fn frames_since_keyframe(&self) -> Option<i64> {
        self.last_keyframe
            .map(|key| self.last_frame.saturating_sub(key))
    }
}

/// Synchronization information of one side ([`Body::Sync`], [`Body::Renegotiate`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct SyncInfo {
    /// The branch's position; `None` before its first encoded frame.
    pub position: Option<BranchPosition>,
    /// The earliest handover frame this side accepts now (its last frame plus its lead and its
    /// round-trip headroom, and for the updated side also the delay and its keyframe-interval
    /// constraint), not yet aligned. `None`: not ready (no frame encoded yet).
    pub earliest_frame: Option<FrameIndex>,
    /// The updated branch's caps differ from the target's (other profile, codec_data): the glue
    /// sends them exactly at the handover frame. Always false from the target.
    pub caps_changed: bool,
}

impl SyncInfo {
    /// Ready to hand over: the branch encodes and knows its earliest frame.
    pub fn ready(&self) -> bool {
        self.earliest_frame.is_some()
    }
}

/// One message: the transaction it belongs to, who sent it, and what it says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Message {
    /// The handover's id, chosen by the updated side; every message of one handover carries it.
    pub txn: u64,
    /// Who sent it.
    pub sender: Role,
    pub body: Body,
}

/// What a message says. Which role may send which kind is fixed (see [`Body::sent_by`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Body {
    /// Updated → target: "a handover to me is requested, with these criteria". Answered by
    /// [`Body::Sync`] (or [`Body::Abort`] with [`FailureReason::Busy`]).
    Notify { criteria: Criteria },
    /// Either side's synchronization info. From the target: the answer to Notify. From the
    /// updated side: sent once it is ready (after the target's Sync), answered by a Propose.
    Sync { sync: SyncInfo },
    /// Target → updated: "hand over at `frame`" (round `round`). Answered by Accept or Counter.
    Propose { round: u32, frame: FrameIndex },
    /// Updated → target: the proposal of `round` is accepted. Answered by Confirm.
    Accept { round: u32, frame: FrameIndex },
    /// Updated → target: the proposal of `round` cannot be met; `frame` can. Answered by
    /// Confirm (of `frame`) or by a Propose of the next round.
    Counter {
        round: u32,
        frame: FrameIndex,
        reason: CounterReason,
    },
    /// Target → updated: `frame` of `round` is the handover frame. Both sides are committed.
    Confirm { round: u32, frame: FrameIndex },
    /// Updated → target: the agreement of `round` failed at `missed_frame` (no keyframe there, or
    /// the switch could not happen); a later frame is needed. Answered by a Propose.
    Renegotiate {
        round: u32,
        missed_frame: FrameIndex,
        cause: MissCause,
        sync: SyncInfo,
    },
    /// Either side: the switch happened here. From the target `frame` is its last output frame,
    /// from the updated side its first. `have_peer`: the sender already has the peer's Completed
    /// (then this is an acknowledgement and gets no answer).
    Completed {
        round: u32,
        frame: FrameIndex,
        have_peer: bool,
    },
    /// Either side: the handover is abandoned. Never answered.
    Abort { reason: FailureReason },
}

impl Body {
    fn kind(&self) -> u8 {
        match self {
            Body::Notify { .. } => 1,
            Body::Sync { .. } => 2,
            Body::Propose { .. } => 3,
            Body::Accept { .. } => 4,
            Body::Counter { .. } => 5,
            Body::Confirm { .. } => 6,
            Body::Renegotiate { .. } => 7,
            Body::Completed { .. } => 8,
            Body::Abort { .. } => 9,
        }
    }

    /// The short name of the kind (`"propose"`, …), for logs.
    pub fn name(&self) -> &'static str {
        kind_name(self.kind())
    }

    /// Whether `role` may send this kind.
    pub fn sent_by(&self, role: Role) -> bool {
        kind_sent_by(self.kind(), role)
    }
}

fn kind_name(kind: u8) -> &'static str {
    match kind {
        1 => "notify",
        2 => "sync",
        3 => "propose",
        4 => "accept",
        5 => "counter",
        6 => "confirm",
        7 => "renegotiate",
        8 => "completed",
        9 => "abort",
        _ => "unknown",
    }
}

fn kind_sent_by(kind: u8, role: Role) -> bool {
    match kind {
        1 | 4 | 5 | 7 => role == Role::Updated,
        3 | 6 => role == Role::Target,
        _ => true,
    }
}

/// Why bytes are not a message. Decoding never panics; every malformed input gives one of these.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DecodeError {
    /// Fewer bytes than the header or the body needs.
    Truncated { needed: usize, got: usize },
    /// The first four bytes are not [`MAGIC`].
    BadMagic,
    /// A version this code does not speak.
    UnsupportedVersion(u8),
    /// An unknown kind byte.
    UnknownKind(u8),
    /// An unknown sender role byte.
    UnknownRole(u8),
    /// The sender's role may not send this kind.
    WrongSender { kind: &'static str, sender: Role },
    /// The declared body length differs from the body this kind has, or bytes follow the body.
    LengthMismatch { declared: usize, actual: usize },
    /// A field is out of range.
    InvalidField(&'static str),
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DecodeError::Truncated { needed, got } => {
                write!(f, "message truncated: {needed} bytes needed, {got} present")
            }
            DecodeError::BadMagic => f.write_str("not a handover message (bad magic)"),
            DecodeError::UnsupportedVersion(v) => {
                write!(
                    f,
                    "handover protocol version {v} not supported (this is {VERSION})"
                )
            }
            DecodeError::UnknownKind(k) => write!(f, "unknown message kind {k}"),
            DecodeError::UnknownRole(r) => write!(f, "unknown sender role {r}"),
            DecodeError::WrongSender { kind, sender } => {
                write!(f, "the {sender} side may not send {kind}")
            }
            DecodeError::LengthMismatch { declared, actual } => {
                write!(f, "body length {declared} declared, {actual} present")
            }
            DecodeError::InvalidField(field) => write!(f, "invalid field: {field}"),
        }
    }
}

impl std::error::Error for DecodeError {}

const SYNC_POSITION: u8 = 1;
const SYNC_KEYFRAME: u8 = 2;
const SYNC_EARLIEST: u8 = 4;
const SYNC_CAPS_CHANGED: u8 = 8;

impl Message {
    /// The message as bytes (see the module documentation for the layout).
    pub fn encode(&self) -> Vec<u8> {
        let mut body = Vec::with_capacity(64);
        match self.body {
            Body::Notify { criteria } => {
                body.extend_from_slice(&criteria.delay_frames.to_be_bytes());
                body.extend_from_slice(&criteria.alignment.to_be_bytes());
            }
            Body::Sync { sync } => put_sync(&mut body, &sync),
            Body::Propose { round, frame }
            | Body::Accept { round, frame }
            | Body::Confirm { round, frame } => {
                body.extend_from_slice(&round.to_be_bytes());
                body.extend_from_slice(&frame.to_be_bytes());
            }
            Body::Counter {
                round,
                frame,
                reason,
            } => {
                body.extend_from_slice(&round.to_be_bytes());
                body.extend_from_slice(&frame.to_be_bytes());
                body.push(reason.code());
            }
            Body::Renegotiate {
                round,
                missed_frame,
                cause,
                sync,
            } => {
                body.extend_from_slice(&round.to_be_bytes());
                body.extend_from_slice(&missed_frame.to_be_bytes());
                body.push(cause.code());
                put_sync(&mut body, &sync);
            }
            Body::Completed {
                round,
                frame,
                have_peer,
            } => {
                body.extend_from_slice(&round.to_be_bytes());
                body.extend_from_slice(&frame.to_be_bytes());
                body.push(u8::from(have_peer));
            }
            Body::Abort { reason } => {
                body.push(reason.code());
                body.push(reason.detail());
            }
        }
        let mut out = Vec::with_capacity(HEADER_LEN + body.len());
        out.extend_from_slice(&MAGIC);
        out.push(VERSION);
        out.push(self.body.kind());
        out.push(self.sender.code());
        // Bodies are at most 67 bytes (Renegotiate with a full sync info).
        let len = u16::try_from(body.len()).unwrap_or(u16::MAX);
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(&self.txn.to_be_bytes());
        out.extend_from_slice(&body);
        out
    }

    /// Reads one message from exactly `bytes`; any malformed input is a [`DecodeError`].
    pub fn decode(bytes: &[u8]) -> Result<Message, DecodeError> {
        let mut header = Reader::new(bytes);
        if header.take(4)? != MAGIC {
            return Err(DecodeError::BadMagic);
        }
        let version = header.u8()?;
        if version != VERSION {
            return Err(DecodeError::UnsupportedVersion(version));
        }
        let kind = header.u8()?;
        if !(1..=9).contains(&kind) {
            return Err(DecodeError::UnknownKind(kind));
        }
        let sender = match header.u8()? {
            0 => Role::Target,
            1 => Role::Updated,
            other => return Err(DecodeError::UnknownRole(other)),
        };
        if !kind_sent_by(kind, sender) {
            return Err(DecodeError::WrongSender {
                kind: kind_name(kind),
                sender,
            });
        }
        let declared = usize::from(header.u16()?);
        let txn = header.u64()?;
        let rest = header.remaining();
        if declared != rest.len() {
            return Err(DecodeError::LengthMismatch {
                declared,
                actual: rest.len(),
            });
        }
        let mut r = Reader::new(rest);
        let body = match kind {
            1 => Body::Notify {
                criteria: Criteria {
                    delay_frames: r.u32()?,
                    alignment: r.u32()?,
                },
            },
            2 => Body::Sync {
                sync: read_sync(&mut r)?,
            },
            3 => Body::Propose {
                round: r.u32()?,
                frame: r.i64()?,
            },
            4 => Body::Accept {
                round: r.u32()?,
                frame: r.i64()?,
            },
            5 => Body::Counter {
                round: r.u32()?,
                frame: r.i64()?,
                reason: CounterReason::from_code(r.u8()?)
                    .ok_or(DecodeError::InvalidField("counter reason"))?,
            },
            6 => Body::Confirm {
                round: r.u32()?,
                frame: r.i64()?,
            },
            7 => Body::Renegotiate {
                round: r.u32()?,
                missed_frame: r.i64()?,
                cause: MissCause::from_code(r.u8()?)
                    .ok_or(DecodeError::InvalidField("miss cause"))?,
                sync: read_sync(&mut r)?,
            },
            8 => Body::Completed {
                round: r.u32()?,
                frame: r.i64()?,
                have_peer: r.bool("have_peer")?,
            },
            _ => {
                let code = r.u8()?;
                let detail = r.u8()?;
                Body::Abort {
                    reason: FailureReason::from_code(code, detail)
                        .ok_or(DecodeError::InvalidField("failure reason"))?,
                }
            }
        };
        if !r.remaining().is_empty() {
            return Err(DecodeError::LengthMismatch {
                declared,
                actual: declared - r.remaining().len(),
            });
        }
        Ok(Message { txn, sender, body })
    }
}

fn put_sync(out: &mut Vec<u8>, sync: &SyncInfo) {
    let mut flags = 0;
    if sync.position.is_some() {
        flags |= SYNC_POSITION;
    }
    if sync.position.and_then(|p| p.last_keyframe).is_some() {
        flags |= SYNC_KEYFRAME;
    }
    if sync.earliest_frame.is_some() {
        flags |= SYNC_EARLIEST;
    }
    if sync.caps_changed {
        flags |= SYNC_CAPS_CHANGED;
    }
    out.push(flags);
    if let Some(position) = sync.position {
        out.extend_from_slice(&position.first_frame.to_be_bytes());
        out.extend_from_slice(&position.last_frame.to_be_bytes());
        if let Some(key) = position.last_keyframe {
            out.extend_from_slice(&key.to_be_bytes());
        }
    }
    if let Some(earliest) = sync.earliest_frame {
        out.extend_from_slice(&earliest.to_be_bytes());
    }
}

fn read_sync(r: &mut Reader<'_>) -> Result<SyncInfo, DecodeError> {
    let flags = r.u8()?;
    if flags & !(SYNC_POSITION | SYNC_KEYFRAME | SYNC_EARLIEST | SYNC_CAPS_CHANGED) != 0 {
        return Err(DecodeError::InvalidField("sync flags"));
    }
    let has_position = flags & SYNC_POSITION != 0;
    let has_keyframe = flags & SYNC_KEYFRAME != 0;
    if has_keyframe && !has_position {
        return Err(DecodeError::InvalidField("sync keyframe without position"));
    }
    let position = if has_position {
        let first_frame = r.i64()?;
        let last_frame = r.i64()?;
        let last_keyframe = if has_keyframe { Some(r.i64()?) } else { None };
        if first_frame > last_frame {
            return Err(DecodeError::InvalidField("sync first frame after last"));
        }
        if last_keyframe.is_some_and(|key| key < first_frame || key > last_frame) {
            return Err(DecodeError::InvalidField(
                "sync keyframe outside the frames",
            ));
        }
        Some(BranchPosition {
            first_frame,
            last_frame,
            last_keyframe,
        })
    } else {
        None
    };
    let earliest_frame = if flags & SYNC_EARLIEST != 0 {
        let earliest = r.i64()?;
        match position {
            // Equal only where frame numbers saturate at `i64::MAX`.
            Some(p) if earliest >= p.last_frame => Some(earliest),
            Some(_) => return Err(DecodeError::InvalidField("sync earliest frame behind")),
            None => return Err(DecodeError::InvalidField("sync ready without position")),
        }
    } else {
        None
    };
    Ok(SyncInfo {
        position,
        earliest_frame,
        caps_changed: flags & SYNC_CAPS_CHANGED != 0,
    })
}

/// A bounds-checked cursor.
struct Reader<'a> {
    bytes: &'a [u8],
    consumed: usize,
}

impl<'a> Reader<'a> {
    fn new(bytes: &'a [u8]) -> Self {
        Reader { bytes, consumed: 0 }
    }

    fn remaining(&self) -> &'a [u8] {
        self.bytes
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        if self.bytes.len() < n {
            return Err(DecodeError::Truncated {
                needed: self.consumed + n,
                got: self.consumed + self.bytes.len(),
            });
        }
        let (head, tail) = self.bytes.split_at(n);
        self.bytes = tail;
        self.consumed += n;
        Ok(head)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], DecodeError> {
        let mut out = [0; N];
        out.copy_from_slice(self.take(N)?);
        Ok(out)
    }

    fn u8(&mut self) -> Result<u8, DecodeError> {
        Ok(self.array::<1>()?[0])
    }

    fn bool(&mut self, field: &'static str) -> Result<bool, DecodeError> {
        match self.u8()? {
            0 => Ok(false),
            1 => Ok(true),
            _ => Err(DecodeError::InvalidField(field)),
        }
    }

    fn u16(&mut self) -> Result<u16, DecodeError> {
        Ok(u16::from_be_bytes(self.array()?))
    }

    fn u32(&mut self) -> Result<u32, DecodeError> {
        Ok(u32::from_be_bytes(self.array()?))
    }

    fn u64(&mut self) -> Result<u64, DecodeError> {
        Ok(u64::from_be_bytes(self.array()?))
    }

    fn i64(&mut self) -> Result<i64, DecodeError> {
        Ok(i64::from_be_bytes(self.array()?))
    }
}

impl Phase {
    pub(crate) fn code(self) -> u8 {
        self as u8
    }

    pub(crate) fn from_code(code: u8) -> Option<Phase> {
        Phase::ALL.iter().copied().find(|p| p.code() == code)
    }
}

impl CounterReason {
    fn code(self) -> u8 {
        match self {
            CounterReason::Position => 1,
            CounterReason::Delay => 2,
            CounterReason::KeyframeInterval => 3,
            CounterReason::Alignment => 4,
            CounterReason::AfterMiss => 5,
        }
    }

    fn from_code(code: u8) -> Option<CounterReason> {
        Some(match code {
            1 => CounterReason::Position,
            2 => CounterReason::Delay,
            3 => CounterReason::KeyframeInterval,
            4 => CounterReason::Alignment,
            5 => CounterReason::AfterMiss,
            _ => return None,
        })
    }
}

impl MissCause {
    fn code(self) -> u8 {
        match self {
            MissCause::NotKeyframe => 1,
            MissCause::Skipped => 2,
            MissCause::TooLate => 3,
            MissCause::SwitchFailed => 4,
        }
    }

    fn from_code(code: u8) -> Option<MissCause> {
        Some(match code {
            1 => MissCause::NotKeyframe,
            2 => MissCause::Skipped,
            3 => MissCause::TooLate,
            4 => MissCause::SwitchFailed,
            _ => return None,
        })
    }
}

impl FailureReason {
    /// The reason's code byte in [`Body::Abort`].
    pub fn code(self) -> u8 {
        match self {
            FailureReason::Busy => 1,
            FailureReason::CapsNegotiationFailed => 2,
            FailureReason::BranchError => 3,
            FailureReason::BranchStalled => 4,
            FailureReason::NotReady => 5,
            FailureReason::PeerStalled(_) => 6,
            FailureReason::KeyframeNeverProduced => 7,
            FailureReason::SwitchFailed => 8,
            FailureReason::NoAgreement => 9,
            FailureReason::Aborted => 10,
            FailureReason::Superseded => 11,
            FailureReason::ProtocolError(_) => 12,
        }
    }

    fn detail(self) -> u8 {
        match self {
            FailureReason::PeerStalled(phase) => phase.code(),
            FailureReason::ProtocolError(violation) => violation.code(),
            _ => 0,
        }
    }

    fn from_code(code: u8, detail: u8) -> Option<FailureReason> {
        let plain = |reason| (detail == 0).then_some(reason);
        match code {
            1 => plain(FailureReason::Busy),
            2 => plain(FailureReason::CapsNegotiationFailed),
            3 => plain(FailureReason::BranchError),
            4 => plain(FailureReason::BranchStalled),
            5 => plain(FailureReason::NotReady),
            6 => Phase::from_code(detail).map(FailureReason::PeerStalled),
            7 => plain(FailureReason::KeyframeNeverProduced),
            8 => plain(FailureReason::SwitchFailed),
            9 => plain(FailureReason::NoAgreement),
            10 => plain(FailureReason::Aborted),
            11 => plain(FailureReason::Superseded),
            12 => ProtocolViolation::from_code(detail).map(FailureReason::ProtocolError),
            _ => None,
        }
    }
}

impl ProtocolViolation {
    fn code(self) -> u8 {
        match self {
            ProtocolViolation::FrameMismatch => 1,
            ProtocolViolation::Undecodable => 2,
            ProtocolViolation::Unexpected => 3,
        }
    }

    fn from_code(code: u8) -> Option<ProtocolViolation> {
        Some(match code {
            1 => ProtocolViolation::FrameMismatch,
            2 => ProtocolViolation::Undecodable,
            3 => ProtocolViolation::Unexpected,
            _ => return None,
        })
    }
}
