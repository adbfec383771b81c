// SPDX-License-Identifier: MPL-2.0
//! H.265: the time_code SEI (payloadType 136; H.265 D.2.27 syntax, D.3.27 semantics) and the
//! SPS subset up to the VUI timing info.
//!
//! Unlike H.264 pic_timing, time_code is self-contained: no parameter set is needed to parse
//! it. The SPS is read only for the VUI timing (the frame rate that gives n_frames a meaning),
//! and the active SPS is taken to be the one parsed last.

use super::bits::{BitReader, BitWriter, unescape_rbsp};
use super::nal::{AnnexBNalUnitsRev, NalUnits};
use super::sei::{SeiMessages, read_time_of_day, write_sei_nal, write_time_of_day};
use super::vui::VuiCommon;
use super::{
    AccessUnitInfo, AccessUnitReader, ClockTimestamp, Fault, FaultSet, NalFraming, ParseError,
    VuiTiming,
};

/// nal_unit_type values (H.265 Table 7-1) this reader looks at.
pub mod nal_type {
    /// IRAP pictures are 16..=23 (BLA_W_LP .. RSV_IRAP_VCL23).
    pub const IRAP_FIRST: u8 = 16;
    pub const IRAP_LAST: u8 = 23;
    pub const IDR_W_RADL: u8 = 19;
    pub const TRAIL_R: u8 = 1;
    pub const VPS: u8 = 32;
    pub const SPS: u8 = 33;
    pub const PPS: u8 = 34;
    pub const AUD: u8 = 35;
    pub const PREFIX_SEI: u8 = 39;
    pub const SUFFIX_SEI: u8 = 40;
}

/// SEI payloadType of time_code (H.265 D.2.1).
pub const PAYLOAD_TYPE_TIME_CODE: u32 = 136;

/// sps_seq_parameter_set_id is 0..15 (H.265 7.4.3.2.1).
pub const MAX_SPS_COUNT: usize = 16;

/// The 2-byte NAL unit header (H.265 7.3.1.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NalHeader {
    pub nal_unit_type: u8,
    pub nuh_layer_id: u8,
    pub nuh_temporal_id_plus1: u8,
}

impl NalHeader {
    /// None if the NAL unit is shorter than its header or forbidden_zero_bit is set.
    pub fn parse(nal: &[u8]) -> Option<Self> {
        let (&b0, &b1) = (nal.first()?, nal.get(1)?);
        if b0 & 0x80 != 0 {
            return None;
        }
        Some(NalHeader {
            nal_unit_type: (b0 >> 1) & 0x3f,
            nuh_layer_id: ((b0 & 1) << 5) | (b1 >> 3),
            nuh_temporal_id_plus1: b1 & 0x07,
        })
    }

    /// The two header bytes for a layer-0 NAL unit of this type with temporal id 0.
    pub fn bytes(nal_unit_type: u8) -> [u8; 2] {
        [(nal_unit_type & 0x3f) << 1, 1]
    }
}

/// A parsed time_code SEI message (H.265 D.2.27).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TimeCode {
    /// num_clock_ts (0..=3; 0 is not allowed by D.3.27 but carries nothing and is tolerated).
    pub num_clock_ts: u8,
    /// None where clock_timestamp_flag is 0; entries past num_clock_ts are None.
    pub clock_timestamps: [Option<ClockTimestamp>; 3],
    /// time_offset_length of each clock as coded (0 when absent).
    pub time_offset_lengths: [u8; 3],
}

impl TimeCode {
    /// A time_code with these clocks (at most 3 are used), each time_offset coded in as few
    /// bits as it needs (none when it is 0).
    pub fn new(clocks: &[Option<ClockTimestamp>]) -> Self {
        let mut tc = TimeCode {
            num_clock_ts: clocks.len().min(3) as u8,
            ..Default::default()
        };
        for (i, clock) in clocks.iter().take(3).enumerate() {
            tc.clock_timestamps[i] = *clock;
            tc.time_offset_lengths[i] = clock.map_or(0, |c| minimal_signed_length(c.time_offset));
        }
        tc
    }

