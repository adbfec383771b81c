// SPDX-License-Identifier: MPL-2.0
//! MPEG-2 transport stream segments for HLS (ISO/IEC 13818-1; RFC 8216 §3.2), as
//! deterministic bytes: one PAT, one PMT, then one PES per access unit, in 188-byte packets.
//!
//! # Deterministic bytes
//!
//! Every segment stands alone: continuity counters start at 0 in each segment, and the first
//! packet of every PID in a segment carries `discontinuity_indicator` (13818-1 §2.4.3.5 allows
//! the counter to restart there), so a segment's bytes depend only on its own access units and
//! their timestamps — two redundant packagers started at different times write the same
//! segments. PTS/DTS are the epoch-grid times at 90 kHz (mod 2³³); the PCR rides on the first
//! packet of every keyframe's PES and equals its DTS.
//!
//! Access units come in the MP4 form (length-prefixed NAL units, parameter sets in the
//! `avcC`/`hvcC` record); they are rewritten to Annex B with the record's parameter sets in
//! front of every keyframe, so each segment can be decoded on its own.

use super::fmp4::{Fmp4Error, VideoCodec};

pub const PACKET_SIZE: usize = 188;
pub const PMT_PID: u16 = 0x1000;
pub const VIDEO_PID: u16 = 0x100;
const PROGRAM_NUMBER: u16 = 1;

/// One access unit, decode order.
#[derive(Debug, Clone, Copy)]
pub struct TsSample<'a> {
    /// Length-prefixed NAL units.
    pub data: &'a [u8],
    pub keyframe: bool,
    /// 90 kHz presentation and decode times (taken mod 2³³).
    pub pts: u64,
    pub dts: u64,
}

/// The parameter sets and NAL length size of an `avcC` / `hvcC` record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParameterSets {
    pub length_size: usize,
    pub nal_units: Vec<Vec<u8>>,
}

fn cut<'a>(data: &'a [u8], pos: &mut usize, len: usize) -> Result<&'a [u8], Fmp4Error> {
    let end = pos
        .checked_add(len)
        .filter(|&end| end <= data.len())
        .ok_or_else(|| Fmp4Error::CodecConfig("the codec_data record is cut short".into()))?;
    let slice = &data[*pos..end];
    *pos = end;
    Ok(slice)
}

fn u16_at(data: &[u8], pos: &mut usize) -> Result<usize, Fmp4Error> {
    let bytes = cut(data, pos, 2)?;
    Ok(usize::from(u16::from_be_bytes([bytes[0], bytes[1]])))
}

impl ParameterSets {
    /// Reads the SPS/PPS (H.264) or VPS/SPS/PPS (H.265) arrays of a decoder configuration
    /// record (ISO/IEC 14496-15 §5.3.3.1, §8.3.3.1).
    pub fn from_record(codec: VideoCodec, record: &[u8]) -> Result<ParameterSets, Fmp4Error> {
        let mut nal_units = Vec::new();
        let mut pos;
        let length_size;
        match codec {
            VideoCodec::H264 => {
                if record.len() < 7 || record[0] != 1 {
                    return Err(Fmp4Error::CodecConfig("not an avcC record".into()));
                }
                length_size = usize::from(record[4] & 3) + 1;
                pos = 5;
                let sps_count = usize::from(cut(record, &mut pos, 1)?[0] & 0x1f);
                for _ in 0..sps_count {
                    let len = u16_at(record, &mut pos)?;
                    nal_units.push(cut(record, &mut pos, len)?.to_vec());
                }
                let pps_count = usize::from(cut(record, &mut pos, 1)?[0]);
                for _ in 0..pps_count {
                    let len = u16_at(record, &mut pos)?;
                    nal_units.push(cut(record, &mut pos, len)?.to_vec());
                }
            }
            VideoCodec::H265 => {
                if record.len() < 23 || record[0] != 1 {
                    return Err(Fmp4Error::CodecConfig("not an hvcC record".into()));
                }
                length_size = usize::from(record[21] & 3) + 1;
                pos = 22;
                let arrays = usize::from(cut(record, &mut pos, 1)?[0]);
                for _ in 0..arrays {
                    cut(record, &mut pos, 1)?;
                    let count = u16_at(record, &mut pos)?;
                    for _ in 0..count {
                        let len = u16_at(record, &mut pos)?;
                        nal_units.push(cut(record, &mut pos, len)?.to_vec());
                    }
                }
            }
        }
        if length_size == 3 {
            return Err(Fmp4Error::CodecConfig(
                "NAL length size 3 is not allowed (ISO/IEC 14496-15)".into(),
            ));
        }
        Ok(ParameterSets {
            length_size,
            nal_units,
        })
    }
}

