// SPDX-License-Identifier: MPL-2.0
//! The AAC tracks: cut on the video's epoch grid in samples of their own rate.

use std::collections::BTreeSet;

use super::super::fmp4::{self, AudioTrack, Sample};
use super::super::grid::Grid;
use super::super::hls::{HlsConfig, HlsWindow, ResumePoint};
use super::super::output::{Destination, NameTemplate};
use super::super::storage::{StoredSegment, sha256_hex};
use super::super::{ExactSeconds, SegmentFact, segment_name};
use super::*;

/// An audio segment being filled: AAC frames from `first_sample` on, one frame length apart.
pub(super) struct OpenAudio<D> {
    pub(super) k: i64,
    pub(super) first_sample: i64,
    pub(super) frames: Vec<D>,
}

/// One AAC track: cut on the same epoch grid as the video, in samples of its own rate.
///
/// Segment k holds the frames whose first sample lies in `[B(k), B(k+1))`, `B(k)` the grid's
/// boundary in samples (whole: checked at start). A frame's position is its UTC instant in
/// samples, rounded, for the first frame after a start or a jump, and the previous position
/// plus one frame length otherwise, so decode times are continuous whatever the jitter of the
/// timestamps (up to half a frame). The segment is complete, and written, with the frame that
/// reaches `B(k+1)`.
pub(super) struct AudioOutput<D> {
    pub(super) id: String,
    pub(super) track: AudioTrack,
    pub(super) codec_string: String,
    pub(super) hls: Option<HlsWindow>,
    pub(super) files: TrackFiles,
    pub(super) template: NameTemplate,
    pub(super) grid: Grid,
    pub(super) segment_samples: i64,
    pub(super) phase_samples: i64,
    pub(super) next_sample: Option<i64>,
    pub(super) open: Option<OpenAudio<D>>,
    pub(super) skipping: Option<i64>,
    /// Every k up to this one is finished for this track (written, skipped or passed).
    pub(super) done_through: Option<i64>,
    pub(super) last_published_k: Option<i64>,
    /// Written segments not yet listed (listing follows the video's facts).
    pub(super) published: BTreeSet<i64>,
    pub(super) ended: bool,
    /// Reported stalled by the glue (no frame for a while): the manifests stop waiting for
    /// it until it sends again.
    pub(super) stalled: bool,
    pub(super) init_written: bool,
    /// The video fact of a k this track does not list had a discontinuity flag.
    pub(super) discontinuity_pending: bool,
    /// What restoring the previous run's storage index had to report, until the first frame.
    pub(super) restore_event: Option<Event>,
}