    /// Parses a time_code payload. Any field out of range (seconds > 59, ...) rejects the
    /// whole message.
    pub fn parse(payload: &[u8]) -> Result<Self, ParseError> {
        let mut r = BitReader::new(payload);
        let mut tc = TimeCode {
            num_clock_ts: r.u(2)? as u8,
            ..Default::default()
        };
        for i in 0..usize::from(tc.num_clock_ts) {
            if !r.flag()? {
                continue;
            }
            let mut clock = ClockTimestamp {
                // H.265 has no ct_type.
                ct_type: 0,
                nuit_field_based: r.flag()?,
                counting_type: r.u(5)? as u8,
                full_timestamp: r.flag()?,
                discontinuity: r.flag()?,
                cnt_dropped: r.flag()?,
                n_frames: r.u(9)? as u16,
                ..Default::default()
            };
            read_time_of_day(&mut r, &mut clock)?;
            // Inside the clock_timestamp_flag branch (D.2.27; HM and FFmpeg agree, GStreamer
            // reads it outside).
            let time_offset_length = r.u(5)? as u8;
            clock.time_offset = r.i(u32::from(time_offset_length))?;
            tc.time_offset_lengths[i] = time_offset_length;
            tc.clock_timestamps[i] = Some(clock);
        }
        Ok(tc)
    }

    /// The clocks with clock_timestamp_flag = 1, in order.
    pub fn clocks(&self) -> impl Iterator<Item = &ClockTimestamp> {
        self.clock_timestamps.iter().flatten()
    }
}

/// Bits a two's complement field needs for `value` (0 for 0), capped at 31 (u(5)).
fn minimal_signed_length(value: i32) -> u8 {
    if value == 0 {
        return 0;
    }
    let magnitude_bits = if value < 0 {
        32 - (!value).leading_zeros()
    } else {
        32 - value.leading_zeros()
    };
    (magnitude_bits + 1).min(31) as u8
}

/// profile_tier_level(1, sps_max_sub_layers_minus1) general part (H.265 7.3.3); the 48 bits
/// of source and constraint flags and the sub-layer entries are skipped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ProfileTierLevel {
    pub general_profile_space: u8,
    pub general_tier: bool,
    pub general_profile_idc: u8,
    pub general_profile_compatibility_flags: u32,
    pub general_level_idc: u8,
}

impl ProfileTierLevel {
    fn read(r: &mut BitReader<'_>, max_sub_layers_minus1: u8) -> Result<Self, ParseError> {
        let ptl = ProfileTierLevel {
            general_profile_space: r.u(2)? as u8,
            general_tier: r.flag()?,
            general_profile_idc: r.u(5)? as u8,
            general_profile_compatibility_flags: r.u(32)?,
            general_level_idc: {
                // progressive_source, interlaced_source, non_packed_constraint,
                // frame_only_constraint, 43 bits of constraint flags, 1 bit inbld/reserved.
                r.skip(48)?;
                r.u8()?
            },
        };
        let sub_layers = usize::from(max_sub_layers_minus1);
        let mut profile_present = [false; 8];
        let mut level_present = [false; 8];
        for i in 0..sub_layers {
            profile_present[i] = r.flag()?;
            level_present[i] = r.flag()?;
        }
        if sub_layers > 0 {
            // reserved_zero_2bits for i in max_sub_layers_minus1..8.
            r.skip(2 * (8 - sub_layers))?;
        }
        for i in 0..sub_layers {
            if profile_present[i] {
                r.skip(88)?; // sub_layer profile space .. inbld flag
            }
            if level_present[i] {
                r.skip(8)?; // sub_layer_level_idc
            }
        }
        Ok(ptl)
    }
}

/// Upper bound of num_negative_pics / num_positive_pics (sps_max_dec_pic_buffering_minus1 is
/// at most 15, H.265 A.4.2); a predicted set is held to it too.
const MAX_RPS_PICS: usize = 16;

