// SPDX-License-Identifier: MPL-2.0
//! Parameter sets for a switch frame: a decoder that joins a stream at a keyframe needs the
//! SPS and PPS (H.264), or VPS, SPS and PPS (H.265), before it. A branch that sends them only
//! once, or out of band, has keyframes without them; when the output switches onto such a
//! keyframe, the branch's last parameter sets are put in front of it.
//!
//! [`ParameterSetCache`] keeps a branch's latest parameter sets (from its codec_data, and from
//! every access unit that carries some in band); [`ParameterSetCache::complete`] returns a
//! switch frame with them inserted when it lacks them, after any access unit delimiter (H.264
//! 7.4.1.2.3, H.265 7.4.2.4.4: the delimiter comes first, parameter sets before the first VCL
//! NAL unit).

use super::nal::NalUnits;
use super::{NalFraming, ParseError, codec_data};

/// Which codec's NAL unit header and parameter set types apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Codec {
    H264,
    H265,
}

/// What a NAL unit is, as far as switch frames care.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Delimiter,
    /// A parameter set, by its rank in the required order (VPS 0, SPS 1, PPS 2).
    ParameterSet(u8),
    Vcl,
    Other,
}

impl Codec {
    fn kind(self, nal: &[u8]) -> Kind {
        let Some(&header) = nal.first() else {
            return Kind::Other;
        };
        match self {
            Codec::H264 => match header & 0x1f {
                9 => Kind::Delimiter,
                7 => Kind::ParameterSet(1),
                8 => Kind::ParameterSet(2),
                1..=5 => Kind::Vcl,
                _ => Kind::Other,
            },
            Codec::H265 => match (header >> 1) & 0x3f {
                35 => Kind::Delimiter,
                32 => Kind::ParameterSet(0),
                33 => Kind::ParameterSet(1),
                34 => Kind::ParameterSet(2),
                0..=31 => Kind::Vcl,
                _ => Kind::Other,
            },
        }
    }

    /// The parameter set ranks a decoder needs before a keyframe.
    fn required(self) -> &'static [u8] {
        match self {
            Codec::H264 => &[1, 2],
            Codec::H265 => &[0, 1, 2],
        }
    }

    /// The NAL units of a codec_data record (avcC or hvcC).
    fn record(self, codec_data: &[u8]) -> Result<codec_data::Record<'_>, ParseError> {
        match self {
            Codec::H264 => codec_data::avcc(codec_data),
            Codec::H265 => codec_data::hvcc(codec_data),
        }
    }
}

/// The NAL units before the first VCL NAL unit of an access unit: where its parameter sets
/// are. The walk stops at the first slice, so it costs little whatever the picture's size.
fn prefix_units(codec: Codec, access_unit: &[u8], framing: NalFraming) -> Vec<(Kind, &[u8])> {
    let mut units = Vec::new();
    let mut walk = NalUnits::new(access_unit, framing);
    loop {
        if walk
            .peek_start()
            .is_some_and(|start| codec.kind(start) == Kind::Vcl)
        {
            break;
        }
        match walk.next() {
            Some(Ok(nal)) => units.push((codec.kind(nal), nal)),
            Some(Err(_)) => continue,
            None => break,
        }
    }
    units
}

/// A branch's latest parameter sets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParameterSetCache {
    codec: Codec,
    framing: NalFraming,
    /// The NAL units (no start code or size), in the order a decoder needs them.
    nal_units: Vec<Vec<u8>>,
}

impl ParameterSetCache {
    /// An empty cache for access units framed as `framing`.
    pub fn new(codec: Codec, framing: NalFraming) -> Self {
        ParameterSetCache {
            codec,
            framing,
            nal_units: Vec::new(),
        }
    }

    /// A cache holding the parameter sets of a codec_data record (avcC/hvcC), for access units
    /// framed as `framing`. A record cut short keeps what it held.
    pub fn from_codec_data(
        codec: Codec,
        framing: NalFraming,
        codec_data: &[u8],
    ) -> Result<Self, ParseError> {
        let record = codec.record(codec_data)?;
        let mut cache = ParameterSetCache::new(codec, framing);
        cache.store(
            record
                .nal_units
                .iter()
                .map(|nal| (codec.kind(nal), *nal))
                .collect(),
        );
        Ok(cache)
    }

    pub fn framing(&self) -> NalFraming {
        self.framing
    }

    /// True when every parameter set a decoder needs is known.
    pub fn is_complete(&self) -> bool {
        let ranks: Vec<u8> = self
            .nal_units
            .iter()
            .filter_map(|nal| match self.codec.kind(nal) {
                Kind::ParameterSet(rank) => Some(rank),
                _ => None,
            })
            .collect();
        self.codec.required().iter().all(|r| ranks.contains(r))
    }

