// SPDX-License-Identifier: MPL-2.0
//! The H.264 writers: parameter sets, slices and SEI messages as bytes, for building test
//! streams, fuzz seeds and (with `timecodeparse insert-sei`) the timecodes lockstep writes.

use super::*;

impl H264Hrd {
    pub(super) fn write(&self, w: &mut BitWriter) {
        let cpb_cnt = self.cpb_cnt.clamp(1, 32);
        w.ue(u32::from(cpb_cnt) - 1);
        w.u(4, u32::from(self.bit_rate_scale))
            .u(4, u32::from(self.cpb_size_scale));
        for i in 0..u32::from(cpb_cnt) {
            // Arbitrary but plausible values; the reader skips them.
            w.ue(1000 * (i + 1)).ue(2000 * (i + 1)).flag(i % 2 == 1);
        }
        for length in [
            self.initial_cpb_removal_delay_length,
            self.cpb_removal_delay_length,
            self.dpb_output_delay_length,
        ] {
            w.u(5, u32::from(length.clamp(1, 32)) - 1);
        }
        w.u(5, u32::from(self.time_offset_length));
    }
}

impl H264Vui {
    pub(super) fn write(&self, w: &mut BitWriter) {
        self.common.write(w);
        w.flag(self.timing.is_some());
        if let Some(timing) = self.timing {
            w.u(32, timing.num_units_in_tick).u(32, timing.time_scale);
            w.flag(timing.fixed_frame_rate);
        }
        for hrd in [self.nal_hrd, self.vcl_hrd] {
            w.flag(hrd.is_some());
            if let Some(hrd) = hrd {
                hrd.write(w);
            }
        }
        if self.nal_hrd.is_some() || self.vcl_hrd.is_some() {
            w.flag(self.low_delay_hrd);
        }
        w.flag(self.pic_struct_present);
        w.flag(false); // bitstream_restriction_flag
    }
}

impl H264Sps {
    /// A plausible Baseline 320x180 SPS without VUI; a starting point for building test
    /// streams.
    pub fn example(seq_parameter_set_id: u8) -> Self {
        H264Sps {
            profile_idc: 66,
            constraint_flags: 0xc0,
            level_idc: 21,
            seq_parameter_set_id,
            chroma_format_idc: 1,
            bit_depth_luma: 8,
            bit_depth_chroma: 8,
            log2_max_frame_num: 4,
            log2_max_pic_order_cnt_lsb: 6,
            max_num_ref_frames: 1,
            pic_width_in_mbs: 20,
            pic_height_in_map_units: 12,
            frame_mbs_only: true,
            direct_8x8_inference: true,
            frame_cropping: Some([0, 0, 0, 6]),
            ..Default::default()
        }
    }

    /// The escaped SPS NAL unit (header `67`), for building test streams. Scaling lists, when
    /// `seq_scaling_matrix_present` is set (high profiles only), are written with a fixed
    /// pattern that covers explicit lists, absent lists and the early end of a list
    /// (useDefaultScalingMatrixFlag).
    pub fn to_nal(&self) -> Vec<u8> {
        let mut w = BitWriter::new();
        w.u(8, u32::from(self.profile_idc))
            .u(8, u32::from(self.constraint_flags))
            .u(8, u32::from(self.level_idc))
            .ue(u32::from(self.seq_parameter_set_id));
        if HIGH_PROFILES.contains(&self.profile_idc) {
            w.ue(u32::from(self.chroma_format_idc));
            if self.chroma_format_idc == 3 {
                w.flag(self.separate_colour_plane);
            }
            w.ue(u32::from(self.bit_depth_luma.saturating_sub(8)))
                .ue(u32::from(self.bit_depth_chroma.saturating_sub(8)))
                .flag(self.qpprime_y_zero_transform_bypass)
                .flag(self.seq_scaling_matrix_present);
            if self.seq_scaling_matrix_present {
                let list_count = if self.chroma_format_idc == 3 { 12 } else { 8 };
                for i in 0..list_count {
                    let present = i % 3 != 1;
                    w.flag(present);
                    if present {
                        write_scaling_list(&mut w, if i < 6 { 16 } else { 64 }, i);
                    }
                }
            }
        }
        w.ue(u32::from(self.log2_max_frame_num.saturating_sub(4)))
            .ue(u32::from(self.pic_order_cnt_type));
        match self.pic_order_cnt_type {
            0 => {
                w.ue(u32::from(self.log2_max_pic_order_cnt_lsb.saturating_sub(4)));
            }
            1 => {
                w.flag(false).se(-1).se(1);
                w.ue(u32::from(self.num_ref_frames_in_pic_order_cnt_cycle));
                for i in 0..i32::from(self.num_ref_frames_in_pic_order_cnt_cycle) {
                    w.se(2 * i - 3);
                }
            }
            _ => {}
        }
        w.ue(self.max_num_ref_frames)
            .flag(self.gaps_in_frame_num_value_allowed)
            .ue(self.pic_width_in_mbs.saturating_sub(1))
            .ue(self.pic_height_in_map_units.saturating_sub(1))
            .flag(self.frame_mbs_only);
        if !self.frame_mbs_only {
            w.flag(self.mb_adaptive_frame_field);
        }
        w.flag(self.direct_8x8_inference);
        w.flag(self.frame_cropping.is_some());
        if let Some(offsets) = self.frame_cropping {
            for offset in offsets {
                w.ue(offset);
            }
        }
        w.flag(self.vui.is_some());
        if let Some(vui) = &self.vui {
            vui.write(&mut w);
        }
        w.rbsp_trailing_bits();
        let mut nal = vec![0x60 | nal_type::SPS];
        nal.extend_from_slice(&w.to_nal_payload());
        nal
    }
}

