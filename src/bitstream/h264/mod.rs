// SPDX-License-Identifier: MPL-2.0
//! H.264: the SPS/PPS subset that decides how a picture timing SEI is laid out, and the clock
//! timestamps of that SEI (H.264 D.1.3 syntax, D.2.3 semantics).
//!
//! The layout of pic_timing depends on the *active* SPS (HRD delay lengths,
//! pic_struct_present_flag, time_offset_length), and the SEI comes before the slice that says
//! which SPS is active. [`H264Reader`] therefore keeps the pic_timing payload of an access unit
//! aside and parses it once the first slice header has named its PPS, and so its SPS.

use super::bits::{BitReader, BitWriter, unescape_rbsp};
use super::nal::{NalUnits, header_window};
use super::sei::{SeiMessages, read_time_of_day, write_sei_nal, write_time_of_day};
use super::vui::VuiCommon;
use super::{
    AccessUnitInfo, AccessUnitReader, ClockTimestamp, Fault, FaultSet, NalFraming, ParseError,
    VuiTiming,
};

/// nal_unit_type values (H.264 Table 7-1) this reader looks at.
pub mod nal_type {
    pub const SLICE_NON_IDR: u8 = 1;
    pub const SLICE_DATA_PARTITION_A: u8 = 2;
    pub const SLICE_IDR: u8 = 5;
    pub const SEI: u8 = 6;
    pub const SPS: u8 = 7;
    pub const PPS: u8 = 8;
    pub const AUD: u8 = 9;
}

/// SEI payloadType of pic_timing (H.264 D.1.1).
pub const PAYLOAD_TYPE_PIC_TIMING: u32 = 1;

/// seq_parameter_set_id is 0..31 (H.264 7.4.2.1.1).
pub const MAX_SPS_COUNT: usize = 32;
/// pic_parameter_set_id is 0..255 (H.264 7.4.2.2).
pub const MAX_PPS_COUNT: usize = 256;

/// NumClockTS by pic_struct (H.264 Table D-1).
pub const NUM_CLOCK_TS: [u8; 9] = [1, 1, 1, 2, 2, 3, 3, 2, 3];

/// profile_idc values whose SPS carries chroma_format_idc, bit depths and scaling matrices
/// (H.264 7.3.2.1.1).
const HIGH_PROFILES: [u8; 13] = [100, 110, 122, 244, 44, 83, 86, 118, 128, 138, 139, 134, 135];

/// How many escaped bytes of a slice NAL unit are unescaped to read the start of its header:
/// three ue(v) of at most 63 bits each plus emulation prevention bytes fit easily.
const SLICE_HEADER_PREFIX: usize = 48;
/// The window tried first: real slices code the three fields in a few bits.
const SLICE_HEADER_SHORT_PREFIX: usize = 8;

/// hrd_parameters() (H.264 E.1.2). The per-CPB bit rate and size values are skipped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct H264Hrd {
    /// cpb_cnt_minus1 + 1 (1..=32).
    pub cpb_cnt: u8,
    pub bit_rate_scale: u8,
    pub cpb_size_scale: u8,
    /// initial_cpb_removal_delay_length_minus1 + 1 (1..=32).
    pub initial_cpb_removal_delay_length: u8,
    /// cpb_removal_delay_length_minus1 + 1 (1..=32): bits of cpb_removal_delay in pic_timing.
    pub cpb_removal_delay_length: u8,
    /// dpb_output_delay_length_minus1 + 1 (1..=32): bits of dpb_output_delay in pic_timing.
    pub dpb_output_delay_length: u8,
    /// time_offset_length (0..=31): bits of time_offset in pic_timing; 0 means absent.
    pub time_offset_length: u8,
}

