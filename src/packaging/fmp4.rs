// SPDX-License-Identifier: MPL-2.0
//! A CMAF / fragmented MP4 writer for one video or AAC audio track per file (ISO/IEC 14496-12,
//! 14496-14, 14496-15, 23000-19):
//! the init segment (`ftyp` + `moov`) and media segments (`styp` + `moof` + `mdat`), as bytes.
//!
//! # Deterministic bytes
//!
//! Every byte is a function of the arguments: creation and modification times are 0 (no wall
//! clock), box order and flags are fixed, and the glue derives `sequence_number` and
//! `baseMediaDecodeTime` from the epoch grid (k and the epoch frame index), never from a
//! counter of its own. Two redundant packagers that receive the same access units therefore
//! write byte-identical segments, and their storage manifests carry the same SHA-256.
//!
//! # Choices
//!
//! - Sample entries `avc1` / `hvc1` (parameter sets in the `avcC` / `hvcC` record of the init
//!   segment, which the glue takes verbatim from the caps' `codec_data`), and `mp4a` whose
//!   `esds` carries the AudioSpecificConfig verbatim. Every AAC frame is a sync sample.
//! - `tfhd` uses `default-base-is-moof`; every `trun` carries per-sample duration, size, flags
//!   and (when any is non-zero) composition offsets, with `trun` version 1 (signed offsets) when
//!   an offset is negative, so decode times can run on the frame grid while B-frames keep their
//!   presentation times.
//! - Brands: `ftyp` major `cmfc` with `iso6`, `cmfc`; `styp` major `msdh` with `msdh`, `cmfs`.

use std::fmt;

use super::aac::AudioSpecificConfig;

/// Why a segment cannot be written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fmp4Error {
    /// The decoder configuration record (`codec_data`) is not usable; the text says why.
    CodecConfig(String),
    /// A value does not fit its field.
    Range(String),
}

impl fmt::Display for Fmp4Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Fmp4Error::CodecConfig(text) | Fmp4Error::Range(text) => f.write_str(text),
        }
    }
}

impl std::error::Error for Fmp4Error {}

/// The video codec of the track.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum VideoCodec {
    /// H.264 with an AVCDecoderConfigurationRecord (`avcC`).
    H264,
    /// H.265 with an HEVCDecoderConfigurationRecord (`hvcC`).
    H265,
}

/// What the init segment describes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VideoTrack {
    pub codec: VideoCodec,
    /// The `avcC` / `hvcC` record (the caps' `codec_data`), written verbatim.
    pub codec_config: Vec<u8>,
    pub width: u16,
    pub height: u16,
    /// Ticks per second of the media timeline (`mdhd`), the same as the manifests'.
    pub timescale: u32,
}

/// An AAC track.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AudioTrack {
    pub config: AudioSpecificConfig,
    /// Peak bit rate (bit/s) for the `esds` DecoderConfigDescriptor.
    pub bandwidth: u32,
}

/// The track ID of the only track (each CMAF track file holds one track).
pub const TRACK_ID: u32 = 1;

/// One access unit of a media segment, in decode order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sample<'a> {
    /// Length-prefixed NAL units (the `avc`/`hvc1` stream format).
    pub data: &'a [u8],
    /// Decode duration in timescale ticks.
    pub duration: u32,
    /// A sync sample (IDR / IRAP): decodable without earlier samples.
    pub keyframe: bool,
    /// Presentation time − decode time, in ticks.
    pub composition_offset: i32,
}

/// `sample_flags` of a sync sample: sample_depends_on = 2 (no other sample).
const SYNC_SAMPLE_FLAGS: u32 = 0x0200_0000;
/// `sample_flags` of a non-sync sample: sample_depends_on = 1, sample_is_non_sync_sample = 1.
const NON_SYNC_SAMPLE_FLAGS: u32 = 0x0101_0000;

/// A box being written: reserves the size field and fills it on [`BoxWriter::finish`].
struct BoxWriter<'a> {
    out: &'a mut Vec<u8>,
    start: usize,
}