impl PicTiming {
    /// The pic_timing payload (with payload alignment bits) under `layout`. Writes
    /// NumClockTS(pic_struct) clock slots; a missing `pic_struct` is written as 0 when the
    /// layout has one. Values are written as given (time_offset in time_offset_length bits, the
    /// H.264 fields in their widths), so out-of-range values are a caller bug.
    pub fn to_payload(&self, layout: &PicTimingLayout) -> Vec<u8> {
        let mut w = BitWriter::new();
        if let Some((cpb_len, dpb_len)) = layout.cpb_dpb_delay_lengths {
            w.u(u32::from(cpb_len), self.cpb_removal_delay.unwrap_or(0));
            w.u(u32::from(dpb_len), self.dpb_output_delay.unwrap_or(0));
        }
        if layout.pic_struct_present {
            let pic_struct = self.pic_struct.unwrap_or(0);
            w.u(4, u32::from(pic_struct));
            let num_clock_ts = NUM_CLOCK_TS
                .get(usize::from(pic_struct))
                .copied()
                .unwrap_or(0);
            for slot in self.clock_timestamps.iter().take(usize::from(num_clock_ts)) {
                w.flag(slot.is_some());
                let Some(clock) = slot else { continue };
                w.u(2, u32::from(clock.ct_type))
                    .flag(clock.nuit_field_based)
                    .u(5, u32::from(clock.counting_type))
                    .flag(clock.full_timestamp)
                    .flag(clock.discontinuity)
                    .flag(clock.cnt_dropped)
                    .u(8, u32::from(clock.n_frames));
                write_time_of_day(&mut w, clock);
                w.i(u32::from(layout.time_offset_length), clock.time_offset);
            }
        }
        w.sei_payload_alignment();
        w.into_bytes()
    }

    /// An SEI NAL unit (header `06`) holding only this pic_timing message.
    pub fn to_sei_nal(&self, layout: &PicTimingLayout) -> Vec<u8> {
        write_sei_nal(
            &[nal_type::SEI],
            &[(PAYLOAD_TYPE_PIC_TIMING, &self.to_payload(layout))],
        )
    }
}

/// Writes a scaling list that [`skip_scaling_list`] reads: list `index` 2 stops at once
/// (delta −8 makes nextScale 0), the others run their full size with varying deltas.
pub(super) fn write_scaling_list(w: &mut BitWriter, size: usize, index: usize) {
    let mut last_scale: i32 = 8;
    let mut next_scale: i32 = 8;
    for j in 0..size {
        if next_scale != 0 {
            let delta = if index == 2 {
                -8
            } else {
                ((j * 7 + index) % 11) as i32 - 5
            };
            // Keep the scale in 1..=255 so the list does not end by accident.
            let delta = if index != 2 && (last_scale + delta) <= 0 {
                1
            } else {
                delta
            };
            w.se(delta);
            next_scale = (last_scale + delta + 256) % 256;
        }
        if next_scale != 0 {
            last_scale = next_scale;
        }
    }
}

/// A minimal valid PPS NAL unit (CAVLC, one slice group), for building test streams.
pub fn pps_nal(pic_parameter_set_id: u8, seq_parameter_set_id: u8) -> Vec<u8> {
    let mut w = BitWriter::new();
    w.ue(u32::from(pic_parameter_set_id))
        .ue(u32::from(seq_parameter_set_id))
        .flag(false) // entropy_coding_mode_flag
        .flag(false) // bottom_field_pic_order_in_frame_present_flag
        .ue(0) // num_slice_groups_minus1
        .ue(0) // num_ref_idx_l0_default_active_minus1
        .ue(0) // num_ref_idx_l1_default_active_minus1
        .flag(false) // weighted_pred_flag
        .u(2, 0) // weighted_bipred_idc
        .se(0) // pic_init_qp_minus26
        .se(0) // pic_init_qs_minus26
        .se(0) // chroma_qp_index_offset
        .flag(true) // deblocking_filter_control_present_flag
        .flag(false) // constrained_intra_pred_flag
        .flag(false) // redundant_pic_cnt_present_flag
        .rbsp_trailing_bits();
    let mut nal = vec![0x60 | nal_type::PPS];
    nal.extend_from_slice(&w.to_nal_payload());
    nal
}

/// The start of a slice NAL unit (an I slice with first_mb_in_slice 0 of an IDR picture, or a
/// P slice of a non-IDR picture) followed by filler bits; enough for the reader, not for a
/// decoder. For building test streams.
pub fn slice_nal(idr: bool, pic_parameter_set_id: u8) -> Vec<u8> {
    let mut w = BitWriter::new();
    w.ue(0) // first_mb_in_slice
        .ue(if idr { 7 } else { 5 }) // slice_type: I or P, all slices of the picture
        .ue(u32::from(pic_parameter_set_id))
        .u(32, 0x0000_0001) // the rest of a slice: contains 00 00 00 to exercise escaping
        .u(16, 0xbeef)
        .rbsp_trailing_bits();
    let header = if idr {
        0x60 | nal_type::SLICE_IDR
    } else {
        0x40 | nal_type::SLICE_NON_IDR
    };
    let mut nal = vec![header];
    nal.extend_from_slice(&w.to_nal_payload());
    nal
}
