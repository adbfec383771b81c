// SPDX-License-Identifier: MPL-2.0
//! Closing a video segment: its frames in decode order, muxed (CMAF or MPEG-TS), written and
//! recorded.

use super::super::fmp4::{self, Sample};
use super::super::storage::{StoredSegment, sha256_hex};
use super::super::{ExactSeconds, SegmentFact, ts};
use super::*;

pub(super) struct OpenSegment<D> {
    pub(super) k: i64,
    /// (epoch frame index, decode lead in frames, keyframe, data), decode order.
    pub(super) frames: Vec<(i64, i64, bool, D)>,
    /// Which positions of the segment arrived (a repeated frame is dropped, not muxed twice).
    pub(super) seen: Vec<bool>,
    /// (epoch index, utc, timecode) of the earliest and latest frame in presentation order.
    pub(super) first: (i64, i64, Option<String>),
    pub(super) last: (i64, i64, Option<String>),
}

impl<D: AsRef<[u8]>> Publisher<D> {
    /// Writes the open segment, if any, and returns how many frames it spans.
    pub(super) fn close(&mut self, events: &mut Vec<Event>) -> Result<Option<u32>, PublishError> {
        let Some(open) = self.open.take() else {
            return Ok(None);
        };
        let grid = self.config.grid;
        let tpf = self.ticks_per_frame as i64;
        // Decode index of each sample: its presentation index moved back by the encoder's
        // decode lead, kept strictly increasing in decode order.
        let mut decode = Vec::with_capacity(open.frames.len());
        for (n, lead, _, _) in &open.frames {
            let wanted = n.saturating_sub(*lead);
            let index = match decode.last() {
                Some(&previous) if wanted <= previous => previous + 1,
                _ => wanted,
            };
            decode.push(index);
        }
        let mut samples = Vec::with_capacity(open.frames.len());
        for (i, (n, _, keyframe, data)) in open.frames.iter().enumerate() {
            let frames_to_next = decode.get(i + 1).map_or(1, |next| next - decode[i]);
            let offset = n.saturating_sub(decode[i]).saturating_mul(tpf);
            let range = |what: &str, value: i64| {
                PublishError::Input(format!(
                    "segment {}: a sample's {what} of {value} ticks does not fit 32 bits",
                    open.k
                ))
            };
            let duration = frames_to_next.saturating_mul(tpf);
            samples.push(Sample {
                data: data.as_ref(),
                duration: u32::try_from(duration).map_err(|_| range("duration", duration))?,
                keyframe: *keyframe,
                composition_offset: i32::try_from(offset)
                    .map_err(|_| range("composition offset", offset))?,
            });
        }
        let first_decode = decode.first().copied().unwrap_or(open.first.0);
        let base = grid
            .ticks_of_frames(first_decode, self.config.track.timescale)
            .and_then(|t| u64::try_from(t).ok())
            .ok_or_else(|| PublishError::Input(format!("segment {} lies before 1970", open.k)))?;
        // mfhd sequence numbers are 32 bits; k modulo 2^32 (k itself for 2 s segments until
        // the year 2242).
        let bytes = match &self.parameter_sets {
            None => fmp4::media_segment(open.k as u32, base, &samples)
                .map_err(|e| PublishError::Input(e.to_string()))?,
            Some(parameter_sets) => {
                // 90 kHz on the epoch grid: floor(index · den · 90000 / num), mod 2^33 in the
                // writer.
                let rate = grid.rate();
                let at_90k = |index: i64| {
                    u64::try_from(
                        i128::from(index) * i128::from(rate.den()) * 90_000
                            / i128::from(rate.num()),
                    )
                    .unwrap_or(0)
                };
                let ts_samples: Vec<ts::TsSample<'_>> = open
                    .frames
                    .iter()
                    .zip(&decode)
                    .map(|((n, _, keyframe, data), decode_index)| ts::TsSample {
                        data: data.as_ref(),
                        keyframe: *keyframe,
                        pts: at_90k(*n),
                        dts: at_90k(*decode_index),
                    })
                    .collect();
                ts::segment(self.config.track.codec, parameter_sets, &ts_samples)
            }
        };
        let name = self.segment_name(open.k)?;
        self.destination.write(&name, &bytes)?;
        let span = open.last.0.saturating_sub(open.first.0).saturating_add(1);
        let frames = u32::try_from(span)
            .unwrap_or(grid.frames_per_segment())
            .min(grid.frames_per_segment());
        let fact = SegmentFact {
            k: open.k,
            first_frame_utc_ns: open.first.1,
            frames,
            discontinuity: std::mem::take(&mut self.discontinuity_pending),
        };
        let duration_ns = ExactSeconds::of_frames(u64::from(frames), grid.rate()).floor_nanos();
        self.video_files
            .record(open.k, name.clone(), || StoredSegment {
                name: name.clone(),
                k: open.k,
                first_timecode: open.first.2.clone().unwrap_or_default(),
                last_timecode: open.last.2.clone().unwrap_or_default(),
                first_frame_utc_ns: open.first.1,
                last_frame_utc_ns: open.last.1,
                frames,
                duration: None,
                size_bytes: bytes.len() as u64,
                sha256: sha256_hex(&bytes),
            });
        events.push(Event::Segment(PublishedSegment {
            representation: VIDEO_REPRESENTATION.to_owned(),
            name: name.clone(),
            k: open.k,
            frames,
            first_frame_utc_ns: open.first.1,
            last_frame_utc_ns: open.last.1,
            first_timecode: open.first.2,
            last_timecode: open.last.2,
            duration_ns,
            size_bytes: bytes.len() as u64,
        }));
        self.last_published_k = Some(open.k);
        self.pending.push_back(fact);
        self.flush(events)?;
        self.delete_old(events)?;
        Ok(Some(frames))
    }
}