impl H264Hrd {
    fn read(r: &mut BitReader<'_>) -> Result<Self, ParseError> {
        let cpb_cnt = r.ue_max(31, "cpb_cnt_minus1")? as u8 + 1;
        let bit_rate_scale = r.u(4)? as u8;
        let cpb_size_scale = r.u(4)? as u8;
        for _ in 0..cpb_cnt {
            r.ue()?; // bit_rate_value_minus1
            r.ue()?; // cpb_size_value_minus1
            r.flag()?; // cbr_flag
        }
        Ok(H264Hrd {
            cpb_cnt,
            bit_rate_scale,
            cpb_size_scale,
            initial_cpb_removal_delay_length: r.u(5)? as u8 + 1,
            cpb_removal_delay_length: r.u(5)? as u8 + 1,
            dpb_output_delay_length: r.u(5)? as u8 + 1,
            time_offset_length: r.u(5)? as u8,
        })
    }
}

/// timing_info in the VUI (H.264 E.1.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct H264TimingInfo {
    pub num_units_in_tick: u32,
    pub time_scale: u32,
    pub fixed_frame_rate: bool,
}

/// vui_parameters() up to pic_struct_present_flag (H.264 E.1.1); bitstream_restriction is not
/// read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct H264Vui {
    pub common: VuiCommon,
    pub timing: Option<H264TimingInfo>,
    pub nal_hrd: Option<H264Hrd>,
    pub vcl_hrd: Option<H264Hrd>,
    /// low_delay_hrd_flag (present only with an HRD; false otherwise).
    pub low_delay_hrd: bool,
    pub pic_struct_present: bool,
}

impl H264Vui {
    fn read(r: &mut BitReader<'_>) -> Result<Self, ParseError> {
        let common = VuiCommon::read(r)?;
        let timing = if r.flag()? {
            Some(H264TimingInfo {
                num_units_in_tick: r.u(32)?,
                time_scale: r.u(32)?,
                fixed_frame_rate: r.flag()?,
            })
        } else {
            None
        };
        let nal_hrd = if r.flag()? {
            Some(H264Hrd::read(r)?)
        } else {
            None
        };
        let vcl_hrd = if r.flag()? {
            Some(H264Hrd::read(r)?)
        } else {
            None
        };
        let low_delay_hrd = if nal_hrd.is_some() || vcl_hrd.is_some() {
            r.flag()?
        } else {
            false
        };
        let pic_struct_present = r.flag()?;
        Ok(H264Vui {
            common,
            timing,
            nal_hrd,
            vcl_hrd,
            low_delay_hrd,
            pic_struct_present,
        })
    }
}

/// seq_parameter_set_data() (H.264 7.3.2.1.1), the fields up to and including the VUI part
/// that pic_timing depends on. Lengths are stored as lengths (`..._minus4 + 4`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct H264Sps {
    pub profile_idc: u8,
    /// constraint_set0..5_flag and reserved_zero_2bits, as the byte they are coded in.
    pub constraint_flags: u8,
    pub level_idc: u8,
    pub seq_parameter_set_id: u8,
    /// 1 (4:2:0) unless a high profile codes it.
    pub chroma_format_idc: u8,
    pub separate_colour_plane: bool,
    pub bit_depth_luma: u8,
    pub bit_depth_chroma: u8,
    pub qpprime_y_zero_transform_bypass: bool,
    /// seq_scaling_matrix_present_flag (the lists themselves are skipped).
    pub seq_scaling_matrix_present: bool,
    pub log2_max_frame_num: u8,
    pub pic_order_cnt_type: u8,
    /// log2_max_pic_order_cnt_lsb_minus4 + 4 for pic_order_cnt_type 0, else 0.
    pub log2_max_pic_order_cnt_lsb: u8,
    /// num_ref_frames_in_pic_order_cnt_cycle for pic_order_cnt_type 1, else 0.
    pub num_ref_frames_in_pic_order_cnt_cycle: u8,
    pub max_num_ref_frames: u32,
    pub gaps_in_frame_num_value_allowed: bool,
    /// pic_width_in_mbs_minus1 + 1.
    pub pic_width_in_mbs: u32,
    /// pic_height_in_map_units_minus1 + 1.
    pub pic_height_in_map_units: u32,
    pub frame_mbs_only: bool,
    pub mb_adaptive_frame_field: bool,
    pub direct_8x8_inference: bool,
    /// frame_crop_{left,right,top,bottom}_offset when frame_cropping_flag.
    pub frame_cropping: Option<[u32; 4]>,
    pub vui: Option<H264Vui>,
}

