// SPDX-License-Identifier: MPL-2.0
//! What a publisher is fed (video and audio frames) and what it reports ([`Event`]).

/// One AAC frame (raw, no ADTS header), in stream order.
#[derive(Debug, Clone)]
pub struct AudioFrame<D> {
    /// The UTC instant of the frame's first sample (ns since the Unix epoch), from the video's
    /// relation between running time and the timecode.
    pub utc_ns: i64,
    pub data: D,
}

/// One access unit in decode order.
#[derive(Debug, Clone)]
pub struct Frame<D> {
    /// The timecode's UTC instant of the frame (ns since the Unix epoch).
    pub utc_ns: i64,
    pub keyframe: bool,
    /// Length-prefixed NAL units.
    pub data: D,
    /// The timecode label (`hh:mm:ss:ff`), for the storage index and messages.
    pub timecode: Option<String>,
    /// PTS − DTS as the encoder stamped it (0 without B-frames or when DTS is unknown): the
    /// decode timeline is the presentation grid moved back by this many frames, so composition
    /// offsets stay non-negative like the encoder's.
    pub decode_lead_ns: i64,
}

/// A written segment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublishedSegment {
    /// The track: a video rendition's id ([`super::VIDEO_REPRESENTATION`] for the main one)
    /// or an audio input's id.
    pub representation: String,
    pub name: String,
    pub k: i64,
    pub frames: u32,
    pub first_frame_utc_ns: i64,
    pub last_frame_utc_ns: i64,
    pub first_timecode: Option<String>,
    pub last_timecode: Option<String>,
    /// Duration in ns (frames × frame duration, floored).
    pub duration_ns: u64,
    pub size_bytes: u64,
}

/// What happened while handling a frame or the end of the stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// Video rendition `rendition`'s encoder should start a keyframe at this instant (the
    /// next segment boundary).
    KeyframeWanted {
        rendition: usize,
        utc_ns: i64,
        k: i64,
    },
    /// A segment's first frame was not a keyframe: rendition `rendition` does not write the
    /// segment (a gap in that rendition only).
    NotKeyframe {
        rendition: usize,
        k: i64,
        utc_ns: i64,
    },
    /// A frame at or before the previous one (a backward timecode jump, or a repeated frame)
    /// was dropped. Reported for the first frame of a run of dropped frames only: a timecode
    /// set back by an hour drops an hour of frames, and one report says it.
    Backward {
        rendition: usize,
        utc_ns: i64,
        last_utc_ns: i64,
    },
    /// Segment k was closed after `frames` of its frames because a frame of a later segment
    /// came (at `next_utc_ns`) before its last ones: a forward timecode jump, or lost frames.
    /// `discontinuity`: the next segment written starts a new discontinuity domain.
    CutShort {
        rendition: usize,
        k: i64,
        frames: u32,
        next_utc_ns: i64,
        discontinuity: bool,
    },
    /// A segment file was written.
    Segment(PublishedSegment),
    /// The manifests were rewritten (names relative to the directory), listing up to `k`.
    Manifests { k: i64, names: Vec<String> },
    /// An old segment file was deleted (`max_files`).
    Deleted { k: i64, name: String },
    /// The manifests list segment k without this audio track's segment (EXT-X-GAP in its
    /// playlist): the audio did not cover k in time, or not from its first frame.
    AudioMissing { id: String, k: i64 },
    /// An audio frame overlapping the previous one by more than half a frame was dropped.
    AudioBackward { id: String, utc_ns: i64 },
    /// The previous run's storage index `name` could not be read (`reason`) and was rebuilt
    /// from the segment files its playlist lists (`entries` of them).
    StorageIndexRebuilt {
        name: String,
        reason: String,
        entries: usize,
    },
}
