// SPDX-License-Identifier: MPL-2.0
//! The H.265 writers: parameter sets, slices and SEI messages as bytes, for building test
//! streams, fuzz seeds and (with `timecodeparse insert-sei`) the timecodes lockstep writes.

use super::*;

impl ProfileTierLevel {
    pub(super) fn write(&self, w: &mut BitWriter, max_sub_layers_minus1: u8) {
        w.u(2, u32::from(self.general_profile_space))
            .flag(self.general_tier)
            .u(5, u32::from(self.general_profile_idc))
            .u(32, self.general_profile_compatibility_flags)
            .flag(true) // general_progressive_source_flag
            .flag(false) // general_interlaced_source_flag
            .flag(false) // general_non_packed_constraint_flag
            .flag(true) // general_frame_only_constraint_flag
            .u(32, 0)
            .u(12, 0)
            .u(8, u32::from(self.general_level_idc));
        let sub_layers = u32::from(max_sub_layers_minus1.min(7));
        // Sub-layer i has a profile when i is even and always a level.
        for i in 0..sub_layers {
            w.flag(i % 2 == 0).flag(true);
        }
        if sub_layers > 0 {
            w.u(2 * (8 - sub_layers), 0);
        }
        for i in 0..sub_layers {
            if i % 2 == 0 {
                w.u(32, 0x1234_5678).u(32, 0x9abc_def0).u(24, 0x00_0001);
            }
            w.u(8, 90);
        }
    }
}

impl H265Vui {
    pub(super) fn write(&self, w: &mut BitWriter) {
        self.common.write(w);
        w.flag(self.neutral_chroma_indication)
            .flag(self.field_seq)
            .flag(self.frame_field_info_present);
        w.flag(self.default_display_window.is_some());
        if let Some(offsets) = self.default_display_window {
            for offset in offsets {
                w.ue(offset);
            }
        }
        w.flag(self.timing.is_some());
        if let Some((num_units_in_tick, time_scale)) = self.timing {
            w.u(32, num_units_in_tick).u(32, time_scale);
            w.flag(false); // vui_poc_proportional_to_timing_flag
            w.flag(false); // vui_hrd_parameters_present_flag
        }
        w.flag(false); // bitstream_restriction_flag
    }
}

impl H265Sps {
    /// A plausible Main-profile 320x180 SPS without VUI; a starting point for building test
    /// streams.
    pub fn example(sps_seq_parameter_set_id: u8) -> Self {
        H265Sps {
            profile_tier_level: ProfileTierLevel {
                general_profile_idc: 1,
                general_profile_compatibility_flags: 0x6000_0000,
                general_level_idc: 60,
                ..Default::default()
            },
            sps_seq_parameter_set_id,
            chroma_format_idc: 1,
            pic_width_in_luma_samples: 320,
            pic_height_in_luma_samples: 184,
            conformance_window: Some([0, 0, 0, 2]),
            bit_depth_luma: 8,
            bit_depth_chroma: 8,
            log2_max_pic_order_cnt_lsb: 8,
            sps_sub_layer_ordering_info_present: true,
            log2_min_luma_coding_block_size: 3,
            log2_diff_max_min_luma_coding_block_size: 3,
            log2_min_luma_transform_block_size: 2,
            log2_diff_max_min_luma_transform_block_size: 3,
            max_transform_hierarchy_depth_inter: 1,
            max_transform_hierarchy_depth_intra: 1,
            amp_enabled: true,
            sample_adaptive_offset_enabled: true,
            num_short_term_ref_pic_sets: 1,
            sps_temporal_mvp_enabled: true,
            strong_intra_smoothing_enabled: true,
            ..Default::default()
        }
    }

