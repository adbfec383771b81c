// SPDX-License-Identifier: MPL-2.0
//! The decoder configuration records that carry H.264/H.265 parameter sets out of band, as NAL
//! unit lists: avcC (ISO/IEC 14496-15 5.3.3.1 AVCDecoderConfigurationRecord) and hvcC (8.3.3.1
//! HEVCDecoderConfigurationRecord). Only the framing is read here; what a NAL unit means is the
//! caller's business.

use super::nal::{self, AnnexBNalUnits};
use super::{NalFraming, ParseError};

/// A record read as far as it could be: its framing and the NAL units it holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record<'a> {
    /// How access units that use this record delimit their NAL units.
    pub framing: NalFraming,
    pub nal_units: Vec<&'a [u8]>,
    /// The record was cut short or a count overran it: `nal_units` are those read before.
    pub truncated: bool,
}

/// An avcC record, or Annex B parameter sets when `data` starts with a start code (some
/// muxers put those in codec_data). `Err` only when the framing cannot be known: a record
/// shorter than its header, configurationVersion not 1, or 3-byte NAL sizes (not allowed).
pub fn avcc(data: &[u8]) -> Result<Record<'_>, ParseError> {
    if nal::starts_with_start_code(data) {
        return Ok(annex_b(data));
    }
    let header = data.get(..6).ok_or(ParseError::Truncated)?;
    if header[0] != 1 {
        return Err(ParseError::Invalid("avcC configurationVersion"));
    }
    let size_len = (header[4] & 0x03) + 1;
    if size_len == 3 {
        return Err(ParseError::Invalid("avcC lengthSizeMinusOne"));
    }
    let mut nal_units = Vec::new();
    let mut pos = 5;
    // numOfSequenceParameterSets (5 bits), then numOfPictureParameterSets (8 bits). The
    // high-profile tail (chroma format, bit depths, SPS extensions) is not needed.
    let truncated = (|| {
        for count_mask in [0x1f, 0xff] {
            let count = data.get(pos).ok_or(ParseError::Truncated)? & count_mask;
            pos += 1;
            for _ in 0..count {
                nal_units.push(nal::take_u16_prefixed(data, &mut pos)?);
            }
        }
        Ok::<(), ParseError>(())
    })()
    .is_err();
    Ok(Record {
        framing: NalFraming::LengthPrefixed(size_len),
        nal_units,
        truncated,
    })
}

/// An hvcC record, or Annex B parameter sets when `data` starts with a start code. `Err` only
/// when the framing cannot be known: a record shorter than its 23-byte header, or 3-byte NAL
/// sizes. configurationVersion is not checked: early writers put 0 there.
pub fn hvcc(data: &[u8]) -> Result<Record<'_>, ParseError> {
    if nal::starts_with_start_code(data) {
        return Ok(annex_b(data));
    }
    let header = data.get(..23).ok_or(ParseError::Truncated)?;
    let size_len = (header[21] & 0x03) + 1;
    if size_len == 3 {
        return Err(ParseError::Invalid("hvcC lengthSizeMinusOne"));
    }
    let mut nal_units = Vec::new();
    let mut pos = 23;
    let truncated = (|| {
        for _ in 0..header[22] {
            // array_completeness, reserved, NAL_unit_type; then numNalus. Each NAL unit says
            // what it is: the array's type is not trusted.
            let array = data.get(pos..pos + 3).ok_or(ParseError::Truncated)?;
            let num_nalus = u16::from_be_bytes([array[1], array[2]]);
            pos += 3;
            for _ in 0..num_nalus {
                nal_units.push(nal::take_u16_prefixed(data, &mut pos)?);
            }
        }
        Ok::<(), ParseError>(())
    })()
    .is_err();
    Ok(Record {
        framing: NalFraming::LengthPrefixed(size_len),
        nal_units,
        truncated,
    })
}

fn annex_b(data: &[u8]) -> Record<'_> {
    Record {
        framing: NalFraming::AnnexB,
        nal_units: AnnexBNalUnits::new(data).collect(),
        truncated: false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn avcc_record(sps: &[&[u8]], pps: &[&[u8]], size_len: u8) -> Vec<u8> {
        let mut data = vec![
            1,
            0x64,
            0,
            0x1f,
            0xfc | (size_len - 1),
            0xe0 | sps.len() as u8,
        ];
        for nal in sps {
            data.extend_from_slice(&(nal.len() as u16).to_be_bytes());
            data.extend_from_slice(nal);
        }
        data.push(pps.len() as u8);
        for nal in pps {
            data.extend_from_slice(&(nal.len() as u16).to_be_bytes());
            data.extend_from_slice(nal);
        }
        data
    }

    #[test]
    fn avcc_lists_its_parameter_sets_and_framing() {
        let data = avcc_record(&[&[0x67, 1, 2]], &[&[0x68, 3], &[0x68, 4]], 4);
        let record = avcc(&data).unwrap();
        assert_eq!(record.framing, NalFraming::LengthPrefixed(4));
        assert_eq!(
            record.nal_units,
            vec![&[0x67u8, 1, 2][..], &[0x68, 3][..], &[0x68, 4][..]]
        );
        assert!(!record.truncated);
        // Cut inside the second PPS: what came before is kept, and the cut is said.
        let cut = avcc(&data[..data.len() - 1]).unwrap();
        assert_eq!(cut.nal_units.len(), 2);
        assert!(cut.truncated);
        assert!(avcc(&data[..5]).is_err());
        let mut three = data.clone();
        three[4] = 0xfe;
        assert!(avcc(&three).is_err());
    }

    #[test]
    fn hvcc_lists_every_array() {
        let mut data = vec![0u8; 23];
        data[21] = 0x03;
        data[22] = 2;
        for (nal_type, nal) in [(32u8, &[0x40u8, 1, 7][..]), (33, &[0x42, 1, 8][..])] {
            data.extend_from_slice(&[0x80 | nal_type, 0, 1]);
            data.extend_from_slice(&(nal.len() as u16).to_be_bytes());
            data.extend_from_slice(nal);
        }
        let record = hvcc(&data).unwrap();
        assert_eq!(record.framing, NalFraming::LengthPrefixed(4));
        assert_eq!(
            record.nal_units,
            vec![&[0x40u8, 1, 7][..], &[0x42, 1, 8][..]]
        );
        assert!(hvcc(&data[..22]).is_err());
    }

    #[test]
    fn annex_b_codec_data_is_read_as_is() {
        let data = [0, 0, 0, 1, 0x67, 9, 0, 0, 1, 0x68, 8];
        let record = avcc(&data).unwrap();
        assert_eq!(record.framing, NalFraming::AnnexB);
        assert_eq!(record.nal_units, vec![&[0x67u8, 9][..], &[0x68, 8][..]]);
    }

    proptest::proptest! {
        #[test]
        fn arbitrary_records_never_panic(data in proptest::collection::vec(proptest::num::u8::ANY, 0..200)) {
            let _ = avcc(&data);
            let _ = hvcc(&data);
        }
    }
}