/// A short-term reference picture set's deltas (H.265 7.4.8): DeltaPocS0 (negative, in
/// decreasing order) and DeltaPocS1 (positive, increasing). Only what is needed to derive
/// NumDeltaPocs of the sets predicted from it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ShortTermRefPicSet {
    delta_poc_s0: [i32; MAX_RPS_PICS],
    delta_poc_s1: [i32; MAX_RPS_PICS],
    num_negative: usize,
    num_positive: usize,
}

impl ShortTermRefPicSet {
    /// An explicitly coded set with these deltas (negative ones decreasing, positive ones
    /// increasing; at most 16 of each).
    pub fn explicit(negative: &[i32], positive: &[i32]) -> Self {
        let mut set = ShortTermRefPicSet::default();
        for &d in negative.iter().take(MAX_RPS_PICS) {
            set.delta_poc_s0[set.num_negative] = d;
            set.num_negative += 1;
        }
        for &d in positive.iter().take(MAX_RPS_PICS) {
            set.delta_poc_s1[set.num_positive] = d;
            set.num_positive += 1;
        }
        set
    }

    pub fn negative(&self) -> &[i32] {
        &self.delta_poc_s0[..self.num_negative]
    }

    pub fn positive(&self) -> &[i32] {
        &self.delta_poc_s1[..self.num_positive]
    }

    /// NumDeltaPocs (H.265 7-71).
    pub fn num_delta_pocs(&self) -> usize {
        self.num_negative + self.num_positive
    }

    fn push_negative(&mut self, delta: i32) -> Result<(), ParseError> {
        let slot = self
            .delta_poc_s0
            .get_mut(self.num_negative)
            .ok_or(ParseError::Invalid("num_negative_pics"))?;
        *slot = delta;
        self.num_negative += 1;
        Ok(())
    }

    fn push_positive(&mut self, delta: i32) -> Result<(), ParseError> {
        let slot = self
            .delta_poc_s1
            .get_mut(self.num_positive)
            .ok_or(ParseError::Invalid("num_positive_pics"))?;
        *slot = delta;
        self.num_positive += 1;
        Ok(())
    }

    /// The set predicted from `reference` with deltaRps and use_delta_flag[0..=NumDeltaPocs]
    /// (H.265 7-61 and 7-62).
    pub fn predict(
        reference: &Self,
        delta_rps: i32,
        use_delta: &[bool],
    ) -> Result<Self, ParseError> {
        let used = |j: usize| use_delta.get(j).copied().unwrap_or(true);
        let (ref_neg, ref_pos) = (reference.negative(), reference.positive());
        let n = reference.num_delta_pocs();
        let mut set = ShortTermRefPicSet::default();
        for (j, &d) in ref_pos.iter().enumerate().rev() {
            let d_poc = d + delta_rps;
            if d_poc < 0 && used(ref_neg.len() + j) {
                set.push_negative(d_poc)?;
            }
        }
        if delta_rps < 0 && used(n) {
            set.push_negative(delta_rps)?;
        }
        for (j, &d) in ref_neg.iter().enumerate() {
            let d_poc = d + delta_rps;
            if d_poc < 0 && used(j) {
                set.push_negative(d_poc)?;
            }
        }
        for (j, &d) in ref_neg.iter().enumerate().rev() {
            let d_poc = d + delta_rps;
            if d_poc > 0 && used(j) {
                set.push_positive(d_poc)?;
            }
        }
        if delta_rps > 0 && used(n) {
            set.push_positive(delta_rps)?;
        }
        for (j, &d) in ref_pos.iter().enumerate() {
            let d_poc = d + delta_rps;
            if d_poc > 0 && used(ref_neg.len() + j) {
                set.push_positive(d_poc)?;
            }
        }
        Ok(set)
    }