impl H264Sps {
    /// How pic_timing is laid out under this SPS (H.264 D.1.3 with the E.2.2 inference of
    /// time_offset_length: 24 only when *no* HRD is present; an HRD that says 0 means 0).
    pub fn pic_timing_layout(&self) -> PicTimingLayout {
        let Some(vui) = &self.vui else {
            return PicTimingLayout {
                cpb_dpb_delay_lengths: None,
                pic_struct_present: false,
                time_offset_length: 24,
            };
        };
        // NAL HRD first, then VCL: the two must agree on these lengths (E.2.2).
        let hrd = vui.nal_hrd.or(vui.vcl_hrd);
        PicTimingLayout {
            cpb_dpb_delay_lengths: hrd
                .map(|h| (h.cpb_removal_delay_length, h.dpb_output_delay_length)),
            pic_struct_present: vui.pic_struct_present,
            time_offset_length: hrd.map_or(24, |h| h.time_offset_length),
        }
    }

    /// The VUI timing info, with H.264's field tick.
    pub fn vui_timing(&self) -> Option<VuiTiming> {
        let timing = self.vui?.timing?;
        Some(VuiTiming {
            num_units_in_tick: timing.num_units_in_tick,
            time_scale: timing.time_scale,
            field_ticks: true,
        })
    }

    /// Parses seq_parameter_set_rbsp() from the RBSP after the NAL unit header.
    pub fn parse(rbsp: &[u8]) -> Result<Self, ParseError> {
        let mut r = BitReader::new(rbsp);
        let mut sps = H264Sps {
            profile_idc: r.u8()?,
            constraint_flags: r.u8()?,
            level_idc: r.u8()?,
            seq_parameter_set_id: r.ue_max(31, "seq_parameter_set_id")? as u8,
            chroma_format_idc: 1,
            bit_depth_luma: 8,
            bit_depth_chroma: 8,
            ..Default::default()
        };
        if HIGH_PROFILES.contains(&sps.profile_idc) {
            sps.chroma_format_idc = r.ue_max(3, "chroma_format_idc")? as u8;
            if sps.chroma_format_idc == 3 {
                sps.separate_colour_plane = r.flag()?;
            }
            sps.bit_depth_luma = r.ue_max(6, "bit_depth_luma_minus8")? as u8 + 8;
            sps.bit_depth_chroma = r.ue_max(6, "bit_depth_chroma_minus8")? as u8 + 8;
            sps.qpprime_y_zero_transform_bypass = r.flag()?;
            sps.seq_scaling_matrix_present = r.flag()?;
            if sps.seq_scaling_matrix_present {
                let list_count = if sps.chroma_format_idc == 3 { 12 } else { 8 };
                for i in 0..list_count {
                    if r.flag()? {
                        skip_scaling_list(&mut r, if i < 6 { 16 } else { 64 })?;
                    }
                }
            }
        }
        sps.log2_max_frame_num = r.ue_max(12, "log2_max_frame_num_minus4")? as u8 + 4;
        sps.pic_order_cnt_type = r.ue_max(2, "pic_order_cnt_type")? as u8;
        match sps.pic_order_cnt_type {
            0 => {
                sps.log2_max_pic_order_cnt_lsb =
                    r.ue_max(12, "log2_max_pic_order_cnt_lsb_minus4")? as u8 + 4;
            }
            1 => {
                r.flag()?; // delta_pic_order_always_zero_flag
                r.se()?; // offset_for_non_ref_pic
                r.se()?; // offset_for_top_to_bottom_field
                sps.num_ref_frames_in_pic_order_cnt_cycle =
                    r.ue_max(255, "num_ref_frames_in_pic_order_cnt_cycle")? as u8;
                for _ in 0..sps.num_ref_frames_in_pic_order_cnt_cycle {
                    r.se()?; // offset_for_ref_frame[i]
                }
            }
            _ => {}
        }
        sps.max_num_ref_frames = r.ue()?;
        sps.gaps_in_frame_num_value_allowed = r.flag()?;
        sps.pic_width_in_mbs = r.ue_max(u32::MAX - 1, "pic_width_in_mbs_minus1")? + 1;
        sps.pic_height_in_map_units = r.ue_max(u32::MAX - 1, "pic_height_in_map_units_minus1")? + 1;
        sps.frame_mbs_only = r.flag()?;
        if !sps.frame_mbs_only {
            sps.mb_adaptive_frame_field = r.flag()?;
        }
        sps.direct_8x8_inference = r.flag()?;
        if r.flag()? {
            sps.frame_cropping = Some([r.ue()?, r.ue()?, r.ue()?, r.ue()?]);
        }
        if r.flag()? {
            sps.vui = Some(H264Vui::read(&mut r)?);
        }
        Ok(sps)
    }
}