    /// Reads the parameter sets an access unit carries in band, if any: a complete set
    /// replaces the cache, parameter sets of one kind replace those of that kind.
    pub fn observe(&mut self, access_unit: &[u8]) {
        let units = prefix_units(self.codec, access_unit, self.framing);
        self.store(units);
    }

    fn store(&mut self, units: Vec<(Kind, &[u8])>) {
        let mut new: Vec<(u8, &[u8])> = units
            .into_iter()
            .filter_map(|(kind, nal)| match kind {
                Kind::ParameterSet(rank) => Some((rank, nal)),
                _ => None,
            })
            .collect();
        if new.is_empty() {
            return;
        }
        // Kinds the access unit did not carry stay as they were.
        let carried: Vec<u8> = new.iter().map(|(rank, _)| *rank).collect();
        let kept: Vec<Vec<u8>> = std::mem::take(&mut self.nal_units)
            .into_iter()
            .filter(|nal| match self.codec.kind(nal) {
                Kind::ParameterSet(rank) => !carried.contains(&rank),
                _ => false,
            })
            .collect();
        let mut all: Vec<(u8, Vec<u8>)> = kept
            .into_iter()
            .filter_map(|nal| match self.codec.kind(&nal) {
                Kind::ParameterSet(rank) => Some((rank, nal)),
                _ => None,
            })
            .collect();
        all.extend(new.drain(..).map(|(rank, nal)| (rank, nal.to_vec())));
        // VPS, SPS, PPS: a stable sort keeps the order within a kind.
        all.sort_by_key(|(rank, _)| *rank);
        self.nal_units = all.into_iter().map(|(_, nal)| nal).collect();
    }

    /// True when `access_unit` carries every parameter set a decoder needs before its first
    /// slice.
    pub fn carries_parameter_sets(&self, access_unit: &[u8]) -> bool {
        let units = prefix_units(self.codec, access_unit, self.framing);
        self.codec.required().iter().all(|required| {
            units
                .iter()
                .any(|(kind, _)| *kind == Kind::ParameterSet(*required))
        })
    }