    /// st_ref_pic_set(stRpsIdx) in an SPS (H.265 7.3.7): `previous` holds sets 0..stRpsIdx.
    /// In the SPS, stRpsIdx < num_short_term_ref_pic_sets, so delta_idx_minus1 is absent and
    /// the reference set is the one just before.
    fn read(r: &mut BitReader<'_>, previous: &[Self]) -> Result<Self, ParseError> {
        let reference = previous.last();
        let inter_ref_pic_set_prediction = reference.is_some() && r.flag()?;
        if let (true, Some(reference)) = (inter_ref_pic_set_prediction, reference) {
            let negative_sign = r.flag()?;
            let abs_delta_rps = r.ue_max((1 << 15) - 1, "abs_delta_rps_minus1")? as i32 + 1;
            let delta_rps = if negative_sign {
                -abs_delta_rps
            } else {
                abs_delta_rps
            };
            let mut use_delta = [true; 2 * MAX_RPS_PICS + 1];
            for flag in use_delta.iter_mut().take(reference.num_delta_pocs() + 1) {
                let used_by_curr_pic = r.flag()?;
                if !used_by_curr_pic {
                    *flag = r.flag()?;
                }
            }
            return Self::predict(reference, delta_rps, &use_delta);
        }
        let num_negative = r.ue_max(MAX_RPS_PICS as u32, "num_negative_pics")? as usize;
        let num_positive = r.ue_max(MAX_RPS_PICS as u32, "num_positive_pics")? as usize;
        let mut set = ShortTermRefPicSet::default();
        let mut poc = 0i32;
        for _ in 0..num_negative {
            poc -= r.ue_max((1 << 15) - 1, "delta_poc_s0_minus1")? as i32 + 1;
            r.flag()?; // used_by_curr_pic_s0_flag
            set.push_negative(poc)?;
        }
        poc = 0;
        for _ in 0..num_positive {
            poc += r.ue_max((1 << 15) - 1, "delta_poc_s1_minus1")? as i32 + 1;
            r.flag()?; // used_by_curr_pic_s1_flag
            set.push_positive(poc)?;
        }
        Ok(set)
    }

    /// Writes this set explicitly (inter_ref_pic_set_prediction_flag 0 when `index` > 0).
    fn write_explicit(&self, w: &mut BitWriter, index: usize) {
        if index > 0 {
            w.flag(false);
        }
        w.ue(self.num_negative as u32).ue(self.num_positive as u32);
        let mut prev = 0;
        for &d in self.negative() {
            w.ue((prev - d - 1).max(0) as u32).flag(true);
            prev = d;
        }
        prev = 0;
        for &d in self.positive() {
            w.ue((d - prev - 1).max(0) as u32).flag(true);
            prev = d;
        }
    }
}

/// skip sps_scaling_list_data / scaling_list_data() (H.265 7.3.4).
fn skip_scaling_list_data(r: &mut BitReader<'_>) -> Result<(), ParseError> {
    for size_id in 0..4u32 {
        let step = if size_id == 3 { 3 } else { 1 };
        for _matrix_id in (0..6).step_by(step) {
            if !r.flag()? {
                // scaling_list_pred_mode_flag 0: scaling_list_pred_matrix_id_delta.
                r.ue_max(5, "scaling_list_pred_matrix_id_delta")?;
            } else {
                let coef_num = 64.min(1 << (4 + (size_id << 1)));
                if size_id > 1 {
                    r.se()?; // scaling_list_dc_coef_minus8
                }
                for _ in 0..coef_num {
                    r.se()?; // scaling_list_delta_coef
                }
            }
        }
    }
    Ok(())
}

/// pcm parameters of the SPS (present when pcm_enabled_flag).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PcmParameters {
    pub pcm_sample_bit_depth_luma: u8,
    pub pcm_sample_bit_depth_chroma: u8,
    pub log2_min_pcm_luma_coding_block_size: u8,
    pub log2_diff_max_min_pcm_luma_coding_block_size: u8,
    pub pcm_loop_filter_disabled: bool,
}

/// vui_parameters() up to the timing info (H.265 E.2.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct H265Vui {
    pub common: VuiCommon,
    pub neutral_chroma_indication: bool,
    pub field_seq: bool,
    pub frame_field_info_present: bool,
    /// def_disp_win_{left,right,top,bottom}_offset when default_display_window_flag.
    pub default_display_window: Option<[u32; 4]>,
    /// (vui_num_units_in_tick, vui_time_scale) when vui_timing_info_present_flag.
    pub timing: Option<(u32, u32)>,
}

