// SPDX-License-Identifier: MPL-2.0
//! One video rendition: cutting its frames on the grid, closing a segment (its frames in
//! decode order, muxed as CMAF or MPEG-TS, written and recorded).

use std::collections::BTreeMap;

use super::super::fmp4::{self, Sample, VideoTrack};
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

/// One video rendition (a rung of the ladder; rendition 0 is [`PublisherConfig::track`]):
/// its own encode of the same frames, cut on the same grid, with its own files, media
/// playlist and gaps.
pub(super) struct VideoOutput<D> {
    /// Its index in the ladder (0: the main track).
    pub(super) index: usize,
    pub(super) input: RenditionInput,
    pub(super) codec_string: String,
    template: NameTemplate,
    ticks_per_frame: u64,
    pub(super) files: TrackFiles,
    pub(super) hls: Option<HlsWindow>,
    /// The record's parameter sets, put in front of every TS keyframe.
    parameter_sets: Option<ts::ParameterSets>,
    init_written: bool,
    open: Option<OpenSegment<D>>,
    /// The segment being skipped (joined mid-segment, or not starting on a keyframe).
    skipping: Option<i64>,
    last_index: Option<(i64, i64)>,
    /// A jump cut the last written segment short: the next one written starts a new
    /// discontinuity domain (with [`PublisherConfig::discontinuity_on_jump`]).
    discontinuity_pending: bool,
    /// Frames are being dropped as backward (reported once per run).
    dropping_backward: bool,
    keyframe_requested_k: Option<i64>,
    /// The last segment written, by this run or (read back at start) a previous one.
    pub(super) last_written_k: Option<i64>,
    /// Segments written but not listed yet: the manifests wait until every rendition and
    /// audio track has finished k.
    pub(super) written: BTreeMap<i64, SegmentFact>,
    /// Every k up to this one is finished for this rendition (written, skipped or passed).
    pub(super) done_through: Option<i64>,
    pub(super) ended: bool,
    /// Reported stalled by the glue: the manifests stop waiting for it until it sends again.
    pub(super) stalled: bool,
}

impl<D: AsRef<[u8]>> VideoOutput<D> {
    /// A rendition, continuing what a previous run listed in its playlist (`previous`).
    pub(super) fn new(
        index: usize,
        mut input: RenditionInput,
        config: &PublisherConfig,
        previous: Option<&(ResumePoint, Vec<SegmentFact>)>,
    ) -> Result<VideoOutput<D>, PublishError> {
        let grid = config.grid;
        input.track.timescale = grid.default_timescale();
        let ticks_per_frame = grid.ticks_per_frame(input.track.timescale).ok_or_else(|| {
            PublishError::Config(format!(
                "no whole number of ticks per frame at {} fps",
                grid.rate()
            ))
        })?;
        let parameter_sets = match config.format {
            SegmentFormat::Cmaf => None,
            SegmentFormat::Ts => Some(
                ts::ParameterSets::from_record(input.track.codec, &input.track.codec_config)
                    .map_err(|e| PublishError::Input(format!("{}: {e}", input.id)))?,
            ),
        };
        let codec_string = fmp4::rfc6381_codec(input.track.codec, &input.track.codec_config)
            .map_err(|e| PublishError::Input(format!("{}: {e}", input.id)))?;
        let hls = if config.hls {
            let mut hls_config = HlsConfig::cmaf(grid, config.playlist_type, &input.id)?;
            hls_config.segment_template = NameTemplate::new(config.segment_template())?;
            if config.format == SegmentFormat::Ts {
                hls_config.init_template = None;
            }
            let path = config.dir.join(playlist_name(&input.id));
            Some(window(hls_config, previous, &path)?)
        } else {
            None
        };
        let template = NameTemplate::new(config.segment_template())?;
        let mut files = TrackFiles::new(&input.id, grid, config.storage_index);
        let restored: &[SegmentFact] = previous.map_or(&[], |(_, facts)| facts);
        for fact in restored {
            files.written.push_back((
                fact.k,
                segment_name(&template, &input.id, &grid, input.track.timescale, fact.k)?,
            ));
        }
        Ok(VideoOutput {
            index,
            codec_string,
            template,
            ticks_per_frame,
            files,
            hls,
            parameter_sets,
            init_written: false,
            open: None,
            skipping: None,
            last_index: None,
            discontinuity_pending: false,
            dropping_backward: false,
            keyframe_requested_k: None,
            last_written_k: previous.map(|(point, _)| point.last_k),
            written: BTreeMap::new(),
            done_through: None,
            ended: false,
            stalled: false,
            input,
        })
    }