/// Appends `data` (length-prefixed NAL units) as Annex B; a cut-off length ends the unit.
fn append_annex_b(out: &mut Vec<u8>, data: &[u8], length_size: usize) {
    let mut pos = 0;
    while pos + length_size <= data.len() {
        let len = data[pos..pos + length_size]
            .iter()
            .fold(0usize, |acc, &b| (acc << 8) | usize::from(b));
        pos += length_size;
        let end = pos.saturating_add(len).min(data.len());
        out.extend_from_slice(&[0, 0, 0, 1]);
        out.extend_from_slice(&data[pos..end]);
        pos = end;
    }
}

/// CRC-32/MPEG-2 of PSI sections.
fn crc32_mpeg2(data: &[u8]) -> u32 {
    let mut crc = 0xffff_ffffu32;
    for &byte in data {
        crc ^= u32::from(byte) << 24;
        for _ in 0..8 {
            crc = if crc & 0x8000_0000 != 0 {
                (crc << 1) ^ 0x04c1_1db7
            } else {
                crc << 1
            };
        }
    }
    crc
}

/// Writes packets of one PID with its continuity counter.
struct PidWriter {
    pid: u16,
    counter: u8,
}

impl PidWriter {
    /// `payload` in packets; the first has payload_unit_start. `first_adaptation` (without its
    /// length byte) goes into the first packet: flags and optional fields.
    fn write(&mut self, out: &mut Vec<u8>, payload: &[u8], first_adaptation: &[u8]) {
        let mut rest = payload;
        let mut first = true;
        while first || !rest.is_empty() {
            let adaptation: &[u8] = if first { first_adaptation } else { &[] };
            // Room for payload after the header and an adaptation field (if any).
            let field_len = if adaptation.is_empty() {
                0
            } else {
                1 + adaptation.len()
            };
            let room = PACKET_SIZE - 4 - field_len;
            let take = rest.len().min(room);
            // Stuffing makes the adaptation field longer when the payload is short.
            let stuffing = room - take;
            let has_adaptation = field_len > 0 || stuffing > 0;
            out.push(0x47);
            out.push((u8::from(first) << 6) | ((self.pid >> 8) as u8 & 0x1f));
            out.push(self.pid as u8);
            let control = if has_adaptation { 0x30 } else { 0x10 };
            out.push(control | (self.counter & 0x0f));
            self.counter = self.counter.wrapping_add(1) & 0x0f;
            if has_adaptation {
                if field_len == 0 {
                    // Only stuffing: a field of `stuffing − 1` bytes after its length byte.
                    out.push((stuffing - 1) as u8);
                    if stuffing > 1 {
                        out.push(0);
                        out.resize(out.len() + stuffing - 2, 0xff);
                    }
                } else {
                    out.push((adaptation.len() + stuffing) as u8);
                    out.extend_from_slice(adaptation);
                    out.resize(out.len() + stuffing, 0xff);
                }
            }
            out.extend_from_slice(&rest[..take]);
            rest = &rest[take..];
            first = false;
        }
    }
}