    /// `access_unit` with the cached parameter sets in front of its first slice (after an
    /// access unit delimiter), when it lacks some of them and the cache has them all; `None`
    /// when nothing is to be done (it carries them) or can be done (the cache is incomplete).
    pub fn complete(&self, access_unit: &[u8]) -> Option<Vec<u8>> {
        if self.carries_parameter_sets(access_unit) || !self.is_complete() {
            return None;
        }
        let framed = |out: &mut Vec<u8>, nal: &[u8]| match self.framing {
            NalFraming::AnnexB => {
                out.extend_from_slice(&[0, 0, 0, 1]);
                out.extend_from_slice(nal);
            }
            NalFraming::LengthPrefixed(size_len) => {
                let size = (nal.len() as u32).to_be_bytes();
                out.extend_from_slice(&size[4 - usize::from(size_len.clamp(1, 4))..]);
                out.extend_from_slice(nal);
            }
        };
        // Where the delimiter ends: the first NAL unit, when it is one.
        let split = match prefix_units(self.codec, access_unit, self.framing).first() {
            Some((Kind::Delimiter, nal)) => {
                let end = nal.as_ptr() as usize + nal.len() - access_unit.as_ptr() as usize;
                end.min(access_unit.len())
            }
            _ => 0,
        };
        let extra: usize = self.nal_units.iter().map(|n| n.len() + 4).sum();
        let mut out = Vec::with_capacity(access_unit.len() + extra);
        out.extend_from_slice(&access_unit[..split]);
        for nal in &self.nal_units {
            framed(&mut out, nal);
        }
        out.extend_from_slice(&access_unit[split..]);
        Some(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bitstream::nal::{write_annex_b, write_length_prefixed};

    const SPS: &[u8] = &[0x67, 0x42, 0xc0, 0x1e];
    const PPS: &[u8] = &[0x68, 0xce, 0x3c, 0x80];
    const AUD: &[u8] = &[0x09, 0xf0];
    const IDR: &[u8] = &[0x65, 0x88, 0x84, 0x00, 0x33];
    const SEI: &[u8] = &[0x06, 0x05, 0x01, 0xff, 0x80];

    #[test]
    fn byte_stream_switch_frame_gets_the_cached_sets_after_its_delimiter() {
        let mut cache = ParameterSetCache::new(Codec::H264, NalFraming::AnnexB);
        assert!(!cache.is_complete());
        let first = write_annex_b(&[AUD, SPS, PPS, SEI, IDR]);
        cache.observe(&first);
        assert!(cache.is_complete());
        assert_eq!(cache.complete(&first), None, "it carries them");
        let bare = write_annex_b(&[AUD, SEI, IDR]);
        assert!(!cache.carries_parameter_sets(&bare));
        let completed = cache.complete(&bare).unwrap();
        assert_eq!(completed, write_annex_b(&[AUD, SPS, PPS, SEI, IDR]));
        let no_aud = write_annex_b(&[IDR]);
        assert_eq!(
            cache.complete(&no_aud).unwrap(),
            write_annex_b(&[SPS, PPS, IDR])
        );
    }

    #[test]
    fn length_prefixed_frames_use_the_streams_size_length() {
        let avcc = {
            let mut data = vec![1, 0x42, 0xc0, 0x1e, 0xff, 0xe1];
            data.extend_from_slice(&(SPS.len() as u16).to_be_bytes());
            data.extend_from_slice(SPS);
            data.push(1);
            data.extend_from_slice(&(PPS.len() as u16).to_be_bytes());
            data.extend_from_slice(PPS);
            data
        };
        let framing = NalFraming::LengthPrefixed(4);
        let cache = ParameterSetCache::from_codec_data(Codec::H264, framing, &avcc).unwrap();
        assert!(cache.is_complete());
        let bare = write_length_prefixed(&[IDR], 4);
        assert_eq!(
            cache.complete(&bare).unwrap(),
            write_length_prefixed(&[SPS, PPS, IDR], 4)
        );
    }

    #[test]
    fn h265_needs_vps_sps_and_pps() {
        let vps: &[u8] = &[0x40, 0x01, 0x0c];
        let sps: &[u8] = &[0x42, 0x01, 0x01];
        let pps: &[u8] = &[0x44, 0x01, 0xc1];
        let idr: &[u8] = &[0x26, 0x01, 0xaf];
        let aud: &[u8] = &[0x46, 0x01, 0x50];
        let mut cache = ParameterSetCache::new(Codec::H265, NalFraming::AnnexB);
        cache.observe(&write_annex_b(&[sps, pps, idr]));
        assert!(!cache.is_complete(), "no VPS yet");
        assert_eq!(cache.complete(&write_annex_b(&[idr])), None);
        cache.observe(&write_annex_b(&[vps, idr]));
        assert!(cache.is_complete(), "the VPS joins the SPS and PPS kept");
        assert_eq!(
            cache.complete(&write_annex_b(&[aud, idr])).unwrap(),
            write_annex_b(&[aud, vps, sps, pps, idr])
        );
    }

    #[test]
    fn newer_parameter_sets_replace_older_ones_of_their_kind() {
        let mut cache = ParameterSetCache::new(Codec::H264, NalFraming::AnnexB);
        cache.observe(&write_annex_b(&[SPS, PPS, IDR]));
        let pps2: &[u8] = &[0x68, 0xee, 0x3c, 0x80];
        cache.observe(&write_annex_b(&[pps2, IDR]));
        assert_eq!(
            cache.complete(&write_annex_b(&[IDR])).unwrap(),
            write_annex_b(&[SPS, pps2, IDR])
        );
    }

    proptest::proptest! {
        #[test]
        fn arbitrary_access_units_never_panic(
            data in proptest::collection::vec(proptest::num::u8::ANY, 0..300),
            size_len in proptest::sample::select(vec![1u8, 2, 4]),
        ) {
            for codec in [Codec::H264, Codec::H265] {
                for framing in [NalFraming::AnnexB, NalFraming::LengthPrefixed(size_len)] {
                    let mut cache = ParameterSetCache::new(codec, framing);
                    cache.observe(&data);
                    let _ = cache.complete(&data);
                    let _ = ParameterSetCache::from_codec_data(codec, framing, &data);
                }
            }
        }

        /// What `complete` returns carries the parameter sets and, after them, every NAL unit
        /// of the input in order.
        #[test]
        fn completed_frames_carry_the_sets_and_keep_every_unit(
            aud in proptest::bool::ANY,
            extra in proptest::collection::vec(proptest::collection::vec(1u8..=255, 1..8), 0..4),
        ) {
            let mut cache = ParameterSetCache::new(Codec::H264, NalFraming::AnnexB);
            cache.observe(&write_annex_b(&[SPS, PPS, IDR]));
            let mut units: Vec<Vec<u8>> = Vec::new();
            if aud {
                units.push(AUD.to_vec());
            }
            // SEI-typed units with payload bytes that never form a start code.
            units.extend(extra.into_iter().map(|mut u| { u.insert(0, 0x06); u }));
            units.push(IDR.to_vec());
            let refs: Vec<&[u8]> = units.iter().map(Vec::as_slice).collect();
            let completed = cache.complete(&write_annex_b(&refs)).unwrap();
            proptest::prop_assert!(cache.carries_parameter_sets(&completed));
            let out: Vec<&[u8]> = crate::bitstream::nal::AnnexBNalUnits::new(&completed)
                .filter(|nal| *nal != SPS && *nal != PPS)
                .collect();
            proptest::prop_assert_eq!(out, refs);
        }
    }
}