    pub(super) fn id(&self) -> &str {
        &self.input.id
    }

    pub(super) fn track(&self) -> &VideoTrack {
        &self.input.track
    }

    /// The name of segment k's file.
    pub(super) fn segment_name(&self, grid: &Grid, k: i64) -> Result<String, PublishError> {
        Ok(segment_name(
            &self.template,
            &self.input.id,
            grid,
            self.input.track.timescale,
            k,
        )?)
    }

    pub(super) fn init_name(&self) -> String {
        format!("{}_init.mp4", self.input.id)
    }

    /// Every k up to `k` is finished for this rendition.
    fn done(&mut self, k: i64) {
        if self.done_through.is_none_or(|done| done < k) {
            self.done_through = Some(k);
        }
    }

    /// Handles one frame (decode order): cuts, and writes a segment once it is complete or a
    /// frame of a later one arrives.
    pub(super) fn push(
        &mut self,
        frame: Frame<D>,
        config: &PublisherConfig,
        out: &mut dyn Destination,
        events: &mut Vec<Event>,
    ) -> Result<(), PublishError> {
        self.stalled = false;
        if !self.init_written && config.format == SegmentFormat::Cmaf {
            let init = fmp4::init_segment(&self.input.track)
                .map_err(|e| PublishError::Input(format!("{}: {e}", self.input.id)))?;
            out.write(&self.init_name(), &init)?;
            self.init_written = true;
        }
        let grid = config.grid;
        let n = grid.epoch_frame_index(frame.utc_ns);
        let k = grid.segment_of_frame(n);
        if let Some((last_n, last_utc)) = self.last_index
            && n <= last_n
            && self.open.as_ref().is_none_or(|open| open.k != k)
        {
            // Within an open segment, B-frames come back in presentation time; anything
            // else at or before the last frame is a backward jump.
            if !std::mem::replace(&mut self.dropping_backward, true) {
                events.push(Event::Backward {
                    rendition: self.index,
                    utc_ns: frame.utc_ns,
                    last_utc_ns: last_utc,
                });
            }
            return Ok(());
        }
        if self.last_index.is_none_or(|(last_n, _)| n > last_n) {
            self.last_index = Some((n, frame.utc_ns));
            self.dropping_backward = false;
        }
        if let Some(open) = &self.open
            && open.k != k
        {
            // A frame of a later segment closes an incomplete one early. When the frames at its
            // end never came (a forward timecode jump, or frames lost), its EXTINF no longer
            // leads to the next segment's instant: the playlist's timestamp sequence jumps.
            let cut_short = !grid.is_last_frame_of_segment(open.last.1);
            let short_k = open.k;
            let frames = self.close(config, out, events)?;
            if cut_short && let Some(frames) = frames {
                let discontinuity = config.discontinuity_on_jump;
                self.discontinuity_pending |= discontinuity;
                events.push(Event::CutShort {
                    rendition: self.index,
                    k: short_k,
                    frames,
                    next_utc_ns: frame.utc_ns,
                    discontinuity,
                });
            }
        }
        // A frame of k: everything before k is finished for this rendition.
        self.done(k.saturating_sub(1));
        if self.skipping.is_some_and(|skipped| skipped != k) {
            self.skipping = None;
        }
        if self.last_written_k.is_some_and(|last| k <= last) {
            // Already published (a restart inside a published segment).
            return Ok(());
        }
        if config.dash && u32::try_from(k).is_err() {
            return Err(PublishError::Config(format!(
                "segment number {k} does not fit the MPD's 32-bit $Number$ (ISO/IEC \
                 23009-1): segments of {} s are too short to number from the Unix epoch; use \
                 segments of 0.5 s or longer, or dash=false",
                grid.segment_duration()
            )));
        }
        if self.open.is_none() && self.skipping.is_none() {
            self.open_segment(&frame, n, k, &grid, events);
        }
        let Some(open) = &mut self.open else {
            return Ok(());
        };
        let position = grid.position_in_segment(frame.utc_ns) as usize;
        if open.seen.get(position).copied().unwrap_or(true) {
            if !std::mem::replace(&mut self.dropping_backward, true) {
                events.push(Event::Backward {
                    rendition: self.index,
                    utc_ns: frame.utc_ns,
                    last_utc_ns: self.last_index.map_or(frame.utc_ns, |(_, utc)| utc),
                });
            }
            return Ok(());
        }
        self.dropping_backward = false;
        open.seen[position] = true;
        if n < open.first.0 {
            open.first = (n, frame.utc_ns, frame.timecode.clone());
        }
        if n > open.last.0 {
            open.last = (n, frame.utc_ns, frame.timecode.clone());
        }
        let lead = grid.rate().ns_to_frames(frame.decode_lead_ns);
        open.frames.push((n, lead, frame.keyframe, frame.data));
        if open.frames.len() >= grid.frames_per_segment() as usize {
            self.close(config, out, events)?;
        }
        Ok(())
    }