impl H265Vui {
    fn read(r: &mut BitReader<'_>) -> Result<Self, ParseError> {
        let common = VuiCommon::read(r)?;
        let neutral_chroma_indication = r.flag()?;
        let field_seq = r.flag()?;
        let frame_field_info_present = r.flag()?;
        let default_display_window = if r.flag()? {
            Some([r.ue()?, r.ue()?, r.ue()?, r.ue()?])
        } else {
            None
        };
        let timing = if r.flag()? {
            Some((r.u(32)?, r.u(32)?))
        } else {
            None
        };
        Ok(H265Vui {
            common,
            neutral_chroma_indication,
            field_seq,
            frame_field_info_present,
            default_display_window,
            timing,
        })
    }
}

/// seq_parameter_set_rbsp() up to the VUI timing info (H.265 7.3.2.2.1). Sizes are stored as
/// values (`..._minus8 + 8` etc.).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct H265Sps {
    pub sps_video_parameter_set_id: u8,
    pub sps_max_sub_layers_minus1: u8,
    pub sps_temporal_id_nesting: bool,
    pub profile_tier_level: ProfileTierLevel,
    pub sps_seq_parameter_set_id: u8,
    pub chroma_format_idc: u8,
    pub separate_colour_plane: bool,
    pub pic_width_in_luma_samples: u32,
    pub pic_height_in_luma_samples: u32,
    /// conf_win_{left,right,top,bottom}_offset when conformance_window_flag.
    pub conformance_window: Option<[u32; 4]>,
    pub bit_depth_luma: u8,
    pub bit_depth_chroma: u8,
    pub log2_max_pic_order_cnt_lsb: u8,
    pub sps_sub_layer_ordering_info_present: bool,
    pub log2_min_luma_coding_block_size: u8,
    pub log2_diff_max_min_luma_coding_block_size: u8,
    pub log2_min_luma_transform_block_size: u8,
    pub log2_diff_max_min_luma_transform_block_size: u8,
    pub max_transform_hierarchy_depth_inter: u8,
    pub max_transform_hierarchy_depth_intra: u8,
    pub scaling_list_enabled: bool,
    /// sps_scaling_list_data_present_flag (the lists are skipped).
    pub sps_scaling_list_data_present: bool,
    pub amp_enabled: bool,
    pub sample_adaptive_offset_enabled: bool,
    pub pcm: Option<PcmParameters>,
    pub num_short_term_ref_pic_sets: u8,
    /// num_long_term_ref_pics_sps when long_term_ref_pics_present_flag.
    pub num_long_term_ref_pics_sps: Option<u8>,
    pub sps_temporal_mvp_enabled: bool,
    pub strong_intra_smoothing_enabled: bool,
    pub vui: Option<H265Vui>,
}

impl H265Sps {
    /// The VUI timing info, with H.265's frame (not field) tick.
    pub fn vui_timing(&self) -> Option<VuiTiming> {
        let (num_units_in_tick, time_scale) = self.vui?.timing?;
        Some(VuiTiming {
            num_units_in_tick,
            time_scale,
            field_ticks: false,
        })
    }