impl<D: AsRef<[u8]>> AudioOutput<D> {
    pub(super) fn new(
        input: AudioInput,
        config: &PublisherConfig,
        previous: Option<(ResumePoint, Vec<SegmentFact>)>,
    ) -> Result<AudioOutput<D>, PublishError> {
        let grid = config.grid;
        let rate = input.track.config.sampling_rate;
        let whole = |frames: i64, what: &str| {
            grid.ticks_of_frames(frames, rate)
                .and_then(|t| i64::try_from(t).ok())
                .ok_or_else(|| {
                    PublishError::Config(format!(
                        "audio '{}': {what} of {} frames at {} fps is not a whole number of \
                         samples at {rate} Hz, so audio segments cannot start where the \
                         video's do; use 48000 Hz audio (whole for 23.976 to 60 fps) or another \
                         segment-duration",
                        input.id,
                        frames,
                        grid.rate()
                    ))
                })
        };
        let segment_samples = whole(i64::from(grid.frames_per_segment()), "a segment")?;
        let phase_samples = whole(grid.first_frame_of_segment(0), "the grid phase")?;
        let hls = if config.hls {
            let mut hls_config = HlsConfig::cmaf(grid, config.playlist_type, &input.id)?;
            hls_config.timescale = rate;
            hls_config.segment_template = NameTemplate::new(config.segment_template())?;
            Some(window(
                hls_config,
                previous.as_ref(),
                &config.dir.join(format!("{}.m3u8", input.id)),
            )?)
        } else {
            None
        };
        let template = NameTemplate::new(config.segment_template())?;
        let mut files = TrackFiles::new(&input.id, grid, config.storage_index);
        let mut last_published_k = None;
        let mut restore_event = None;
        if let Some((point, facts)) = &previous {
            last_published_k = Some(point.last_k);
            for fact in facts {
                files.written.push_back((
                    fact.k,
                    segment_name(&template, &input.id, &grid, rate, fact.k)?,
                ));
            }
            let length = u128::from(input.track.config.frame_length);
            let video_rate = grid.rate();
            // A segment of `frames` video frames holds this many AAC frames, to the nearest.
            let rebuilt = |fact: &SegmentFact| {
                let scaled =
                    u128::from(fact.frames) * u128::from(video_rate.den()) * u128::from(rate);
                let unit = u128::from(video_rate.num()) * length.max(1);
                let aac_frames = u32::try_from((scaled + unit / 2) / unit).unwrap_or(u32::MAX);
                let last = u128::from(aac_frames.saturating_sub(1)) * length * 1_000_000_000
                    / u128::from(rate.max(1));
                (
                    aac_frames,
                    ExactSeconds::new(u128::from(aac_frames) * length, u128::from(rate)),
                    fact.first_frame_utc_ns
                        .saturating_add(i64::try_from(last).unwrap_or(i64::MAX)),
                )
            };
            restore_event = files.restore_index(&config.dir, facts, rebuilt, |frames| {
                ExactSeconds::new(u128::from(frames) * length, u128::from(rate))
            });
        }
        Ok(AudioOutput {
            codec_string: input.track.config.codec_string(),
            id: input.id,
            track: input.track,
            hls,
            files,
            template,
            grid,
            segment_samples,
            phase_samples,
            next_sample: None,
            open: None,
            skipping: None,
            done_through: None,
            last_published_k,
            published: BTreeSet::new(),
            ended: false,
            stalled: false,
            init_written: false,
            discontinuity_pending: false,
            restore_event,
        })
    }

    pub(super) fn playlist_name(&self) -> String {
        format!("{}.m3u8", self.id)
    }

    pub(super) fn boundary(&self, k: i64) -> i64 {
        k.saturating_mul(self.segment_samples)
            .saturating_add(self.phase_samples)
    }

    pub(super) fn segment_of_sample(&self, sample: i64) -> i64 {
        (sample.saturating_sub(self.phase_samples)).div_euclid(self.segment_samples)
    }

    pub(super) fn utc_of_sample(&self, sample: i64) -> i64 {
        let rate = i128::from(self.track.config.sampling_rate);
        i64::try_from(i128::from(sample) * 1_000_000_000 / rate).unwrap_or(i64::MAX)
    }

