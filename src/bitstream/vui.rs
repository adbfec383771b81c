// SPDX-License-Identifier: MPL-2.0
//! The leading part of vui_parameters() that H.264 (E.1.1) and H.265 (E.2.1) share: aspect
//! ratio, overscan, video signal type and chroma sample location.

use super::ParseError;
use super::bits::{BitReader, BitWriter};

/// aspect_ratio_idc 255: the SAR is coded explicitly (H.264 Table E-1 / H.265 Table E.1).
pub const EXTENDED_SAR: u8 = 255;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct AspectRatio {
    pub aspect_ratio_idc: u8,
    /// sar_width and sar_height, coded only for [`EXTENDED_SAR`] (0 otherwise).
    pub sar_width: u16,
    pub sar_height: u16,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ColourDescription {
    pub colour_primaries: u8,
    pub transfer_characteristics: u8,
    pub matrix_coefficients: u8,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct VideoSignalType {
    pub video_format: u8,
    pub video_full_range: bool,
    pub colour_description: Option<ColourDescription>,
}

/// The VUI fields that come before the codec-specific ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct VuiCommon {
    /// Present when aspect_ratio_info_present_flag.
    pub aspect_ratio: Option<AspectRatio>,
    /// overscan_appropriate_flag, present when overscan_info_present_flag.
    pub overscan_appropriate: Option<bool>,
    pub video_signal_type: Option<VideoSignalType>,
    /// (chroma_sample_loc_type_top_field, chroma_sample_loc_type_bottom_field).
    pub chroma_sample_loc: Option<(u8, u8)>,
}

impl VuiCommon {
    pub(crate) fn read(r: &mut BitReader<'_>) -> Result<Self, ParseError> {
        let mut vui = VuiCommon::default();
        if r.flag()? {
            let aspect_ratio_idc = r.u8()?;
            let (sar_width, sar_height) = if aspect_ratio_idc == EXTENDED_SAR {
                (r.u(16)? as u16, r.u(16)? as u16)
            } else {
                (0, 0)
            };
            vui.aspect_ratio = Some(AspectRatio {
                aspect_ratio_idc,
                sar_width,
                sar_height,
            });
        }
        if r.flag()? {
            vui.overscan_appropriate = Some(r.flag()?);
        }
        if r.flag()? {
            let video_format = r.u(3)? as u8;
            let video_full_range = r.flag()?;
            let colour_description = if r.flag()? {
                Some(ColourDescription {
                    colour_primaries: r.u8()?,
                    transfer_characteristics: r.u8()?,
                    matrix_coefficients: r.u8()?,
                })
            } else {
                None
            };
            vui.video_signal_type = Some(VideoSignalType {
                video_format,
                video_full_range,
                colour_description,
            });
        }
        if r.flag()? {
            // Both are 0..5 (H.264 E.2.1, H.265 E.3.1).
            let top = r.ue_max(5, "chroma_sample_loc_type_top_field")? as u8;
            let bottom = r.ue_max(5, "chroma_sample_loc_type_bottom_field")? as u8;
            vui.chroma_sample_loc = Some((top, bottom));
        }
        Ok(vui)
    }

    pub(crate) fn write(&self, w: &mut BitWriter) {
        w.flag(self.aspect_ratio.is_some());
        if let Some(ar) = self.aspect_ratio {
            w.u(8, u32::from(ar.aspect_ratio_idc));
            if ar.aspect_ratio_idc == EXTENDED_SAR {
                w.u(16, u32::from(ar.sar_width))
                    .u(16, u32::from(ar.sar_height));
            }
        }
        w.flag(self.overscan_appropriate.is_some());
        if let Some(appropriate) = self.overscan_appropriate {
            w.flag(appropriate);
        }
        w.flag(self.video_signal_type.is_some());
        if let Some(signal) = self.video_signal_type {
            w.u(3, u32::from(signal.video_format))
                .flag(signal.video_full_range);
            w.flag(signal.colour_description.is_some());
            if let Some(colour) = signal.colour_description {
                w.u(8, u32::from(colour.colour_primaries))
                    .u(8, u32::from(colour.transfer_characteristics))
                    .u(8, u32::from(colour.matrix_coefficients));
            }
        }
        w.flag(self.chroma_sample_loc.is_some());
        if let Some((top, bottom)) = self.chroma_sample_loc {
            w.ue(u32::from(top)).ue(u32::from(bottom));
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use proptest::prelude::*;

    pub(crate) fn arb_vui_common() -> impl Strategy<Value = VuiCommon> {
        let aspect = prop_oneof![
            (0u8..=254).prop_map(|idc| AspectRatio {
                aspect_ratio_idc: idc,
                sar_width: 0,
                sar_height: 0
            }),
            (any::<u16>(), any::<u16>()).prop_map(|(w, h)| AspectRatio {
                aspect_ratio_idc: EXTENDED_SAR,
                sar_width: w,
                sar_height: h
            }),
        ];
        let colour =
            (any::<u8>(), any::<u8>(), any::<u8>()).prop_map(|(p, t, m)| ColourDescription {
                colour_primaries: p,
                transfer_characteristics: t,
                matrix_coefficients: m,
            });
        let signal = (0u8..8, any::<bool>(), proptest::option::of(colour)).prop_map(|(f, r, c)| {
            VideoSignalType {
                video_format: f,
                video_full_range: r,
                colour_description: c,
            }
        });
        (
            proptest::option::of(aspect),
            proptest::option::of(any::<bool>()),
            proptest::option::of(signal),
            proptest::option::of((0u8..=5, 0u8..=5)),
        )
            .prop_map(
                |(aspect_ratio, overscan_appropriate, video_signal_type, chroma_sample_loc)| {
                    VuiCommon {
                        aspect_ratio,
                        overscan_appropriate,
                        video_signal_type,
                        chroma_sample_loc,
                    }
                },
            )
    }

    proptest! {
        #[test]
        fn round_trip(vui in arb_vui_common()) {
            let mut w = BitWriter::new();
            vui.write(&mut w);
            w.rbsp_trailing_bits();
            let mut r = BitReader::new(w.as_bytes());
            prop_assert_eq!(VuiCommon::read(&mut r), Ok(vui));
            prop_assert!(!r.more_rbsp_data());
        }
    }
}
