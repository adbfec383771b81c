// SPDX-License-Identifier: MPL-2.0
//! The MPEG-4 AudioSpecificConfig of an AAC track (ISO/IEC 14496-3 §1.6.2.1): what the CMAF
//! init segment (`esds`), the HLS `CODECS`/`CHANNELS` and the DASH representation say about
//! the audio, read from the caps' `codec_data` that `aacparse` gives for `stream-format=raw`.
//!
//! Only the general-audio object types that carry a `GASpecificConfig` are accepted (AAC Main,
//! LC, SSR, LTP, Scalable, TwinVQ and their error-resilient variants): their frame length is
//! 1024 or 960 samples at the sampling rate of the config, which is what the epoch sample grid
//! needs. HE-AAC with explicit SBR/PS signalling (object types 5 and 29) produces 2048 output
//! samples per frame at twice the signalled rate; it is refused with a message rather than
//! packaged with the wrong timing. (HE-AAC signalled implicitly looks like AAC-LC and plays as
//! such.)

use std::fmt;

use crate::bitstream::bits::BitReader;

/// Sampling rates of `samplingFrequencyIndex` 0..=12.
const SAMPLING_RATES: [u32; 13] = [
    96_000, 88_200, 64_000, 48_000, 44_100, 32_000, 24_000, 22_050, 16_000, 12_000, 11_025, 8_000,
    7_350,
];

/// Object types that are followed by a `GASpecificConfig` (Table 1.15).
const GENERAL_AUDIO_TYPES: [u32; 12] = [1, 2, 3, 4, 6, 7, 17, 19, 20, 21, 22, 23];

/// Why a `codec_data` is not a usable AudioSpecificConfig.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AacConfigError(pub String);

impl fmt::Display for AacConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for AacConfigError {}

/// The fields of an AudioSpecificConfig the packager uses; `bytes` is the record itself, which
/// goes verbatim into the `esds` DecoderSpecificInfo.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AudioSpecificConfig {
    pub bytes: Vec<u8>,
    /// `audioObjectType` (2 = AAC-LC).
    pub object_type: u32,
    /// Hz; also the track's timescale.
    pub sampling_rate: u32,
    /// `channelConfiguration` (0: defined by a program config element in the stream). For 1..=7
    /// it is also the MPEG-B CICP ChannelConfiguration value DASH uses.
    pub channel_configuration: u32,
    /// Samples per AAC frame: 1024, or 960 with `frameLengthFlag`.
    pub frame_length: u32,
}

impl AudioSpecificConfig {
    /// Reads the record; every failure says what is wrong and what to do.
    pub fn parse(bytes: &[u8]) -> Result<AudioSpecificConfig, AacConfigError> {
        let truncated = || {
            AacConfigError(format!(
                "the AAC codec_data ({} bytes) ends inside its AudioSpecificConfig; the stream \
                 must be stream-format=raw with codec_data (aacparse gives it)",
                bytes.len()
            ))
        };
        let mut reader = BitReader::new(bytes);
        let mut read = |n: u32| reader.u(n).map_err(|_| truncated());
        let mut object_type = read(5)?;
        if object_type == 31 {
            object_type = 32 + read(6)?;
        }
        let index = read(4)?;
        let sampling_rate = if index == 0xf {
            read(24)?
        } else {
            *SAMPLING_RATES.get(index as usize).ok_or_else(|| {
                AacConfigError(format!(
                    "the AAC codec_data has the reserved samplingFrequencyIndex {index}"
                ))
            })?
        };
        let channel_configuration = read(4)?;
        if matches!(object_type, 5 | 29) {
            return Err(AacConfigError(format!(
                "HE-AAC{} with explicit SBR signalling (audio object type {object_type}) is not \
                 supported: its frames are 2048 samples at twice the signalled rate; encode \
                 AAC-LC (avenc_aac, faac or voaacenc do by default)",
                if object_type == 29 { " v2" } else { "" }
            )));
        }
        if !GENERAL_AUDIO_TYPES.contains(&object_type) {
            return Err(AacConfigError(format!(
                "audio object type {object_type} is not AAC (general audio with 1024- or \
                 960-sample frames); encode AAC-LC"
            )));
        }
        if sampling_rate == 0 {
            return Err(AacConfigError(
                "the AAC codec_data gives a sampling rate of 0 Hz".into(),
            ));
        }
        let frame_length = if read(1)? == 1 { 960 } else { 1024 };
        Ok(AudioSpecificConfig {
            bytes: bytes.to_vec(),
            object_type,
            sampling_rate,
            channel_configuration,
            frame_length,
        })
    }

