// SPDX-License-Identifier: MPL-2.0
//! What a frame with a timing gets: the latch report, the time code and `timestamp/x-unix`
//! metas, and with `timeline=timecode` its UTC timestamps and segment.

use gst::glib;
use gst::subclass::prelude::*;
use gst_video::{ValidVideoTimeCode, VideoTimeCode, VideoTimeCodeFlags, VideoTimeCodeMeta};

use super::super::TimecodeTimeline;
use super::super::latch::{FrameTiming, LatchReason, Resync};
use crate::framemeta::UNIX_REFERENCE;
use crate::timecode::utc::{self};

use super::*;

impl TimecodeParse {
    /// Everything a frame with a UTC instant gets: the latch report, the mismatch warning, the
    /// time code meta, the `timestamp/x-unix` meta and, with `timeline=timecode`, the UTC
    /// timestamps.
    pub(super) fn apply_timing(
        &self,
        state: &mut State,
        buffer: &mut gst::Buffer,
        timing: &FrameTiming,
        running_ns: Option<i64>,
        deferred: &mut Deferred,
    ) {
        if let Some(reason) = timing.latched {
            self.report_latch(state, timing, reason, running_ns, deferred);
        }
        if let Some((advanced, embedded)) = timing.mismatch {
            state.stats.mismatches += 1;
            let resync = state.config.resync;
            deferred.problem(state, Problem::Mismatch, || {
                format!(
                    "The embedded timecode {embedded} differs from the advanced timecode {advanced}; {}",
                    match resync {
                        Resync::OnDiscontinuity => "keeping the advanced one (resync=on-discontinuity); further mismatches are counted in stats",
                        Resync::EveryFrame => "following the embedded one (resync=every-frame); further mismatches are counted in stats",
                    }
                )
            });
        }
        let buf = buffer.make_mut();
        attach_timecode_meta(state, buf, timing, deferred);
        let rate = timing.rate;
        let frame_duration =
            gst::ClockTime::from_nseconds(u64::try_from(rate.frames_to_ns(1)).unwrap_or_default());
        let placed = match u64::try_from(timing.utc_ns) {
            Ok(utc_ns) => {
                gst::ReferenceTimestampMeta::add(
                    buf,
                    &state.unix_reference,
                    gst::ClockTime::from_nseconds(utc_ns),
                    frame_duration,
                );
                if state.config.timeline == TimecodeTimeline::Timecode {
                    restamp_to_utc(state, buf, utc_ns, frame_duration, running_ns, deferred);
                }
                true
            }
            Err(_) => {
                let tc = timing.timecode;
                deferred.problem(state, Problem::BeforeEpoch, || {
                    format!(
                        "The timecode {tc} resolves to {}, before the Unix epoch; no UTC meta or timeline can be given",
                        utc::format_rfc3339_millis(timing.utc_ns)
                    )
                });
                false
            }
        };
        if !placed {
            self.without_timing(state, buffer, deferred);
        }
    }

    /// `timecodeparse-latched`, posted once the state lock is released.
    pub(super) fn report_latch(
        &self,
        state: &mut State,
        timing: &FrameTiming,
        reason: LatchReason,
        running_ns: Option<i64>,
        deferred: &mut Deferred,
    ) {
        if reason != LatchReason::First {
            state.stats.resyncs += 1;
        }
        gst::info!(
            CAT,
            imp = self,
            "Latched on {} = {} ({:?})",
            timing.timecode,
            utc::format_rfc3339_nanos(timing.utc_ns),
            reason
        );
        let mut s = gst::Structure::builder("timecodeparse-latched")
            .field("timecode", timing.timecode.to_string())
            .field("utc", utc::format_rfc3339_millis(timing.utc_ns))
            .field("utc-ns", timing.utc_ns)
            .field("source", source_nick(state.config.source))
            .field(
                "reason",
                match reason {
                    LatchReason::First => "first",
                    LatchReason::Discontinuity => "discontinuity",
                    LatchReason::Resync => "resync",
                },
            )
            .field("zone", state.config.rule.zone.name());
        if let Some(rt) = running_ns.and_then(|r| u64::try_from(r).ok()) {
            s = s.field("running-time", gst::ClockTime::from_nseconds(rt));
        }
        deferred.messages.push(s.build());
    }

    /// A frame with no UTC instant. With `timeline=timecode` it can't be placed on the UTC
    /// timeline: before the first latch downstream still has the input's segment and the frame
    /// keeps its timestamps; after it, its timestamps are cleared rather than be wrong.
    pub(super) fn without_timing(
        &self,
        state: &mut State,
        buffer: &mut gst::Buffer,
        deferred: &mut Deferred,
    ) {
        if state.config.timeline != TimecodeTimeline::Timecode {
            return;
        }
        match state.sent_segment {
            None => {
                deferred.segment = Some(gst::event::Segment::new(&state.segment));
                state.sent_segment = Some(SentSegment::Input);
            }
            Some(SentSegment::Input) => {}
            Some(SentSegment::Timecode) => {
                let buf = buffer.make_mut();
                buf.set_pts(gst::ClockTime::NONE);
                buf.set_dts(gst::ClockTime::NONE);
            }
        }
    }
}