    /// Parses seq_parameter_set_rbsp() from the RBSP after the 2-byte NAL unit header.
    pub fn parse(rbsp: &[u8]) -> Result<Self, ParseError> {
        let mut r = BitReader::new(rbsp);
        let mut sps = H265Sps {
            sps_video_parameter_set_id: r.u(4)? as u8,
            sps_max_sub_layers_minus1: r.u(3)? as u8,
            sps_temporal_id_nesting: r.flag()?,
            ..Default::default()
        };
        if sps.sps_max_sub_layers_minus1 > 6 {
            return Err(ParseError::Invalid("sps_max_sub_layers_minus1"));
        }
        sps.profile_tier_level = ProfileTierLevel::read(&mut r, sps.sps_max_sub_layers_minus1)?;
        sps.sps_seq_parameter_set_id = r.ue_max(15, "sps_seq_parameter_set_id")? as u8;
        sps.chroma_format_idc = r.ue_max(3, "chroma_format_idc")? as u8;
        if sps.chroma_format_idc == 3 {
            sps.separate_colour_plane = r.flag()?;
        }
        sps.pic_width_in_luma_samples = r.ue()?;
        sps.pic_height_in_luma_samples = r.ue()?;
        if r.flag()? {
            sps.conformance_window = Some([r.ue()?, r.ue()?, r.ue()?, r.ue()?]);
        }
        sps.bit_depth_luma = r.ue_max(8, "bit_depth_luma_minus8")? as u8 + 8;
        sps.bit_depth_chroma = r.ue_max(8, "bit_depth_chroma_minus8")? as u8 + 8;
        sps.log2_max_pic_order_cnt_lsb =
            r.ue_max(12, "log2_max_pic_order_cnt_lsb_minus4")? as u8 + 4;
        sps.sps_sub_layer_ordering_info_present = r.flag()?;
        let first_sub_layer = if sps.sps_sub_layer_ordering_info_present {
            0
        } else {
            sps.sps_max_sub_layers_minus1
        };
        for _ in first_sub_layer..=sps.sps_max_sub_layers_minus1 {
            r.ue()?; // sps_max_dec_pic_buffering_minus1
            r.ue()?; // sps_max_num_reorder_pics
            r.ue()?; // sps_max_latency_increase_plus1
        }
        // CtbLog2SizeY is at most 6 and the minimum coding block at least 8 (7.4.3.2.1); the
        // bounds here only keep the u8 fields meaningful.
        sps.log2_min_luma_coding_block_size =
            r.ue_max(3, "log2_min_luma_coding_block_size_minus3")? as u8 + 3;
        sps.log2_diff_max_min_luma_coding_block_size =
            r.ue_max(3, "log2_diff_max_min_luma_coding_block_size")? as u8;
        sps.log2_min_luma_transform_block_size =
            r.ue_max(3, "log2_min_luma_transform_block_size_minus2")? as u8 + 2;
        sps.log2_diff_max_min_luma_transform_block_size =
            r.ue_max(3, "log2_diff_max_min_luma_transform_block_size")? as u8;
        sps.max_transform_hierarchy_depth_inter =
            r.ue_max(4, "max_transform_hierarchy_depth_inter")? as u8;
        sps.max_transform_hierarchy_depth_intra =
            r.ue_max(4, "max_transform_hierarchy_depth_intra")? as u8;
        sps.scaling_list_enabled = r.flag()?;
        if sps.scaling_list_enabled {
            sps.sps_scaling_list_data_present = r.flag()?;
            if sps.sps_scaling_list_data_present {
                skip_scaling_list_data(&mut r)?;
            }
        }
        sps.amp_enabled = r.flag()?;
        sps.sample_adaptive_offset_enabled = r.flag()?;
        if r.flag()? {
            sps.pcm = Some(PcmParameters {
                pcm_sample_bit_depth_luma: r.u(4)? as u8 + 1,
                pcm_sample_bit_depth_chroma: r.u(4)? as u8 + 1,
                log2_min_pcm_luma_coding_block_size: r
                    .ue_max(2, "log2_min_pcm_luma_coding_block_size_minus3")?
                    as u8
                    + 3,
                log2_diff_max_min_pcm_luma_coding_block_size: r
                    .ue_max(2, "log2_diff_max_min_pcm_luma_coding_block_size")?
                    as u8,
                pcm_loop_filter_disabled: r.flag()?,
            });
        }
        sps.num_short_term_ref_pic_sets = r.ue_max(64, "num_short_term_ref_pic_sets")? as u8;
        let mut sets = [ShortTermRefPicSet::default(); 64];
        for i in 0..usize::from(sps.num_short_term_ref_pic_sets) {
            sets[i] = ShortTermRefPicSet::read(&mut r, &sets[..i])?;
        }
        if r.flag()? {
            let count = r.ue_max(32, "num_long_term_ref_pics_sps")? as u8;
            for _ in 0..count {
                r.u(u32::from(sps.log2_max_pic_order_cnt_lsb))?; // lt_ref_pic_poc_lsb_sps
                r.flag()?; // used_by_curr_pic_lt_sps_flag
            }
            sps.num_long_term_ref_pics_sps = Some(count);
        }
        sps.sps_temporal_mvp_enabled = r.flag()?;
        sps.strong_intra_smoothing_enabled = r.flag()?;
        if r.flag()? {
            sps.vui = Some(H265Vui::read(&mut r)?);
        }
        Ok(sps)
    }
}