/// scaling_list() (H.264 7.3.2.1.1.1): only the delta_scale values are coded; a nextScale of 0
/// ends the list early.
fn skip_scaling_list(r: &mut BitReader<'_>, size: usize) -> Result<(), ParseError> {
    let mut last_scale: i32 = 8;
    let mut next_scale: i32 = 8;
    for _ in 0..size {
        if next_scale != 0 {
            let delta_scale = r.se()?;
            if !(-128..=127).contains(&delta_scale) {
                return Err(ParseError::Invalid("delta_scale"));
            }
            next_scale = (last_scale + delta_scale + 256) % 256;
        }
        if next_scale != 0 {
            last_scale = next_scale;
        }
    }
    Ok(())
}

/// The part of pic_parameter_set_rbsp() this reader needs: pic_parameter_set_id and
/// seq_parameter_set_id (H.264 7.3.2.2).
pub fn parse_pps_ids(rbsp: &[u8]) -> Result<(u8, u8), ParseError> {
    let mut r = BitReader::new(rbsp);
    let pps_id = r.ue_max(255, "pic_parameter_set_id")? as u8;
    let sps_id = r.ue_max(31, "seq_parameter_set_id")? as u8;
    Ok((pps_id, sps_id))
}

/// The first three fields of slice_header() (H.264 7.3.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SliceHeaderStart {
    pub first_mb_in_slice: u32,
    pub slice_type: u8,
    pub pic_parameter_set_id: u8,
}

impl SliceHeaderStart {
    /// Reads from the RBSP after the NAL unit header (a prefix of it is enough).
    pub fn parse(rbsp: &[u8]) -> Result<Self, ParseError> {
        let mut r = BitReader::new(rbsp);
        Ok(SliceHeaderStart {
            first_mb_in_slice: r.ue()?,
            slice_type: r.ue_max(9, "slice_type")? as u8,
            pic_parameter_set_id: r.ue_max(255, "pic_parameter_set_id")? as u8,
        })
    }
}

/// How pic_timing is laid out: what the active SPS says (H.264 D.1.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PicTimingLayout {
    /// (cpb_removal_delay length, dpb_output_delay length) when CpbDpbDelaysPresentFlag.
    pub cpb_dpb_delay_lengths: Option<(u8, u8)>,
    pub pic_struct_present: bool,
    /// Bits of time_offset (0 = absent).
    pub time_offset_length: u8,
}

/// A parsed pic_timing SEI message (H.264 D.1.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PicTiming {
    pub cpb_removal_delay: Option<u32>,
    pub dpb_output_delay: Option<u32>,
    pub pic_struct: Option<u8>,
    /// One entry per clock of Table D-1 (NumClockTS), None where clock_timestamp_flag is 0;
    /// entries past NumClockTS are None.
    pub clock_timestamps: [Option<ClockTimestamp>; 3],
}