    pub(super) fn push(
        &mut self,
        frame: AudioFrame<D>,
        out: &mut dyn Destination,
        events: &mut Vec<Event>,
    ) -> Result<(), PublishError> {
        if !self.init_written {
            let init = fmp4::audio_init_segment(&self.track)
                .map_err(|e| PublishError::Input(e.to_string()))?;
            out.write(&format!("{}_init.mp4", self.id), &init)?;
            self.init_written = true;
        }
        self.stalled = false;
        let rate = i128::from(self.track.config.sampling_rate);
        let length = i64::from(self.track.config.frame_length);
        // The instant in samples, rounded to the nearest one.
        let raw = i64::try_from((i128::from(frame.utc_ns) * rate + 500_000_000) / 1_000_000_000)
            .unwrap_or(i64::MAX);
        let sample = match self.next_sample {
            Some(expected) if (raw - expected).abs() <= length / 2 => expected,
            Some(expected) if raw < expected => {
                events.push(Event::AudioBackward {
                    id: self.id.clone(),
                    utc_ns: frame.utc_ns,
                });
                return Ok(());
            }
            Some(_) => {
                // A jump forward: what is open ends here (short), the timeline restarts.
                self.close(out, events)?;
                raw
            }
            None => raw,
        };
        self.next_sample = Some(sample.saturating_add(length));
        let k = self.segment_of_sample(sample);
        if self.open.as_ref().is_some_and(|open| open.k != k) {
            self.close(out, events)?;
        }
        if self.skipping.is_some_and(|skipped| skipped != k) {
            self.skipping = None;
        }
        let finished = self.segment_of_sample(sample.saturating_add(length)) - 1;
        self.done_through = Some(self.done_through.map_or(finished, |d| d.max(finished)));
        if self.last_published_k.is_some_and(|last| k <= last) {
            // Published before a restart.
            return Ok(());
        }
        if self.open.is_none() && self.skipping.is_none() {
            if sample - self.boundary(k) < length {
                self.open = Some(OpenAudio {
                    k,
                    first_sample: sample,
                    frames: Vec::new(),
                });
            } else {
                // Joined inside segment k: it would start late; skip it.
                self.skipping = Some(k);
            }
        }
        if let Some(open) = &mut self.open {
            open.frames.push(frame.data);
            if sample.saturating_add(length) >= self.boundary(k.saturating_add(1)) {
                self.close(out, events)?;
            }
        }
        Ok(())
    }

    pub(super) fn close(
        &mut self,
        out: &mut dyn Destination,
        events: &mut Vec<Event>,
    ) -> Result<(), PublishError> {
        let Some(open) = self.open.take() else {
            return Ok(());
        };
        if open.frames.is_empty() {
            return Ok(());
        }
        let length = self.track.config.frame_length;
        let samples: Vec<Sample<'_>> = open
            .frames
            .iter()
            .map(|data| Sample {
                data: data.as_ref(),
                duration: length,
                keyframe: true,
                composition_offset: 0,
            })
            .collect();
        let base = u64::try_from(open.first_sample).map_err(|_| {
            PublishError::Input(format!("audio segment {} lies before 1970", open.k))
        })?;
        // mfhd sequence numbers are 32 bits: k modulo 2^32, as for the video.
        let bytes = fmp4::media_segment(open.k as u32, base, &samples)
            .map_err(|e| PublishError::Input(e.to_string()))?;
        let name = segment_name(
            &self.template,
            &self.id,
            &self.grid,
            self.track.config.sampling_rate,
            open.k,
        )?;
        out.write(&name, &bytes)?;
        let count = open.frames.len() as i64;
        let last_sample = open.first_sample + (count - 1) * i64::from(length);
        let first_utc = self.utc_of_sample(open.first_sample);
        let last_utc = self.utc_of_sample(last_sample);
        let total = u64::try_from(count).unwrap_or(0) * u64::from(length);
        let duration = ExactSeconds::new(
            u128::from(total),
            u128::from(self.track.config.sampling_rate),
        )
        .unwrap_or(ExactSeconds::from_nanos(0));
        let frames = u32::try_from(count).unwrap_or(u32::MAX);
        let size_bytes = bytes.len() as u64;
        self.files.record(open.k, name.clone(), || StoredSegment {
            name: name.clone(),
            k: open.k,
            first_timecode: String::new(),
            last_timecode: String::new(),
            first_frame_utc_ns: first_utc,
            last_frame_utc_ns: last_utc,
            frames,
            duration: Some(duration),
            size_bytes,
            sha256: sha256_hex(&bytes),
        });
        events.push(Event::Segment(PublishedSegment {
            representation: self.id.clone(),
            name,
            k: open.k,
            frames,
            first_frame_utc_ns: first_utc,
            last_frame_utc_ns: last_utc,
            first_timecode: None,
            last_timecode: None,
            duration_ns: duration.floor_nanos(),
            size_bytes,
        }));
        self.published.insert(open.k);
        self.last_published_k = Some(open.k);
        Ok(())
    }
}