    /// The RFC 6381 `codecs` value, e.g. `mp4a.40.2`.
    pub fn codec_string(&self) -> String {
        format!("mp4a.40.{}", self.object_type)
    }

    /// The number of output channels, when the config says it (1..=7, 11, 12, 14).
    pub fn channel_count(&self) -> Option<u32> {
        match self.channel_configuration {
            1..=6 => Some(self.channel_configuration),
            7 | 12 | 14 => Some(8),
            11 => Some(7),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn reads_what_encoders_write() {
        // avenc_aac / faac, 48 kHz stereo AAC-LC: 00010 0011 0010 0 0 0.
        let lc = AudioSpecificConfig::parse(&[0x11, 0x90]).unwrap();
        assert_eq!(
            (lc.object_type, lc.sampling_rate, lc.channel_configuration),
            (2, 48_000, 2)
        );
        assert_eq!(lc.frame_length, 1024);
        assert_eq!(lc.codec_string(), "mp4a.40.2");
        assert_eq!(lc.channel_count(), Some(2));
        assert_eq!(lc.bytes, vec![0x11, 0x90]);
        // 44.1 kHz mono with frameLengthFlag (960-sample frames): 00010 0100 0001 1 0 0.
        let short = AudioSpecificConfig::parse(&[0x12, 0x0c]).unwrap();
        assert_eq!((short.sampling_rate, short.frame_length), (44_100, 960));
        assert_eq!(short.channel_count(), Some(1));
        // An explicit rate (index 15): 00010 1111 <24 bits 48000> 0010 0 0 0.
        let explicit = AudioSpecificConfig::parse(&[0x17, 0x80, 0x5d, 0xc0, 0x10]).unwrap();
        assert_eq!(explicit.sampling_rate, 48_000);
        assert_eq!(explicit.channel_configuration, 2);
        // 7.1 (channelConfiguration 7) has 8 channels.
        let surround = AudioSpecificConfig::parse(&[0x11, 0xb8]).unwrap();
        assert_eq!(surround.channel_count(), Some(8));
    }

    #[test]
    fn refuses_with_a_reason() {
        let message = |bytes: &[u8]| AudioSpecificConfig::parse(bytes).unwrap_err().0;
        assert!(message(&[]).contains("stream-format=raw"));
        assert!(message(&[0x11]).contains("ends inside"));
        // HE-AAC: object type 5.
        assert!(message(&[0x2b, 0x92, 0x08, 0x00]).contains("HE-AAC"));
        // HE-AAC v2: object type 29.
        assert!(message(&[0xeb, 0x92, 0x08, 0x00]).contains("HE-AAC v2"));
        // Reserved sampling index 13.
        assert!(message(&[0x16, 0x90]).contains("reserved samplingFrequencyIndex 13"));
        // Object type 8 (CELP) is not AAC.
        assert!(message(&[0x41, 0x90]).contains("object type 8"));
    }

    proptest! {
        #[test]
        fn never_panics_and_accepts_only_usable_timing(
            bytes in proptest::collection::vec(any::<u8>(), 0..16)
        ) {
            if let Ok(config) = AudioSpecificConfig::parse(&bytes) {
                prop_assert!(config.sampling_rate > 0);
                prop_assert!(matches!(config.frame_length, 960 | 1024));
                prop_assert!(GENERAL_AUDIO_TYPES.contains(&config.object_type));
            }
        }
    }
}