impl PicTiming {
    /// Parses a pic_timing payload. Any field out of range (pic_struct > 8, seconds > 59, ...)
    /// rejects the whole message.
    pub fn parse(payload: &[u8], layout: &PicTimingLayout) -> Result<Self, ParseError> {
        let mut r = BitReader::new(payload);
        let mut timing = PicTiming::default();
        if let Some((cpb_len, dpb_len)) = layout.cpb_dpb_delay_lengths {
            timing.cpb_removal_delay = Some(r.u(u32::from(cpb_len))?);
            timing.dpb_output_delay = Some(r.u(u32::from(dpb_len))?);
        }
        if !layout.pic_struct_present {
            return Ok(timing);
        }
        let pic_struct = r.u(4)? as u8;
        let num_clock_ts = *NUM_CLOCK_TS
            .get(usize::from(pic_struct))
            .ok_or(ParseError::Invalid("pic_struct"))?;
        timing.pic_struct = Some(pic_struct);
        for slot in timing
            .clock_timestamps
            .iter_mut()
            .take(usize::from(num_clock_ts))
        {
            if !r.flag()? {
                continue;
            }
            let mut clock = ClockTimestamp {
                ct_type: r.u(2)? as u8,
                nuit_field_based: r.flag()?,
                counting_type: r.u(5)? as u8,
                full_timestamp: r.flag()?,
                discontinuity: r.flag()?,
                cnt_dropped: r.flag()?,
                n_frames: r.u(8)? as u16,
                ..Default::default()
            };
            read_time_of_day(&mut r, &mut clock)?;
            clock.time_offset = r.i(u32::from(layout.time_offset_length))?;
            *slot = Some(clock);
        }
        Ok(timing)
    }

    /// The clocks with clock_timestamp_flag = 1, in order.
    pub fn clocks(&self) -> impl Iterator<Item = &ClockTimestamp> {
        self.clock_timestamps.iter().flatten()
    }
}

/// Reads H.264 access units: keeps SPS (by id) and the PPS → SPS map across access units,
/// and reads the pic_timing clock timestamps of each access unit with its active SPS.
#[derive(Debug, Clone)]
pub struct H264Reader {
    framing: NalFraming,
    sps: Vec<Option<H264Sps>>,
    /// seq_parameter_set_id of each PPS id, or None while the PPS is unknown.
    pps_sps_id: Vec<Option<u8>>,
    /// The SPS parsed last (in-band or codec_data).
    last_sps_id: Option<u8>,
    /// Reused buffer for RBSP with emulation prevention removed.
    rbsp_buf: Vec<u8>,
    /// The pic_timing payload of the current access unit, kept until its SPS is known.
    pending_pic_timing: Vec<u8>,
    /// Faults found in codec_data, reported with the next access unit.
    pending_faults: FaultSet,
}

impl Default for H264Reader {
    fn default() -> Self {
        Self::new()
    }
}

impl H264Reader {
    /// A reader for Annex B input with no parameter sets known.
    pub fn new() -> Self {
        H264Reader {
            framing: NalFraming::AnnexB,
            sps: vec![None; MAX_SPS_COUNT],
            pps_sps_id: vec![None; MAX_PPS_COUNT],
            last_sps_id: None,
            rbsp_buf: Vec::with_capacity(256),
            pending_pic_timing: Vec::with_capacity(32),
            pending_faults: FaultSet::default(),
        }
    }

    /// The SPS with this id, if one was parsed.
    pub fn sps(&self, seq_parameter_set_id: u8) -> Option<&H264Sps> {
        self.sps.get(usize::from(seq_parameter_set_id))?.as_ref()
    }