/// Reads H.265 access units: keeps the SPS (for the VUI timing) and reads the time_code SEI.
#[derive(Debug, Clone)]
pub struct H265Reader {
    framing: NalFraming,
    sps: Vec<Option<H265Sps>>,
    last_sps_id: Option<u8>,
    /// Reused buffer for RBSP with emulation prevention removed.
    rbsp_buf: Vec<u8>,
    /// Faults found in codec_data, reported with the next access unit.
    pending_faults: FaultSet,
}

impl Default for H265Reader {
    fn default() -> Self {
        Self::new()
    }
}

impl H265Reader {
    /// A reader for Annex B input with no parameter sets known.
    pub fn new() -> Self {
        H265Reader {
            framing: NalFraming::AnnexB,
            sps: vec![None; MAX_SPS_COUNT],
            last_sps_id: None,
            rbsp_buf: Vec::with_capacity(256),
            pending_faults: FaultSet::default(),
        }
    }

    /// The SPS with this id, if one was parsed.
    pub fn sps(&self, sps_seq_parameter_set_id: u8) -> Option<&H265Sps> {
        self.sps
            .get(usize::from(sps_seq_parameter_set_id))?
            .as_ref()
    }

    /// The SPS parsed last (the one taken as active), if any.
    pub fn last_sps(&self) -> Option<&H265Sps> {
        self.sps(self.last_sps_id?)
    }

    /// Parses an SPS NAL unit (header included; other types are ignored) into the state.
    fn handle_parameter_set(&mut self, nal: &[u8]) -> Result<(), ParseError> {
        let header = NalHeader::parse(nal).ok_or(ParseError::Invalid("NAL unit header"))?;
        if header.nal_unit_type != nal_type::SPS || header.nuh_layer_id != 0 {
            return Ok(());
        }
        let rbsp = unescape_rbsp(nal.get(2..).unwrap_or(&[]), &mut self.rbsp_buf);
        let sps = H265Sps::parse(rbsp)?;
        let id = sps.sps_seq_parameter_set_id;
        if let Some(slot) = self.sps.get_mut(usize::from(id)) {
            *slot = Some(sps);
            self.last_sps_id = Some(id);
        }
        Ok(())
    }

    /// Parses hvcC (ISO/IEC 14496-15 8.3.3.1 HEVCDecoderConfigurationRecord), or Annex B
    /// parameter sets if the data starts with a start code, replacing all known parameter
    /// sets. `Err` only when the framing cannot be known (record shorter than its 23-byte
    /// header, 3-byte NAL sizes); a parameter set that cannot be read, or a record cut short
    /// after its header, keeps the framing and the SPS read so far, and is reported as
    /// [`Fault::MalformedParameterSet`] with the next access unit.
    fn parse_codec_data(&mut self, data: &[u8]) -> Result<(), ParseError> {
        let record = super::codec_data::hvcc(data)?;
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
        self.last_sps_id = None;
    }
}

impl AccessUnitReader for H265Reader {
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
        // The first time_code message of the access unit, read or not.
        let mut prefix_time_code: Option<Result<TimeCode, ParseError>> = None;
        let mut suffix_time_code: Option<Result<TimeCode, ParseError>> = None;

