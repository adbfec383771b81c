// SPDX-License-Identifier: MPL-2.0
//! Bit-level readers for the parts of H.264 and H.265 that carry SMPTE ST 12 timecode.
//!
//! Pure code: no GStreamer types. Everything here takes byte slices and returns plain values,
//! so it is unit-tested, property-tested and fuzzed on its own (`fuzz/`).
//!
//! - [`nal`]: NAL unit iteration for Annex B byte streams and length-prefixed (avcC/hvcC) data.
//! - [`bits`]: RBSP extraction (emulation prevention), an Exp-Golomb bit reader, and a bit
//!   writer that inserts emulation prevention (used to build test streams).
//! - [`sei`]: SEI message framing and the clock timestamp time-of-day fields, shared by both.
//! - [`vui`]: the VUI fields H.264 and H.265 share (aspect ratio, video signal type, ...).
//! - [`h264`]: SPS/PPS subset (VUI timing, HRD lengths, pic_struct_present_flag), SEI framing,
//!   pic_timing clock timestamps (H.264 D.1.3 / D.2.3).
//! - [`h265`]: SPS subset (VUI timing), time_code SEI (H.265 D.2.27 / D.3.27).

pub mod bits;
pub mod codec_data;
pub mod h264;
pub mod h265;
pub mod nal;
pub mod parameter_sets;
pub mod sei;
pub mod vui;

#[cfg(test)]
mod testutil;

/// Why a piece of a bitstream could not be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParseError {
    /// The data ended before the syntax did.
    Truncated,
    /// A value is outside the range the standard allows; the text names the syntax element.
    Invalid(&'static str),
}

impl std::fmt::Display for ParseError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ParseError::Truncated => write!(f, "data ends before the syntax does"),
            ParseError::Invalid(what) => write!(f, "invalid {what}"),
        }
    }
}

impl std::error::Error for ParseError {}

/// How NAL units are delimited in a buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NalFraming {
    /// Annex B: start codes `00 00 01` / `00 00 00 01`.
    AnnexB,
    /// avcC/hvcC style: each NAL unit is preceded by its size in this many bytes (1, 2 or 4).
    LengthPrefixed(u8),
}

/// One SMPTE ST 12 clock timestamp as coded in H.264 pic_timing (D.1.3) or H.265 time_code
/// (D.2.27) SEI. Fields whose presence flag was 0 are `None` (the partial forms of
/// `full_timestamp_flag = 0`); the caller decides what an absent field means.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ClockTimestamp {
    /// 0 progressive, 1 interlaced, 2 unknown (H.264 ct_type; H.265 has no ct_type: 0).
    pub ct_type: u8,
    /// nuit_field_based_flag (H.264) / units_field_based_flag (H.265).
    pub nuit_field_based: bool,
    /// Table D-3 counting_type (0..=6 meaningful).
    pub counting_type: u8,
    pub full_timestamp: bool,
    pub discontinuity: bool,
    pub cnt_dropped: bool,
    /// n_frames as coded (u(8) in H.264, u(9) in H.265).
    pub n_frames: u16,
    pub seconds: Option<u8>,
    pub minutes: Option<u8>,
    pub hours: Option<u8>,
    /// time_offset (H.264 i(v), H.265 time_offset_value i(v)); 0 when absent.
    pub time_offset: i32,
}

/// VUI timing information of the active SPS.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VuiTiming {
    pub num_units_in_tick: u32,
    pub time_scale: u32,
    /// True for H.264, where one frame lasts two ticks (time_scale = 2 × frame rate × num_units_in_tick
    /// for frame-coded video); false for H.265, where the tick is the frame (or field) period.
    pub field_ticks: bool,
}

impl VuiTiming {
    /// The frame rate the VUI implies, as (numerator, denominator), or None if degenerate.
    pub fn frame_rate(&self) -> Option<(u32, u32)> {
        if self.num_units_in_tick == 0 || self.time_scale == 0 {
            return None;
        }
        let den = if self.field_ticks {
            self.num_units_in_tick.checked_mul(2)?
        } else {
            self.num_units_in_tick
        };
        let g = gcd(self.time_scale, den);
        Some((self.time_scale / g, den / g))
    }
}

fn gcd(mut a: u32, mut b: u32) -> u32 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a.max(1)
}

/// A kind of fault found while reading an access unit. The element reports each kind once.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Fault {
    /// A NAL unit header or framing is broken (e.g. a length prefix past the end of the buffer).
    MalformedNal,
    /// A sequence (or picture) parameter set could not be parsed.
    MalformedParameterSet,
    /// An SEI message's framing or a picture timing / time code payload could not be parsed.
    MalformedSei,
    /// A picture timing SEI arrived but no SPS it could refer to is known yet.
    SeiWithoutSps,
}

/// The set of faults of one access unit, each kind once, without allocating until the end.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct FaultSet(u8);

impl FaultSet {
    const ALL: [Fault; 4] = [
        Fault::MalformedNal,
        Fault::MalformedParameterSet,
        Fault::MalformedSei,
        Fault::SeiWithoutSps,
    ];

    fn bit(fault: Fault) -> u8 {
        match fault {
            Fault::MalformedNal => 1,
            Fault::MalformedParameterSet => 2,
            Fault::MalformedSei => 4,
            Fault::SeiWithoutSps => 8,
        }
    }

    pub(crate) fn insert(&mut self, fault: Fault) {
        self.0 |= Self::bit(fault);
    }

    pub(crate) fn insert_if(&mut self, condition: bool, fault: Fault) {
        if condition {
            self.insert(fault);
        }
    }

    /// The faults in `Fault` order (an empty set does not allocate).
    pub(crate) fn to_vec(self) -> Vec<Fault> {
        Self::ALL
            .into_iter()
            .filter(|&f| self.0 & Self::bit(f) != 0)
            .collect()
    }
}

/// What one access unit says about its picture's timecode.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AccessUnitInfo {
    /// The clock timestamps of this picture with clock_timestamp_flag = 1, in coded order
    /// (H.264: up to NumClockTS of Table D-1; H.265: up to num_clock_ts).
    pub clocks: Vec<ClockTimestamp>,
    /// H.264 pic_struct (Table D-1) when present; None for H.265 or when absent.
    pub pic_struct: Option<u8>,
    /// VUI timing of the SPS that was active for this access unit, if it has any.
    pub timing: Option<VuiTiming>,
    /// True if the access unit holds an IDR/IRAP picture.
    pub keyframe: bool,
    /// Each kind of fault seen in this access unit, once.
    pub faults: Vec<Fault>,
}

/// A stateful reader of access units of one stream: it remembers parameter sets across access
/// units (in-band or from codec_data) and reads the timecode SEI of each access unit with the SPS
/// that is active for that access unit.
pub trait AccessUnitReader: Send {
    /// Parse avcC / hvcC codec_data: NAL length size and the parameter sets it holds.
    fn set_codec_data(&mut self, codec_data: &[u8]) -> Result<(), ParseError>;
    /// The framing of access units after `set_codec_data` (length-prefixed) or Annex B.
    fn framing(&self) -> NalFraming;
    /// Force the framing (caps say byte-stream, or avc/hvc with a length size).
    fn set_framing(&mut self, framing: NalFraming);
    /// Read one whole access unit. Never panics, whatever the bytes.
    fn read_access_unit(&mut self, data: &[u8]) -> AccessUnitInfo;
}