    /// The SPS parsed last, if any.
    pub fn last_sps(&self) -> Option<&H264Sps> {
        self.sps(self.last_sps_id?)
    }

    /// Parses an SPS or PPS NAL unit (header included) into the reader's state.
    fn handle_parameter_set(&mut self, nal: &[u8]) -> Result<(), ParseError> {
        let Some((&header, payload)) = nal.split_first() else {
            return Ok(());
        };
        let rbsp = unescape_rbsp(payload, &mut self.rbsp_buf);
        match header & 0x1f {
            nal_type::SPS => {
                let sps = H264Sps::parse(rbsp)?;
                let id = sps.seq_parameter_set_id;
                if let Some(slot) = self.sps.get_mut(usize::from(id)) {
                    *slot = Some(sps);
                    self.last_sps_id = Some(id);
                }
            }
            nal_type::PPS => {
                let (pps_id, sps_id) = parse_pps_ids(rbsp)?;
                if let Some(slot) = self.pps_sps_id.get_mut(usize::from(pps_id)) {
                    *slot = Some(sps_id);
                }
            }
            _ => {}
        }
        Ok(())
    }

    /// The first fields of a slice header, read from a window of the slice's first bytes (the
    /// slice's end is not searched). A short window holds them in practice; the long one is
    /// tried only when they do not fit.
    fn read_slice_header_start(
        &mut self,
        nal_start: &[u8],
    ) -> Result<SliceHeaderStart, ParseError> {
        for window_len in [SLICE_HEADER_SHORT_PREFIX, SLICE_HEADER_PREFIX] {
            let window = header_window(nal_start, 1 + window_len);
            let rbsp = unescape_rbsp(window.get(1..).unwrap_or(&[]), &mut self.rbsp_buf);
            match SliceHeaderStart::parse(rbsp) {
                Err(ParseError::Truncated) if window.len() == 1 + window_len => continue,
                result => return result,
            }
        }
        Err(ParseError::Truncated)
    }

    /// The SPS active for an access unit: the SPS of the PPS its first slice names; failing
    /// that (no slice, unknown PPS or SPS), the SPS parsed last.
    fn active_sps(&self, slice_pps_id: Option<u8>) -> Option<&H264Sps> {
        slice_pps_id
            .and_then(|pps_id| *self.pps_sps_id.get(usize::from(pps_id))?)
            .and_then(|sps_id| self.sps(sps_id))
            .or_else(|| self.last_sps())
    }

    /// Parses avcC (ISO/IEC 14496-15 5.3.3.1 AVCDecoderConfigurationRecord), or Annex B
    /// parameter sets if the data starts with a start code, replacing all known parameter
    /// sets. `Err` only when the framing cannot be known (record too short, configurationVersion
    /// not 1, 3-byte NAL sizes); a parameter set that cannot be read, or a record cut short
    /// after its header, keeps the framing and the parameter sets read so far, and is reported
    /// as [`Fault::MalformedParameterSet`] with the next access unit.
    fn parse_codec_data(&mut self, data: &[u8]) -> Result<(), ParseError> {
        let record = super::codec_data::avcc(data)?;
        self.clear_parameter_sets();
        self.framing = record.framing;
        let mut faulty = record.truncated;
        for nal in record.nal_units {
            faulty |= self.handle_parameter_set(nal).is_err();
        }
        self.pending_faults
            .insert_if(faulty, Fault::MalformedParameterSet);
        Ok(())
    }

    fn clear_parameter_sets(&mut self) {
        self.sps.iter_mut().for_each(|s| *s = None);
        self.pps_sps_id.iter_mut().for_each(|p| *p = None);
        self.last_sps_id = None;
    }
}

impl AccessUnitReader for H264Reader {
    fn set_codec_data(&mut self, codec_data: &[u8]) -> Result<(), ParseError> {
        self.parse_codec_data(codec_data)
    }

    fn framing(&self) -> NalFraming {
        self.framing
    }

    fn set_framing(&mut self, framing: NalFraming) {
        self.framing = framing;
    }