fn timestamp_field(prefix: u8, ts: u64) -> [u8; 5] {
    let ts = ts & 0x1_ffff_ffff;
    [
        (prefix << 4) | (((ts >> 30) as u8 & 0x07) << 1) | 1,
        (ts >> 22) as u8,
        (((ts >> 15) as u8) << 1) | 1,
        (ts >> 7) as u8,
        ((ts as u8) << 1) | 1,
    ]
}

/// A PSI section (PAT or PMT) with its CRC, behind a pointer field.
fn section(table_id: u8, id: u16, body: &[u8]) -> Vec<u8> {
    let mut section = vec![table_id];
    // section_syntax_indicator, '0', reserved, section_length (body + 5 + CRC 4).
    let length = body.len() + 5 + 4;
    section.push(0xb0 | ((length >> 8) as u8 & 0x0f));
    section.push(length as u8);
    section.extend_from_slice(&id.to_be_bytes());
    // reserved, version 0, current_next 1; section 0 of 0.
    section.extend_from_slice(&[0xc1, 0, 0]);
    section.extend_from_slice(body);
    let crc = crc32_mpeg2(&section);
    section.extend_from_slice(&crc.to_be_bytes());
    let mut with_pointer = vec![0];
    with_pointer.extend_from_slice(&section);
    with_pointer
}