impl<'a> BoxWriter<'a> {
    fn new(out: &'a mut Vec<u8>, kind: &[u8; 4]) -> BoxWriter<'a> {
        let start = out.len();
        out.extend_from_slice(&[0, 0, 0, 0]);
        out.extend_from_slice(kind);
        BoxWriter { out, start }
    }

    /// A full box: version and 24-bit flags after the header.
    fn full(out: &'a mut Vec<u8>, kind: &[u8; 4], version: u8, flags: u32) -> BoxWriter<'a> {
        let writer = BoxWriter::new(out, kind);
        writer.out.push(version);
        writer.out.extend_from_slice(&flags.to_be_bytes()[1..]);
        writer
    }

    fn u16(&mut self, value: u16) -> &mut Self {
        self.out.extend_from_slice(&value.to_be_bytes());
        self
    }

    fn u32(&mut self, value: u32) -> &mut Self {
        self.out.extend_from_slice(&value.to_be_bytes());
        self
    }

    fn u64(&mut self, value: u64) -> &mut Self {
        self.out.extend_from_slice(&value.to_be_bytes());
        self
    }

    fn bytes(&mut self, value: &[u8]) -> &mut Self {
        self.out.extend_from_slice(value);
        self
    }

    fn zeros(&mut self, count: usize) -> &mut Self {
        self.out.resize(self.out.len() + count, 0);
        self
    }

    /// A child box, written by `body`.
    fn child(&mut self, kind: &[u8; 4], body: impl FnOnce(&mut BoxWriter<'_>)) -> &mut Self {
        let mut child = BoxWriter::new(self.out, kind);
        body(&mut child);
        child.finish();
        self
    }

    /// A child full box, written by `body`.
    fn child_full(
        &mut self,
        kind: &[u8; 4],
        version: u8,
        flags: u32,
        body: impl FnOnce(&mut BoxWriter<'_>),
    ) -> &mut Self {
        let mut child = BoxWriter::full(self.out, kind, version, flags);
        body(&mut child);
        child.finish();
        self
    }

    fn finish(&mut self) {
        // Boxes here are far below 4 GiB (one segment of video); saturate rather than wrap.
        let size = u32::try_from(self.out.len() - self.start).unwrap_or(u32::MAX);
        self.out[self.start..self.start + 4].copy_from_slice(&size.to_be_bytes());
    }
}

/// The unity matrix of `mvhd` / `tkhd`.
const UNITY_MATRIX: [u32; 9] = [0x0001_0000, 0, 0, 0, 0x0001_0000, 0, 0, 0, 0x4000_0000];

fn matrix(writer: &mut BoxWriter<'_>) {
    for value in UNITY_MATRIX {
        writer.u32(value);
    }
}

/// Checks the decoder configuration record enough to write a valid sample entry.
fn check_codec_config(codec: VideoCodec, config: &[u8]) -> Result<(), Fmp4Error> {
    let (name, minimum) = match codec {
        VideoCodec::H264 => ("avcC", 7),
        VideoCodec::H265 => ("hvcC", 23),
    };
    if config.len() < minimum {
        return Err(Fmp4Error::CodecConfig(format!(
            "codec_data of {} bytes is too short for an {name} record (at least {minimum}); \
             the stream must be stream-format={} with codec_data (h264parse/h265parse give it)",
            config.len(),
            match codec {
                VideoCodec::H264 => "avc",
                VideoCodec::H265 => "hvc1",
            }
        )));
    }
    if config[0] != 1 {
        return Err(Fmp4Error::CodecConfig(format!(
            "codec_data is not an {name} record (configurationVersion {} instead of 1); an \
             Annex B byte-stream header cannot go into an MP4 sample entry",
            config[0]
        )));
    }
    Ok(())
}

/// The RFC 6381 `codecs` value of the track (`avc1.64001f`, `hvc1.1.6.L93.B0`), from its
/// decoder configuration record.
pub fn rfc6381_codec(codec: VideoCodec, config: &[u8]) -> Result<String, Fmp4Error> {
    check_codec_config(codec, config)?;
    match codec {
        // AVCProfileIndication, profile_compatibility, AVCLevelIndication.
        VideoCodec::H264 => Ok(format!(
            "avc1.{:02x}{:02x}{:02x}",
            config[1], config[2], config[3]
        )),
        VideoCodec::H265 => {
            // ISO/IEC 14496-15 Annex E: profile space + profile idc, compatibility flags in
            // reverse bit order (hex, no leading zeros), tier + level, constraint bytes up to
            // the last non-zero one.
            let space = config[1] >> 6;
            let tier = (config[1] >> 5) & 1;
            let profile_idc = config[1] & 0x1f;
            let compatibility = u32::from_be_bytes([config[2], config[3], config[4], config[5]]);
            let constraints = &config[6..12];
            let level = config[12];
            let mut text = String::from("hvc1.");
            if space > 0 {
                text.push(char::from(b'A' + space - 1));
            }
            text.push_str(&format!(
                "{profile_idc}.{:X}.{}{level}",
                compatibility.reverse_bits(),
                if tier == 1 { 'H' } else { 'L' }
            ));
            let used = constraints
                .iter()
                .rposition(|&b| b != 0)
                .map_or(0, |last| last + 1);
            for byte in &constraints[..used] {
                text.push_str(&format!(".{byte:X}"));
            }
            Ok(text)
        }
    }
}

/// The init segment: `ftyp` + `moov` describing one video track with no samples (they are all
/// in the media segments, `mvex`).
pub fn init_segment(track: &VideoTrack) -> Result<Vec<u8>, Fmp4Error> {
    check_codec_config(track.codec, &track.codec_config)?;
    write_init(
        &TrackHeader {
            timescale: track.timescale,
            handler: *b"vide",
            handler_name: b"VideoHandler\0",
            width: track.width,
            height: track.height,
        },
        track.codec_config.len(),
        |stsd| sample_entry(stsd, track),
    )
}

/// The init segment of one AAC track (`mp4a` with an `esds`), its timescale the sampling rate.
pub fn audio_init_segment(track: &AudioTrack) -> Result<Vec<u8>, Fmp4Error> {
    if track.config.bytes.len() > 0x7f {
        return Err(Fmp4Error::CodecConfig(format!(
            "an AudioSpecificConfig of {} bytes is longer than the 127 this writer supports",
            track.config.bytes.len()
        )));
    }
    write_init(
        &TrackHeader {
            timescale: track.config.sampling_rate,
            handler: *b"soun",
            handler_name: b"SoundHandler\0",
            width: 0,
            height: 0,
        },
        track.config.bytes.len(),
        |stsd| audio_sample_entry(stsd, track),
    )
}

/// What differs between a video and an audio `trak` besides the sample entry.
struct TrackHeader {
    timescale: u32,
    handler: [u8; 4],
    handler_name: &'static [u8],
    /// 0 × 0 for audio.
    width: u16,
    height: u16,
}

fn write_init(
    header: &TrackHeader,
    config_len: usize,
    sample_entry: impl FnOnce(&mut BoxWriter<'_>),
) -> Result<Vec<u8>, Fmp4Error> {
    if header.timescale == 0 {
        return Err(Fmp4Error::Range("the media timescale must not be 0".into()));
    }
    let audio = header.handler == *b"soun";
    let mut out = Vec::with_capacity(768 + config_len);
    BoxWriter::new(&mut out, b"ftyp")
        .bytes(b"cmfc")
        .u32(0)
        .bytes(b"iso6")
        .bytes(b"cmfc")
        .finish();
    let mut moov = BoxWriter::new(&mut out, b"moov");
    moov.child_full(b"mvhd", 0, 0, |b| {
        // creation, modification (0: no wall clock), timescale, duration (unknown: 0).
        b.u32(0).u32(0).u32(header.timescale).u32(0);
        // rate 1.0, volume 1.0, reserved.
        b.u32(0x0001_0000).u16(0x0100).zeros(10);
        matrix(b);
        // pre_defined, next_track_ID.
        b.zeros(24).u32(TRACK_ID + 1);
    });
    moov.child(b"trak", |trak| {
        // flags: track_enabled | track_in_movie.
        trak.child_full(b"tkhd", 0, 0x3, |b| {
            b.u32(0).u32(0).u32(TRACK_ID).u32(0).u32(0);
            // reserved, layer, alternate_group, volume (1.0 for audio), reserved.
            b.zeros(8)
                .u16(0)
                .u16(0)
                .u16(if audio { 0x0100 } else { 0 })
                .u16(0);
            matrix(b);
            b.u32(u32::from(header.width) << 16)
                .u32(u32::from(header.height) << 16);
        });
        trak.child(b"mdia", |mdia| {
            mdia.child_full(b"mdhd", 0, 0, |b| {
                // language 'und' packed as ISO 639-2/T in 3 × 5 bits.
                b.u32(0)
                    .u32(0)
                    .u32(header.timescale)
                    .u32(0)
                    .u16(0x55c4)
                    .u16(0);
            });
            mdia.child_full(b"hdlr", 0, 0, |b| {
                b.u32(0)
                    .bytes(&header.handler)
                    .zeros(12)
                    .bytes(header.handler_name);
            });
            mdia.child(b"minf", |minf| {
                if audio {
                    // balance 0, reserved.
                    minf.child_full(b"smhd", 0, 0, |b| {
                        b.u16(0).u16(0);
                    });
                } else {
                    minf.child_full(b"vmhd", 0, 1, |b| {
                        b.u16(0).zeros(6);
                    });
                }
                minf.child(b"dinf", |dinf| {
                    dinf.child_full(b"dref", 0, 0, |b| {
                        b.u32(1);
                        // flags 1: the media is in this file.
                        b.child_full(b"url ", 0, 1, |_| {});
                    });
                });
                minf.child(b"stbl", |stbl| {
                    stbl.child_full(b"stsd", 0, 0, |b| {
                        b.u32(1);
                        sample_entry(b);
                    });
                    stbl.child_full(b"stts", 0, 0, |b| {
                        b.u32(0);
                    });
                    stbl.child_full(b"stsc", 0, 0, |b| {
                        b.u32(0);
                    });
                    stbl.child_full(b"stsz", 0, 0, |b| {
                        b.u32(0).u32(0);
                    });
                    stbl.child_full(b"stco", 0, 0, |b| {
                        b.u32(0);
                    });
                });
            });
        });
    });
    moov.child(b"mvex", |mvex| {
        mvex.child_full(b"trex", 0, 0, |b| {
            // track, default sample description 1, default duration/size/flags 0 (every trun
            // gives its own).
            b.u32(TRACK_ID).u32(1).u32(0).u32(0).u32(0);
        });
    });
    moov.finish();
    Ok(out)
}

/// The AudioSampleEntry `mp4a` with its `esds` (ISO/IEC 14496-14 §5.6, 14496-1 §7.2.6.5).
fn audio_sample_entry(parent: &mut BoxWriter<'_>, track: &AudioTrack) {
    let config = &track.config;
    parent.child(b"mp4a", |b| {
        // reserved, data_reference_index, reserved[2].
        b.zeros(6).u16(1).zeros(8);
        // channelcount (2 when the config leaves it to a program config element), samplesize
        // 16, pre_defined, reserved, samplerate as 16.16 (0 when above 65535 Hz: the esds
        // has the real rate).
        let channels = config.channel_count().unwrap_or(2);
        b.u16(u16::try_from(channels).unwrap_or(2))
            .u16(16)
            .u16(0)
            .u16(0);
        b.u32(u32::from(u16::try_from(config.sampling_rate).unwrap_or(0)) << 16);
        b.child_full(b"esds", 0, 0, |e| {
            // Lengths fit one byte: an AudioSpecificConfig of at most 127 bytes (checked).
            let asc = &config.bytes;
            let specific_len = asc.len() as u8;
            let decoder_config_len = 13 + 2 + specific_len;
            let es_len = 3 + 2 + decoder_config_len + 3;
            // ES_Descriptor: ES_ID 0 (the track's), no flags.
            e.bytes(&[0x03, es_len]).u16(0).bytes(&[0]);
            // DecoderConfigDescriptor: objectTypeIndication 0x40 (MPEG-4 audio), streamType 5
            // (audio) << 2 | upStream 0 | reserved 1, bufferSizeDB 0, max and avg bit rate.
            e.bytes(&[0x04, decoder_config_len, 0x40, 0x15, 0, 0, 0])
                .u32(track.bandwidth)
                .u32(track.bandwidth);
            e.bytes(&[0x05, specific_len]).bytes(asc);
            // SLConfigDescriptor, predefined 2 (MP4).
            e.bytes(&[0x06, 1, 2]);
        });
    });
}

/// The VisualSampleEntry (`avc1` / `hvc1`) with its configuration box.
fn sample_entry(parent: &mut BoxWriter<'_>, track: &VideoTrack) {
    let (entry, config_box) = match track.codec {
        VideoCodec::H264 => (b"avc1", b"avcC"),
        VideoCodec::H265 => (b"hvc1", b"hvcC"),
    };
    parent.child(entry, |b| {
        // reserved, data_reference_index.
        b.zeros(6).u16(1);
        // pre_defined, reserved, pre_defined[3].
        b.u16(0).u16(0).zeros(12);
        b.u16(track.width).u16(track.height);
        // 72 dpi, reserved, frame_count 1, compressorname (32 bytes), depth 24, pre_defined -1.
        b.u32(0x0048_0000).u32(0x0048_0000).u32(0).u16(1).zeros(32);
        b.u16(0x0018).u16(0xffff);
        b.child(config_box, |c| {
            c.bytes(&track.codec_config);
        });
    });
}

/// A media segment: `styp`, one `moof` (`mfhd` + `traf` with `tfhd`, `tfdt`, `trun`) and one
/// `mdat` holding the samples in decode order.
///
/// `base_media_decode_time` is the decode time of the first sample in timescale ticks.
pub fn media_segment(
    sequence_number: u32,
    base_media_decode_time: u64,
    samples: &[Sample<'_>],
) -> Result<Vec<u8>, Fmp4Error> {
    if samples.is_empty() {
        return Err(Fmp4Error::Range("a media segment needs a sample".into()));
    }
    let sample_count = u32::try_from(samples.len())
        .map_err(|_| Fmp4Error::Range(format!("{} samples in a segment", samples.len())))?;
    let payload: usize = samples.iter().map(|s| s.data.len()).sum();
    let mut sizes = Vec::with_capacity(samples.len());
    for sample in samples {
        sizes.push(
            u32::try_from(sample.data.len()).map_err(|_| {
                Fmp4Error::Range(format!("a sample of {} bytes", sample.data.len()))
            })?,
        );
    }
    let with_offsets = samples.iter().any(|s| s.composition_offset != 0);
    let trun_version = u8::from(samples.iter().any(|s| s.composition_offset < 0));
    // data-offset, sample duration, size, flags, (composition offsets).
    let trun_flags = 0x0001 | 0x0100 | 0x0200 | 0x0400 | if with_offsets { 0x0800 } else { 0 };

    let mut out = Vec::with_capacity(payload + 128 + samples.len() * 16);
    BoxWriter::new(&mut out, b"styp")
        .bytes(b"msdh")
        .u32(0)
        .bytes(b"msdh")
        .bytes(b"cmfs")
        .finish();
    let moof_start = out.len();
    let mut data_offset_at = 0;
    let mut moof = BoxWriter::new(&mut out, b"moof");
    moof.child_full(b"mfhd", 0, 0, |b| {
        b.u32(sequence_number);
    });
    moof.child(b"traf", |traf| {
        // default-base-is-moof: data offsets count from the start of the moof.
        traf.child_full(b"tfhd", 0, 0x02_0000, |b| {
            b.u32(TRACK_ID);
        });
        traf.child_full(b"tfdt", 1, 0, |b| {
            b.u64(base_media_decode_time);
        });
        traf.child_full(b"trun", trun_version, trun_flags, |b| {
            b.u32(sample_count);
            data_offset_at = b.out.len();
            b.u32(0);
            for (sample, size) in samples.iter().zip(&sizes) {
                b.u32(sample.duration).u32(*size).u32(if sample.keyframe {
                    SYNC_SAMPLE_FLAGS
                } else {
                    NON_SYNC_SAMPLE_FLAGS
                });
                if with_offsets {
                    // Version 1 reads it as signed, version 0 only holds non-negative values.
                    b.u32(sample.composition_offset as u32);
                }
            }
        });
    });
    moof.finish();
    let moof_size = out.len() - moof_start;
    // The first sample starts after the moof and the mdat header.
    let data_offset = u32::try_from(moof_size + 8)
        .map_err(|_| Fmp4Error::Range(format!("a moof of {moof_size} bytes")))?;
    out[data_offset_at..data_offset_at + 4].copy_from_slice(&data_offset.to_be_bytes());
    let mdat_size = u32::try_from(payload + 8)
        .map_err(|_| Fmp4Error::Range(format!("a segment of {payload} bytes of media")))?;
    out.extend_from_slice(&mdat_size.to_be_bytes());
    out.extend_from_slice(b"mdat");
    for sample in samples {
        out.extend_from_slice(sample.data);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// A box as read back by the tests' own walker: kind, payload.
    fn boxes(data: &[u8]) -> Vec<([u8; 4], &[u8])> {
        let mut out = Vec::new();
        let mut pos = 0;
        while pos < data.len() {
            let size = u32::from_be_bytes(data[pos..pos + 4].try_into().unwrap()) as usize;
            assert!(
                size >= 8 && pos + size <= data.len(),
                "box size {size} at {pos}"
            );
            let kind: [u8; 4] = data[pos + 4..pos + 8].try_into().unwrap();
            out.push((kind, &data[pos + 8..pos + size]));
            pos += size;
        }
        out
    }

    fn child<'a>(data: &'a [u8], path: &[&[u8; 4]]) -> &'a [u8] {
        let mut current = data;
        for (depth, kind) in path.iter().enumerate() {
            current = boxes(current)
                .into_iter()
                .find(|(k, _)| k == *kind)
                .unwrap_or_else(|| panic!("no {:?} at depth {depth}", std::str::from_utf8(*kind)))
                .1;
        }
        current
    }

    fn be32(data: &[u8], at: usize) -> u32 {
        u32::from_be_bytes(data[at..at + 4].try_into().unwrap())
    }

    /// avcC of a High profile level 3.1 stream with one SPS and one PPS.
    fn avcc() -> Vec<u8> {
        vec![
            1, 0x64, 0x00, 0x1f, 0xff, 0xe1, 0, 4, 0x67, 0x64, 0x00, 0x1f, 1, 0, 2, 0x68, 0xee,
        ]
    }

    fn track() -> VideoTrack {
        VideoTrack {
            codec: VideoCodec::H264,
            codec_config: avcc(),
            width: 1280,
            height: 720,
            timescale: 90_000,
        }
    }

    #[test]
    fn init_segment_layout() {
        let init = init_segment(&track()).unwrap();
        let top: Vec<[u8; 4]> = boxes(&init).iter().map(|(k, _)| *k).collect();
        assert_eq!(top, [*b"ftyp", *b"moov"]);
        assert_eq!(&child(&init, &[b"ftyp"])[..4], b"cmfc");
        let mvhd = child(&init, &[b"moov", b"mvhd"]);
        assert_eq!(be32(mvhd, 4), 0, "creation time 0");
        assert_eq!(be32(mvhd, 12), 90_000, "timescale");
        let mdhd = child(&init, &[b"moov", b"trak", b"mdia", b"mdhd"]);
        assert_eq!(be32(mdhd, 12), 90_000);
        let tkhd = child(&init, &[b"moov", b"trak", b"tkhd"]);
        assert_eq!(be32(tkhd, 12), TRACK_ID);
        assert_eq!(be32(tkhd, 76), 1280 << 16);
        assert_eq!(be32(tkhd, 80), 720 << 16);
        let stsd = child(
            &init,
            &[b"moov", b"trak", b"mdia", b"minf", b"stbl", b"stsd"],
        );
        let entry = &stsd[8..];
        assert_eq!(&entry[4..8], b"avc1");
        let avc1 = boxes(entry)[0].1;
        assert_eq!(u16::from_be_bytes([avc1[24], avc1[25]]), 1280);
        assert_eq!(u16::from_be_bytes([avc1[26], avc1[27]]), 720);
        assert_eq!(child(&avc1[78..], &[b"avcC"]), avcc().as_slice());
        let trex = child(&init, &[b"moov", b"mvex", b"trex"]);
        assert_eq!(be32(trex, 4), TRACK_ID);
        assert_eq!(init, init_segment(&track()).unwrap(), "deterministic");
    }

    #[test]
    fn audio_init_segment_layout() {
        let track = AudioTrack {
            config: AudioSpecificConfig::parse(&[0x11, 0x90]).unwrap(),
            bandwidth: 128_000,
        };
        let init = audio_init_segment(&track).unwrap();
        let mdhd = child(&init, &[b"moov", b"trak", b"mdia", b"mdhd"]);
        assert_eq!(be32(mdhd, 12), 48_000, "timescale = sampling rate");
        let hdlr = child(&init, &[b"moov", b"trak", b"mdia", b"hdlr"]);
        assert_eq!(&hdlr[8..12], b"soun");
        child(&init, &[b"moov", b"trak", b"mdia", b"minf", b"smhd"]);
        let stsd = child(
            &init,
            &[b"moov", b"trak", b"mdia", b"minf", b"stbl", b"stsd"],
        );
        let entry = &stsd[8..];
        assert_eq!(&entry[4..8], b"mp4a");
        let mp4a = boxes(entry)[0].1;
        assert_eq!(u16::from_be_bytes([mp4a[16], mp4a[17]]), 2, "channels");
        assert_eq!(be32(mp4a, 24), 48_000 << 16);
        let esds = child(&mp4a[28..], &[b"esds"]);
        // ES_Descriptor, DecoderConfigDescriptor for MPEG-4 audio, the ASC, SLConfig 2.
        assert_eq!(
            &esds[4..],
            &[
                0x03, 25, 0, 0, 0, 0x04, 17, 0x40, 0x15, 0, 0, 0, 0, 1, 0xf4, 0, 0, 1, 0xf4, 0,
                0x05, 2, 0x11, 0x90, 0x06, 1, 2
            ]
        );
        assert_eq!(init, audio_init_segment(&track).unwrap(), "deterministic");
    }

    #[test]
    fn codec_strings() {
        assert_eq!(
            rfc6381_codec(VideoCodec::H264, &avcc()).unwrap(),
            "avc1.64001f"
        );
        // Main profile, level 3.1 (93), compatibility flags 0x60000000, progressive +
        // frame-only constraint flags (0xB0).
        let mut hvcc = vec![1, 0x01, 0x60, 0, 0, 0, 0xb0, 0, 0, 0, 0, 0, 93];
        hvcc.resize(23, 0);
        assert_eq!(
            rfc6381_codec(VideoCodec::H265, &hvcc).unwrap(),
            "hvc1.1.6.L93.B0"
        );
        let error = rfc6381_codec(VideoCodec::H264, &[0, 0, 0, 1, 0x67, 0, 0]).unwrap_err();
        assert!(
            error.to_string().contains("configurationVersion 0"),
            "{error}"
        );
        let error = init_segment(&VideoTrack {
            codec_config: vec![1, 2],
            ..track()
        })
        .unwrap_err();
        assert!(error.to_string().contains("too short"), "{error}");
    }

    #[test]
    fn media_segment_layout() {
        let data = [vec![0u8; 10], vec![1u8; 5], vec![2u8; 7]];
        let samples = [
            Sample {
                data: &data[0],
                duration: 3000,
                keyframe: true,
                composition_offset: 0,
            },
            Sample {
                data: &data[1],
                duration: 3000,
                keyframe: false,
                composition_offset: 6000,
            },
            Sample {
                data: &data[2],
                duration: 3000,
                keyframe: false,
                composition_offset: -3000,
            },
        ];
        let segment = media_segment(819_375_301, 147_487_554_180_000, &samples).unwrap();
        let top: Vec<[u8; 4]> = boxes(&segment).iter().map(|(k, _)| *k).collect();
        assert_eq!(top, [*b"styp", *b"moof", *b"mdat"]);
        assert_eq!(be32(child(&segment, &[b"moof", b"mfhd"]), 4), 819_375_301);
        let tfdt = child(&segment, &[b"moof", b"traf", b"tfdt"]);
        assert_eq!(tfdt[0], 1, "64-bit tfdt");
        assert_eq!(
            u64::from_be_bytes(tfdt[4..12].try_into().unwrap()),
            147_487_554_180_000
        );
        let trun = child(&segment, &[b"moof", b"traf", b"trun"]);
        assert_eq!(trun[0], 1, "signed composition offsets");
        assert_eq!(be32(trun, 0) & 0xff_ffff, 0xf01);
        assert_eq!(be32(trun, 4), 3);
        let data_offset = be32(trun, 8) as usize;
        let moof_at = boxes(&segment)[0].1.len() + 8;
        // The first sample's bytes are where data_offset (from the moof start) points.
        assert_eq!(&segment[moof_at + data_offset..][..10], &[0u8; 10]);
        assert_eq!(be32(trun, 12 + 16 + 12) as i32, 6000);
        assert_eq!(be32(trun, 12 + 32 + 12) as i32, -3000);
        assert_eq!(be32(trun, 12 + 8), SYNC_SAMPLE_FLAGS);
        assert_eq!(be32(trun, 12 + 16 + 8), NON_SYNC_SAMPLE_FLAGS);
        let mdat = child(&segment, &[b"mdat"]);
        assert_eq!(mdat.len(), 22);
        assert!(media_segment(1, 0, &[]).is_err());
    }

    #[test]
    fn no_offsets_means_version_0_without_the_field() {
        let data = [1u8, 2, 3];
        let sample = Sample {
            data: &data,
            duration: 1001,
            keyframe: true,
            composition_offset: 0,
        };
        let segment = media_segment(7, 0, &[sample, sample]).unwrap();
        let trun = child(&segment, &[b"moof", b"traf", b"trun"]);
        assert_eq!(trun[0], 0);
        assert_eq!(be32(trun, 0) & 0xff_ffff, 0x701);
        assert_eq!(trun.len(), 12 + 2 * 12);
    }

    proptest! {
        /// Any sample list gives a well-formed segment whose trun and mdat describe exactly
        /// the given samples, and the bytes are a function of the input.
        #[test]
        fn segments_describe_their_samples(
            sequence in any::<u32>(),
            base in any::<u64>(),
            specs in prop::collection::vec(
                (prop::collection::vec(any::<u8>(), 0..64), 1u32..100_000, any::<bool>(), -50_000i32..50_000),
                1..40,
            ),
        ) {
            let samples: Vec<Sample<'_>> = specs
                .iter()
                .map(|(data, duration, keyframe, offset)| Sample {
                    data,
                    duration: *duration,
                    keyframe: *keyframe,
                    composition_offset: *offset,
                })
                .collect();
            let segment = media_segment(sequence, base, &samples).unwrap();
            prop_assert_eq!(&segment, &media_segment(sequence, base, &samples).unwrap());
            let trun = child(&segment, &[b"moof", b"traf", b"trun"]);
            let flags = be32(trun, 0) & 0xff_ffff;
            let with_offsets = flags & 0x800 != 0;
            let stride = if with_offsets { 16 } else { 12 };
            prop_assert_eq!(be32(trun, 4) as usize, samples.len());
            let moof_at = boxes(&segment)[0].1.len() + 8;
            let mut position = moof_at + be32(trun, 8) as usize;
            for (i, sample) in samples.iter().enumerate() {
                let entry = 12 + i * stride;
                prop_assert_eq!(be32(trun, entry), sample.duration);
                prop_assert_eq!(be32(trun, entry + 4) as usize, sample.data.len());
                prop_assert_eq!(&segment[position..position + sample.data.len()], sample.data);
                position += sample.data.len();
                let offset = if with_offsets { be32(trun, entry + 12) as i32 } else { 0 };
                prop_assert_eq!(offset, sample.composition_offset);
            }
            prop_assert_eq!(position, segment.len());
            let tfdt = child(&segment, &[b"moof", b"traf", b"tfdt"]);
            prop_assert_eq!(u64::from_be_bytes(tfdt[4..12].try_into().unwrap()), base);
        }

        /// Codec strings never panic on arbitrary records and only use RFC 6381 characters.
        #[test]
        fn codec_strings_of_any_record(record in prop::collection::vec(any::<u8>(), 0..40), h265 in any::<bool>()) {
            let codec = if h265 { VideoCodec::H265 } else { VideoCodec::H264 };
            if let Ok(text) = rfc6381_codec(codec, &record) {
                prop_assert!(text.chars().all(|c| c.is_ascii_alphanumeric() || c == '.'));
            }
        }
    }
}