    /// The first frame of segment k since the last one closed: opens k, or skips it (joined
    /// inside it, or it does not start with a keyframe); asks for a keyframe at the next
    /// boundary.
    fn open_segment(
        &mut self,
        frame: &Frame<D>,
        n: i64,
        k: i64,
        grid: &Grid,
        events: &mut Vec<Event>,
    ) {
        if !grid.is_first_frame_of_segment(frame.utc_ns) {
            // Joined inside segment k: skip it; ask for a keyframe at the next boundary.
            self.skipping = Some(k);
        } else if !frame.keyframe {
            events.push(Event::NotKeyframe {
                rendition: self.index,
                k,
                utc_ns: frame.utc_ns,
            });
            self.skipping = Some(k);
        } else {
            self.open = Some(OpenSegment {
                k,
                frames: Vec::with_capacity(grid.frames_per_segment() as usize),
                seen: vec![false; grid.frames_per_segment() as usize],
                first: (n, frame.utc_ns, frame.timecode.clone()),
                last: (n, frame.utc_ns, frame.timecode.clone()),
            });
        }
        if self
            .keyframe_requested_k
            .is_none_or(|requested| requested <= k)
        {
            let next = k.saturating_add(1);
            self.keyframe_requested_k = Some(next);
            events.push(Event::KeyframeWanted {
                rendition: self.index,
                utc_ns: grid.segment_start_ns(next),
                k: next,
            });
        }
    }

    /// The rendition ended (EOS, or the stream finished): its open segment is written
    /// (short) and the manifests no longer wait for it.
    pub(super) fn end(
        &mut self,
        config: &PublisherConfig,
        out: &mut dyn Destination,
        events: &mut Vec<Event>,
    ) -> Result<(), PublishError> {
        self.close(config, out, events)?;
        self.ended = true;
        Ok(())
    }

    /// Writes the open segment, if any, and returns how many frames it spans.
    pub(super) fn close(
        &mut self,
        config: &PublisherConfig,
        out: &mut dyn Destination,
        events: &mut Vec<Event>,
    ) -> Result<Option<u32>, PublishError> {
        let Some(open) = self.open.take() else {
            return Ok(None);
        };
        let grid = config.grid;
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
            .ticks_of_frames(first_decode, self.input.track.timescale)
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
                ts::segment(self.input.track.codec, parameter_sets, &ts_samples)
            }
        };
        let name = self.segment_name(&grid, open.k)?;
        out.write(&name, &bytes)?;
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
        self.files.record(open.k, name.clone(), || StoredSegment {
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
            representation: self.input.id.clone(),
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
        self.last_written_k = Some(open.k);
        self.written.insert(open.k, fact);
        self.done(open.k);
        Ok(Some(frames))
    }
}