/// One HLS media segment of MPEG-TS: PAT, PMT, then every access unit as a PES.
pub fn segment(
    codec: VideoCodec,
    parameter_sets: &ParameterSets,
    samples: &[TsSample<'_>],
) -> Vec<u8> {
    let payload: usize = samples.iter().map(|s| s.data.len() + 64).sum();
    let mut out = Vec::with_capacity(payload * 188 / 184 + 4 * PACKET_SIZE);
    // discontinuity_indicator: counters restart in every segment.
    let discontinuity = [0x80u8];
    let pat = section(
        0x00,
        1,
        &[
            (PROGRAM_NUMBER >> 8) as u8,
            PROGRAM_NUMBER as u8,
            0xe0 | (PMT_PID >> 8) as u8,
            PMT_PID as u8,
        ],
    );
    PidWriter { pid: 0, counter: 0 }.write(&mut out, &pat, &discontinuity);
    let stream_type = match codec {
        VideoCodec::H264 => 0x1b,
        VideoCodec::H265 => 0x24,
    };
    let pmt = section(
        0x02,
        PROGRAM_NUMBER,
        &[
            // PCR_PID, program_info_length 0.
            0xe0 | (VIDEO_PID >> 8) as u8,
            VIDEO_PID as u8,
            0xf0,
            0x00,
            stream_type,
            0xe0 | (VIDEO_PID >> 8) as u8,
            VIDEO_PID as u8,
            0xf0,
            0x00,
        ],
    );
    PidWriter {
        pid: PMT_PID,
        counter: 0,
    }
    .write(&mut out, &pmt, &discontinuity);
    let mut video = PidWriter {
        pid: VIDEO_PID,
        counter: 0,
    };
    let mut pes = Vec::new();
    for (i, sample) in samples.iter().enumerate() {
        pes.clear();
        let with_dts = sample.dts != sample.pts;
        pes.extend_from_slice(&[0, 0, 1, 0xe0, 0, 0, 0x80]);
        pes.push(if with_dts { 0xc0 } else { 0x80 });
        pes.push(if with_dts { 10 } else { 5 });
        pes.extend_from_slice(&timestamp_field(if with_dts { 3 } else { 2 }, sample.pts));
        if with_dts {
            pes.extend_from_slice(&timestamp_field(1, sample.dts));
        }
        // An access unit delimiter first (H.264 AUD / H.265 AUD_NUT), then parameter sets
        // before keyframes, then the access unit.
        match codec {
            VideoCodec::H264 => pes.extend_from_slice(&[0, 0, 0, 1, 0x09, 0xf0]),
            VideoCodec::H265 => pes.extend_from_slice(&[0, 0, 0, 1, 0x46, 0x01, 0x50]),
        }
        if sample.keyframe {
            for nal in &parameter_sets.nal_units {
                pes.extend_from_slice(&[0, 0, 0, 1]);
                pes.extend_from_slice(nal);
            }
        }
        append_annex_b(&mut pes, sample.data, parameter_sets.length_size);
        let mut adaptation = Vec::with_capacity(7);
        if sample.keyframe || i == 0 {
            // discontinuity (first packet of the PID), random access, PCR flag.
            let mut flags = 0x10;
            if i == 0 {
                flags |= 0x80;
            }
            if sample.keyframe {
                flags |= 0x40;
            }
            adaptation.push(flags);
            let base = sample.dts & 0x1_ffff_ffff;
            adaptation.extend_from_slice(&[
                (base >> 25) as u8,
                (base >> 17) as u8,
                (base >> 9) as u8,
                (base >> 1) as u8,
                ((base as u8 & 1) << 7) | 0x7e,
                0,
            ]);
        }
        video.write(&mut out, &pes, &adaptation);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn avcc() -> Vec<u8> {
        vec![
            1, 0x42, 0xc0, 0x0c, 0xff, 0xe1, 0, 4, 0x67, 0x42, 0xc0, 0x0c, 1, 0, 2, 0x68, 0xce,
        ]
    }

    /// (pid, payload_unit_start, counter, payload) of every packet.
    fn packets(data: &[u8]) -> Vec<(u16, bool, u8, Vec<u8>)> {
        assert_eq!(data.len() % PACKET_SIZE, 0);
        data.chunks(PACKET_SIZE)
            .map(|p| {
                assert_eq!(p[0], 0x47);
                let pid = (u16::from(p[1] & 0x1f) << 8) | u16::from(p[2]);
                let start = p[1] & 0x40 != 0;
                let control = p[3] >> 4;
                let mut pos = 4;
                if control & 2 != 0 {
                    pos += 1 + usize::from(p[4]);
                }
                (pid, start, p[3] & 0x0f, p[pos..].to_vec())
            })
            .collect()
    }

    fn read_ts(field: &[u8]) -> u64 {
        (u64::from(field[0] >> 1) & 7) << 30
            | u64::from(field[1]) << 22
            | u64::from(field[2] >> 1) << 15
            | u64::from(field[3]) << 7
            | u64::from(field[4] >> 1)
    }

    #[test]
    fn parameter_sets_of_records() {
        let sets = ParameterSets::from_record(VideoCodec::H264, &avcc()).unwrap();
        assert_eq!(sets.length_size, 4);
        assert_eq!(
            sets.nal_units,
            vec![vec![0x67, 0x42, 0xc0, 0x0c], vec![0x68, 0xce]]
        );
        assert!(ParameterSets::from_record(VideoCodec::H264, &avcc()[..10]).is_err());
        let mut hvcc = vec![1u8; 22];
        hvcc[21] = 3;
        hvcc.extend_from_slice(&[1, 0x20, 0, 1, 0, 2, 0x40, 0x01]);
        let sets = ParameterSets::from_record(VideoCodec::H265, &hvcc).unwrap();
        assert_eq!(sets.nal_units, vec![vec![0x40, 0x01]]);
    }

    #[test]
    fn crc_of_a_known_pat() {
        // The PAT FFmpeg writes for program 1 / PMT PID 0x1000.
        let pat = section(0, 1, &[0, 1, 0xf0, 0]);
        assert_eq!(&pat[pat.len() - 4..], &[0x2a, 0xb1, 0x04, 0xb2]);
    }

    #[test]
    fn segment_layout_and_timestamps() {
        let sets = ParameterSets::from_record(VideoCodec::H264, &avcc()).unwrap();
        let idr = [0, 0, 0, 3, 0x65, 0x88, 0x84];
        let big: Vec<u8> = [0, 0, 1, 44]
            .into_iter()
            .chain(std::iter::once(0x41))
            .chain(std::iter::repeat_n(7u8, 299))
            .collect();
        let samples = [
            TsSample {
                data: &idr,
                keyframe: true,
                pts: 159_053_544_003_600,
                dts: 159_053_544_000_000,
            },
            TsSample {
                data: &big,
                keyframe: false,
                pts: 159_053_544_007_200,
                dts: 159_053_544_007_200,
            },
        ];
        let bytes = segment(VideoCodec::H264, &sets, &samples);
        assert_eq!(
            bytes,
            segment(VideoCodec::H264, &sets, &samples),
            "deterministic"
        );
        let packets = packets(&bytes);
        assert_eq!(packets[0].0, 0);
        assert_eq!(packets[1].0, PMT_PID);
        let video: Vec<_> = packets.iter().filter(|p| p.0 == VIDEO_PID).collect();
        assert_eq!(video.len(), 3, "one packet for the IDR, two for 300 bytes");
        assert!(video[0].1 && video[1].1 && !video[2].1);
        assert_eq!(video.iter().map(|p| p.2).collect::<Vec<_>>(), vec![0, 1, 2]);
        let pes = &video[0].3;
        assert_eq!(&pes[..4], &[0, 0, 1, 0xe0]);
        assert_eq!(pes[7], 0xc0);
        assert_eq!(read_ts(&pes[9..14]), 159_053_544_003_600 & 0x1_ffff_ffff);
        assert_eq!(read_ts(&pes[14..19]), 159_053_544_000_000 & 0x1_ffff_ffff);
        // AUD, SPS, PPS, then the IDR, in Annex B.
        assert_eq!(
            &pes[19..],
            &[
                0, 0, 0, 1, 0x09, 0xf0, 0, 0, 0, 1, 0x67, 0x42, 0xc0, 0x0c, 0, 0, 0, 1, 0x68, 0xce,
                0, 0, 0, 1, 0x65, 0x88, 0x84
            ]
        );
        let second = [&video[1].3[..], &video[2].3[..]].concat();
        assert_eq!(second[7], 0x80, "PTS only when DTS = PTS");
        assert_eq!(second.len(), 14 + 6 + 4 + 300);
    }

    proptest! {
        /// Any samples give whole packets whose video payloads are exactly the PES stream.
        #[test]
        fn packets_carry_the_pes(
            sizes in prop::collection::vec(0usize..700, 1..12),
            keyframes in prop::collection::vec(any::<bool>(), 12),
        ) {
            let sets = ParameterSets::from_record(VideoCodec::H264, &avcc()).unwrap();
            let data: Vec<Vec<u8>> = sizes
                .iter()
                .map(|&n| {
                    let mut v = (n as u32).to_be_bytes().to_vec();
                    v.extend(std::iter::repeat_n(0x41u8, n));
                    v
                })
                .collect();
            let samples: Vec<TsSample<'_>> = data
                .iter()
                .enumerate()
                .map(|(i, d)| TsSample {
                    data: d,
                    keyframe: keyframes[i],
                    pts: i as u64 * 3600,
                    dts: i as u64 * 3600,
                })
                .collect();
            let bytes = segment(VideoCodec::H264, &sets, &samples);
            let starts = packets(&bytes)
                .iter()
                .filter(|p| p.0 == VIDEO_PID && p.1)
                .count();
            prop_assert_eq!(starts, samples.len());
            let payload: usize = packets(&bytes)
                .iter()
                .filter(|p| p.0 == VIDEO_PID)
                .map(|p| p.3.len())
                .sum();
            let expected: usize = samples
                .iter()
                .zip(&sizes)
                .map(|(s, n)| 14 + 6 + if s.keyframe { 4 + 4 + 4 + 2 } else { 0 } + 4 + n)
                .sum();
            prop_assert_eq!(payload, expected);
        }
    }
}