/// The frame's `GstVideoTimeCodeMeta`. One answer per frame: upstream time code metas and
/// `timestamp/x-unix` metas are replaced. An upstream time code meta (h264parse attaches one)
/// is overwritten in place, which spares GStreamer freeing one meta and allocating another on
/// every frame.
fn attach_timecode_meta(
    state: &mut State,
    buf: &mut gst::BufferRef,
    timing: &FrameTiming,
    deferred: &mut Deferred,
) {
    let rate = timing.rate;
    let field_info = state.field_info;
    let jam = daily_jam(state, timing);
    let tc = timing.timecode;
    let mut flags = VideoTimeCodeFlags::empty();
    if tc.drop_frame {
        flags |= VideoTimeCodeFlags::DROP_FRAME;
    }
    if field_info.interlaced {
        flags |= VideoTimeCodeFlags::INTERLACED;
    }
    let valid = ValidVideoTimeCode::try_from(VideoTimeCode::new(
        gst::Fraction::new(
            i32::try_from(rate.num()).unwrap_or(i32::MAX),
            i32::try_from(rate.den()).unwrap_or(i32::MAX),
        ),
        jam.as_ref(),
        flags,
        u32::from(tc.hours),
        u32::from(tc.minutes),
        u32::from(tc.seconds),
        u32::from(tc.frames),
        field_info.field_count,
    ));
    let mut reuse_tc_meta = valid.is_ok();
    let mut kept_tc_meta = false;
    buf.foreach_meta_mut(|mut meta| {
        let remove = if meta.downcast_ref::<VideoTimeCodeMeta>().is_some() {
            let keep = reuse_tc_meta;
            reuse_tc_meta = false;
            kept_tc_meta |= keep;
            !keep
        } else {
            meta.downcast_ref::<gst::ReferenceTimestampMeta>()
                .is_some_and(|m| {
                    m.reference()
                        .structure(0)
                        .is_some_and(|s| s.name() == UNIX_REFERENCE)
                })
        };
        std::ops::ControlFlow::Continue(if remove {
            gst::buffer::BufferMetaForeachAction::Remove
        } else {
            gst::buffer::BufferMetaForeachAction::Keep
        })
    });
    match valid {
        Ok(valid) => match buf.meta_mut::<VideoTimeCodeMeta>() {
            Some(mut meta) if kept_tc_meta => meta.set_tc(valid),
            _ => {
                VideoTimeCodeMeta::add(buf, &valid);
            }
        },
        Err(_) => deferred.problem(state, Problem::InvalidClock, || {
            format!("GStreamer rejects the time code {tc} at {}/{} fps; the frame passes without a GstVideoTimeCodeMeta", rate.num(), rate.den())
        }),
    }
}

/// `timeline=timecode`: PTS = the UTC instant, DTS keeps the frame's decode lead, and the
/// first such frame brings the UTC segment (running time = UTC ns since the epoch).
fn restamp_to_utc(
    state: &mut State,
    buf: &mut gst::BufferRef,
    utc_ns: u64,
    frame_duration: gst::ClockTime,
    running_ns: Option<i64>,
    deferred: &mut Deferred,
) {
    let pts = gst::ClockTime::from_nseconds(utc_ns);
    // Keep each frame's decode lead: DTS moves with its PTS.
    let dts = match (buf.pts(), buf.dts()) {
        (Some(p), Some(d)) if p >= d => pts.checked_sub(p - d),
        (Some(p), Some(d)) => Some(pts + (d - p)),
        // No PTS in (a raw stream with B-frames): nothing says how far decode order leads
        // presentation, so no DTS is invented.
        _ => None,
    };
    // Where the input timeline lies under ours, for upstream events: by PTS, or by DTS for a
    // stream whose frames have none.
    let input_running = running_ns.map(|r| (r, pts)).or_else(|| {
        let decode = buf.dts().and_then(|d| state.segment.to_running_time(d))?;
        Some((i64::try_from(decode.nseconds()).ok()?, dts?))
    });
    if let Some((input_ns, output)) = input_running
        && let Ok(output_ns) = i64::try_from(output.nseconds())
    {
        state.output_minus_input_ns = Some(output_ns - input_ns);
    }
    buf.set_pts(pts);
    buf.set_dts(dts);
    if buf.duration().is_none() {
        buf.set_duration(frame_duration);
    }
    if state.sent_segment != Some(SentSegment::Timecode) {
        // Running time = PTS = UTC ns since the Unix epoch.
        deferred.segment = Some(
            gst::event::Segment::builder(&gst::FormattedSegment::<gst::ClockTime>::new()).build(),
        );
        state.sent_segment = Some(SentSegment::Timecode);
        buf.set_flags(gst::BufferFlags::DISCONT);
    }
}

/// The daily jam of a frame's time code: the instant its label counts from, so that
/// jam + hh:mm:ss + ff × fps_d/fps_n is the frame's UTC instant (what `to_date_time()` returns
/// in GStreamer 1.22). Built as a UTC GDateTime, µs precision.
fn daily_jam(state: &mut State, timing: &FrameTiming) -> Option<glib::DateTime> {
    let tc = timing.timecode;
    let label_ns = i64::from(tc.seconds_of_day()) * 1_000_000_000
        + timing.rate.frames_to_ns(i64::from(tc.frames));
    // GDateTime holds µs: jams that differ by less (a drop-frame label drifts from the real
    // time by fractions of a µs per frame) are the same GDateTime, built once.
    let jam_us = (timing.utc_ns - label_ns).div_euclid(1000);
    if let Some((cached_us, jam)) = &state.jam_cache
        && *cached_us == jam_us
    {
        return Some(jam.clone());
    }
    let jam = glib::DateTime::from_unix_utc(jam_us.div_euclid(1_000_000))
        .and_then(|d| {
            d.add(glib::TimeSpan::from_microseconds(
                jam_us.rem_euclid(1_000_000),
            ))
        })
        .ok()?;
    state.jam_cache = Some((jam_us, jam.clone()));
    Some(jam)
}