        let mut units = NalUnits::new(data, self.framing);
        let mut first_vcl_offset = None;
        loop {
            // The first VCL NAL unit is looked at only through its header: searching for its
            // end would scan the coded picture. Parameter sets and prefix SEI precede it
            // (H.265 7.4.2.4.4); suffix SEI follow the slices and are reached from the end.
            if let Some(nal_start) = units.peek_start()
                && let Some(header) = NalHeader::parse(nal_start)
                && header.nal_unit_type < 32
            {
                if (nal_type::IRAP_FIRST..=nal_type::IRAP_LAST).contains(&header.nal_unit_type) {
                    info.keyframe = true;
                }
                first_vcl_offset = Some(nal_start.as_ptr() as usize - data.as_ptr() as usize);
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
            let Some(header) = NalHeader::parse(nal) else {
                faults.insert(Fault::MalformedNal);
                continue;
            };
            // Other layers (multi-layer extensions) have their own SPS syntax; not needed.
            if header.nuh_layer_id != 0 {
                continue;
            }
            match header.nal_unit_type {
                nal_type::SPS => {
                    let parsed = self.handle_parameter_set(nal);
                    faults.insert_if(parsed.is_err(), Fault::MalformedParameterSet);
                }
                nal_type::PREFIX_SEI | nal_type::SUFFIX_SEI => {
                    self.read_sei(nal, &mut prefix_time_code, false, &mut faults);
                }
                _ => {}
            }
        }

        if let Some(offset) = first_vcl_offset {
            match units {
                NalUnits::AnnexB(_) => {
                    // Backwards from the end to the last slice: the suffix SEI of the picture
                    // (H.265 7.4.2.4.4). The earliest time_code is read last and replaces
                    // later ones. Suffix SEI between two slices of a picture are not seen.
                    for nal in AnnexBNalUnitsRev::new(data, offset + 1) {
                        let Some(header) = NalHeader::parse(nal) else {
                            faults.insert(Fault::MalformedNal);
                            continue;
                        };
                        if header.nal_unit_type < 32 {
                            break;
                        }
                        if header.nal_unit_type == nal_type::SUFFIX_SEI && header.nuh_layer_id == 0
                        {
                            self.read_sei(nal, &mut suffix_time_code, true, &mut faults);
                        }
                    }
                }
                NalUnits::LengthPrefixed(ref mut rest) => {
                    // Walking the sizes is cheap; only suffix SEI after the last slice count,
                    // as for Annex B.
                    for unit in rest {
                        match unit.map(|nal| (nal, NalHeader::parse(nal))) {
                            Ok((_, Some(h))) if h.nal_unit_type < 32 => suffix_time_code = None,
                            Ok((nal, Some(h)))
                                if h.nal_unit_type == nal_type::SUFFIX_SEI
                                    && h.nuh_layer_id == 0 =>
                            {
                                self.read_sei(nal, &mut suffix_time_code, false, &mut faults);
                            }
                            Ok((_, Some(_))) => {}
                            Ok((_, None)) => faults.insert(Fault::MalformedNal),
                            Err(fault) => faults.insert(fault),
                        }
                    }
                }
            }
        }

        match prefix_time_code.or(suffix_time_code) {
            Some(Ok(tc)) => info.clocks.extend(tc.clocks()),
            Some(Err(_)) => faults.insert(Fault::MalformedSei),
            None => {}
        }
        info.timing = self.last_sps().and_then(H265Sps::vui_timing);
        info.faults = faults.to_vec();
        info
    }
}

impl H265Reader {
    /// Reads the messages of an SEI NAL unit (header included): the first time_code message
    /// goes to `time_code` unless it already holds one (or always, with `replace`); framing
    /// errors are noted in `faults`.
    fn read_sei(
        &mut self,
        nal: &[u8],
        time_code: &mut Option<Result<TimeCode, ParseError>>,
        replace: bool,
        faults: &mut FaultSet,
    ) {
        let rbsp = unescape_rbsp(nal.get(2..).unwrap_or(&[]), &mut self.rbsp_buf);
        let mut seen_in_this_nal = false;
        for message in SeiMessages::new(rbsp) {
            match message {
                Ok(m) if m.payload_type == PAYLOAD_TYPE_TIME_CODE => {
                    if !seen_in_this_nal && (replace || time_code.is_none()) {
                        *time_code = Some(TimeCode::parse(m.payload));
                    }
                    seen_in_this_nal = true;
                }
                Ok(_) => {}
                Err(_) => faults.insert(Fault::MalformedSei),
            }
        }
    }
}

mod write;
pub use write::*;

#[cfg(test)]
mod tests;