    /// The escaped SPS NAL unit (header `42 01`), for building test streams. Short-term
    /// reference picture sets are written with a fixed pattern: even sets explicit, odd sets
    /// predicted from the one before (deltaRps −1, the first entry dropped through
    /// use_delta_flag) — explicit set i has 1 + i % 3 negative and i / 2 % 3 positive pictures.
    pub fn to_nal(&self) -> Vec<u8> {
        let mut w = BitWriter::new();
        let sub_layers_minus1 = self.sps_max_sub_layers_minus1.min(6);
        w.u(4, u32::from(self.sps_video_parameter_set_id))
            .u(3, u32::from(sub_layers_minus1))
            .flag(self.sps_temporal_id_nesting);
        self.profile_tier_level.write(&mut w, sub_layers_minus1);
        w.ue(u32::from(self.sps_seq_parameter_set_id))
            .ue(u32::from(self.chroma_format_idc));
        if self.chroma_format_idc == 3 {
            w.flag(self.separate_colour_plane);
        }
        w.ue(self.pic_width_in_luma_samples)
            .ue(self.pic_height_in_luma_samples);
        w.flag(self.conformance_window.is_some());
        if let Some(offsets) = self.conformance_window {
            for offset in offsets {
                w.ue(offset);
            }
        }
        w.ue(u32::from(self.bit_depth_luma.saturating_sub(8)))
            .ue(u32::from(self.bit_depth_chroma.saturating_sub(8)))
            .ue(u32::from(self.log2_max_pic_order_cnt_lsb.saturating_sub(4)))
            .flag(self.sps_sub_layer_ordering_info_present);
        let first_sub_layer = if self.sps_sub_layer_ordering_info_present {
            0
        } else {
            sub_layers_minus1
        };
        for i in first_sub_layer..=sub_layers_minus1 {
            w.ue(4 + u32::from(i)).ue(2).ue(0);
        }
        w.ue(u32::from(
            self.log2_min_luma_coding_block_size.saturating_sub(3),
        ))
        .ue(u32::from(self.log2_diff_max_min_luma_coding_block_size))
        .ue(u32::from(
            self.log2_min_luma_transform_block_size.saturating_sub(2),
        ))
        .ue(u32::from(self.log2_diff_max_min_luma_transform_block_size))
        .ue(u32::from(self.max_transform_hierarchy_depth_inter))
        .ue(u32::from(self.max_transform_hierarchy_depth_intra))
        .flag(self.scaling_list_enabled);
        if self.scaling_list_enabled {
            w.flag(self.sps_scaling_list_data_present);
            if self.sps_scaling_list_data_present {
                write_scaling_list_data(&mut w);
            }
        }
        w.flag(self.amp_enabled)
            .flag(self.sample_adaptive_offset_enabled)
            .flag(self.pcm.is_some());
        if let Some(pcm) = self.pcm {
            w.u(
                4,
                u32::from(pcm.pcm_sample_bit_depth_luma.saturating_sub(1)),
            )
            .u(
                4,
                u32::from(pcm.pcm_sample_bit_depth_chroma.saturating_sub(1)),
            )
            .ue(u32::from(
                pcm.log2_min_pcm_luma_coding_block_size.saturating_sub(3),
            ))
            .ue(u32::from(pcm.log2_diff_max_min_pcm_luma_coding_block_size))
            .flag(pcm.pcm_loop_filter_disabled);
        }
        let num_sets = usize::from(self.num_short_term_ref_pic_sets.min(64));
        w.ue(num_sets as u32);
        let mut previous = ShortTermRefPicSet::default();
        for i in 0..num_sets {
            if i % 2 == 0 {
                let negative: Vec<i32> = (1..=(1 + i as i32 % 3)).map(|k| -k).collect();
                let positive: Vec<i32> = (1..=(i as i32 / 2 % 3)).collect();
                let set = ShortTermRefPicSet::explicit(&negative, &positive);
                set.write_explicit(&mut w, i);
                previous = set;
            } else {
                // inter_ref_pic_set_prediction_flag, delta_rps_sign 1, abs_delta_rps_minus1 0.
                w.flag(true).flag(true).ue(0);
                let n = previous.num_delta_pocs();
                let mut use_delta = vec![true; n + 1];
                for (j, flag) in use_delta.iter_mut().enumerate() {
                    if j == 0 {
                        // used_by_curr_pic_flag 0, use_delta_flag 0: drop this entry.
                        w.flag(false).flag(false);
                        *flag = false;
                    } else {
                        w.flag(true);
                    }
                }
                // Cannot fail: the predicted set is never larger than the explicit one + 1.
                previous =
                    ShortTermRefPicSet::predict(&previous, -1, &use_delta).unwrap_or_default();
            }
        }
        w.flag(self.num_long_term_ref_pics_sps.is_some());
        if let Some(count) = self.num_long_term_ref_pics_sps {
            w.ue(u32::from(count));
            let lsb_bits = u32::from(self.log2_max_pic_order_cnt_lsb.clamp(4, 16));
            for k in 0..u32::from(count) {
                w.u(lsb_bits, k % (1 << lsb_bits)).flag(k % 2 == 0);
            }
        }
        w.flag(self.sps_temporal_mvp_enabled)
            .flag(self.strong_intra_smoothing_enabled);
        w.flag(self.vui.is_some());
        if let Some(vui) = &self.vui {
            vui.write(&mut w);
        }
        w.flag(false); // sps_extension_present_flag
        w.rbsp_trailing_bits();
        let mut nal = NalHeader::bytes(nal_type::SPS).to_vec();
        nal.extend_from_slice(&w.to_nal_payload());
        nal
    }
}