    fn read_access_unit(&mut self, data: &[u8]) -> AccessUnitInfo {
        let mut info = AccessUnitInfo::default();
        let mut faults = std::mem::take(&mut self.pending_faults);
        let mut has_pic_timing = false;
        let mut slice_pps_id: Option<u8> = None;
        self.pending_pic_timing.clear();

        let mut units = NalUnits::new(data, self.framing);
        loop {
            // A slice is looked at through a bounded window: searching for its end would scan
            // the whole coded picture, and nothing after the first slice matters (SEI, SPS and
            // PPS of an access unit precede its first VCL NAL unit, H.264 7.4.1.2.3).
            if let Some(nal_start) = units.peek_start()
                && is_slice_with_header(nal_start)
            {
                if nal_start[0] & 0x1f == nal_type::SLICE_IDR {
                    info.keyframe = true;
                }
                match self.read_slice_header_start(nal_start) {
                    Ok(start) => slice_pps_id = Some(start.pic_parameter_set_id),
                    Err(_) => faults.insert(Fault::MalformedNal),
                }
                // Length-prefixed framing is still walked (cheaply) to report a broken size.
                if matches!(units, NalUnits::LengthPrefixed(_)) {
                    units
                        .filter_map(Result::err)
                        .for_each(|fault| faults.insert(fault));
                }
                break;
            }
            let Some(unit) = units.next() else { break };
            let nal = match unit {
                Ok(nal) => nal,
                Err(fault) => {
                    faults.insert(fault);
                    continue;
                }
            };
            let Some((&header, payload)) = nal.split_first() else {
                continue;
            };
            if header & 0x80 != 0 {
                // forbidden_zero_bit set: not a NAL unit we can trust.
                faults.insert(Fault::MalformedNal);
                continue;
            }
            match header & 0x1f {
                nal_type::SPS | nal_type::PPS => {
                    let parsed = self.handle_parameter_set(nal);
                    faults.insert_if(parsed.is_err(), Fault::MalformedParameterSet);
                }
                nal_type::SEI => {
                    let rbsp = unescape_rbsp(payload, &mut self.rbsp_buf);
                    for message in SeiMessages::new(rbsp) {
                        match message {
                            Ok(m) if m.payload_type == PAYLOAD_TYPE_PIC_TIMING => {
                                // One pic_timing per access unit (D.2.3); the first one wins.
                                if !has_pic_timing {
                                    has_pic_timing = true;
                                    self.pending_pic_timing.extend_from_slice(m.payload);
                                }
                            }
                            Ok(_) => {}
                            Err(_) => faults.insert(Fault::MalformedSei),
                        }
                    }
                }
                _ => {}
            }
        }

        let active = self.active_sps(slice_pps_id);
        info.timing = active.and_then(H264Sps::vui_timing);
        if has_pic_timing {
            match active {
                None => faults.insert(Fault::SeiWithoutSps),
                Some(sps) => {
                    match PicTiming::parse(&self.pending_pic_timing, &sps.pic_timing_layout()) {
                        Ok(timing) => {
                            info.pic_struct = timing.pic_struct;
                            info.clocks.extend(timing.clocks());
                        }
                        Err(_) => faults.insert(Fault::MalformedSei),
                    }
                }
            }
        }
        info.faults = faults.to_vec();
        info
    }
}

/// True for a NAL unit that starts with a slice_header(): a coded slice (1), an IDR slice (5)
/// or slice data partition A (2), with forbidden_zero_bit clear.
fn is_slice_with_header(nal: &[u8]) -> bool {
    nal.first().is_some_and(|&header| {
        header & 0x80 == 0
            && matches!(
                header & 0x1f,
                nal_type::SLICE_NON_IDR | nal_type::SLICE_DATA_PARTITION_A | nal_type::SLICE_IDR
            )
    })
}

mod write;
pub use write::*;

#[cfg(test)]
mod tests;