impl TimeCode {
    /// The time_code payload (with payload alignment bits). Values are written as given, so
    /// values out of range for their fields are a caller bug.
    pub fn to_payload(&self) -> Vec<u8> {
        let mut w = BitWriter::new();
        let num_clock_ts = self.num_clock_ts.min(3);
        w.u(2, u32::from(num_clock_ts));
        for i in 0..usize::from(num_clock_ts) {
            let slot = self.clock_timestamps[i];
            w.flag(slot.is_some());
            let Some(clock) = slot else { continue };
            w.flag(clock.nuit_field_based)
                .u(5, u32::from(clock.counting_type))
                .flag(clock.full_timestamp)
                .flag(clock.discontinuity)
                .flag(clock.cnt_dropped)
                .u(9, u32::from(clock.n_frames));
            write_time_of_day(&mut w, &clock);
            let length = self.time_offset_lengths[i].min(31);
            w.u(5, u32::from(length));
            w.i(u32::from(length), clock.time_offset);
        }
        w.sei_payload_alignment();
        w.into_bytes()
    }

    /// A prefix SEI NAL unit (type 39, layer 0, temporal id 0) holding only this message.
    pub fn to_sei_nal(&self) -> Vec<u8> {
        write_sei_nal(
            &NalHeader::bytes(nal_type::PREFIX_SEI),
            &[(PAYLOAD_TYPE_TIME_CODE, &self.to_payload())],
        )
    }
}

/// Writes a scaling_list_data() that [`skip_scaling_list_data`] reads: explicit lists for
/// even matrixId, predicted ones for odd.
pub(super) fn write_scaling_list_data(w: &mut BitWriter) {
    for size_id in 0..4u32 {
        let step = if size_id == 3 { 3 } else { 1 };
        for matrix_id in (0..6).step_by(step) {
            let explicit = matrix_id % 2 == 0;
            w.flag(explicit);
            if !explicit {
                w.ue(1);
            } else {
                let coef_num = 64.min(1 << (4 + (size_id << 1)));
                if size_id > 1 {
                    w.se(8);
                }
                for k in 0..coef_num {
                    w.se((k % 5) - 2);
                }
            }
        }
    }
}

/// The start of a slice segment NAL unit (first_slice_segment_in_pic_flag 1) followed by filler
/// bits; enough for the reader, not for a decoder. For building test streams.
pub fn slice_nal(nal_unit_type: u8) -> Vec<u8> {
    let mut w = BitWriter::new();
    w.flag(true); // first_slice_segment_in_pic_flag
    if (nal_type::IRAP_FIRST..=nal_type::IRAP_LAST).contains(&nal_unit_type) {
        w.flag(false); // no_output_of_prior_pics_flag
    }
    w.ue(0) // slice_pic_parameter_set_id
        .u(32, 0x0000_0001)
        .u(16, 0xcafe)
        .rbsp_trailing_bits();
    let mut nal = NalHeader::bytes(nal_unit_type).to_vec();
    nal.extend_from_slice(&w.to_nal_payload());
    nal
}
