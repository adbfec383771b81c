// SPDX-License-Identifier: MPL-2.0
//! The application's side: switch requests (`active-pad`, `switch-at`, `switch-at-frame`),
//! their refusals, and `stats`.

use gst::prelude::*;
use gst::subclass::prelude::*;

use crate::switching::{FrameIndex, PadId, Reject, SwitchReason, SwitchStats};
use crate::timecode::Timecode;

use super::*;

impl SynchronizedSwitch {
    pub(super) fn pad_id(&self, pad: &gst::Pad) -> Option<PadId> {
        pad.downcast_ref::<super::super::SynchronizedSwitchSinkPad>()
            .filter(|p| p.parent().as_ref() == Some(self.obj().upcast_ref::<gst::Object>()))
            .and_then(|p| p.imp().id())
    }

    pub(super) fn reject(&self, pad: &gst::Pad, what: &str, reason: String) -> bool {
        let text = format!("switch to {} {what} refused: {reason}", pad.name());
        gst::warning!(CAT, imp = self, "{text}");
        lock(&self.state).last_rejection = text.clone();
        let _ = self.obj().post_message(
            gst::message::Element::builder(
                gst::Structure::builder("synchronizedswitch-switch-rejected")
                    .field("pad", pad.name().to_string())
                    .field("reason", reason)
                    .build(),
            )
            .src(&*self.obj())
            .build(),
        );
        false
    }

    pub(super) fn reject_text(&self, reject: Reject, id: PadId) -> String {
        match reject {
            Reject::Unhealthy => {
                let pad = lock(&self.state).pad(id).cloned();
                match pad.and_then(|p| lock(&p.imp().stream).mismatch.clone()) {
                    Some(mismatch) => mismatch,
                    None => reject.to_string(),
                }
            }
            other => other.to_string(),
        }
    }

    pub(super) fn request_switch(&self, pad: &gst::Pad) -> bool {
        let Some(id) = self.pad_id(pad) else {
            return self.reject(pad, "", "not a sink pad of this element".into());
        };
        let result = lock(&self.state).core.request_switch(id);
        match result {
            Ok(()) => {
                self.timer_cond.notify_one();
                true
            }
            Err(reject) => {
                let text = self.reject_text(reject, id);
                self.reject(pad, "(active-pad)", text)
            }
        }
    }

    pub(super) fn switch_at_frame(&self, pad: &gst::Pad, at: FrameIndex) -> bool {
        let Some(id) = self.pad_id(pad) else {
            return self.reject(
                pad,
                &format!("at frame {at}"),
                "not a sink pad of this element".into(),
            );
        };
        let result = lock(&self.state).core.schedule_switch(id, at);
        match result {
            Ok(()) => {
                gst::info!(
                    CAT,
                    imp = self,
                    "switch to {} scheduled at frame {at}",
                    pad.name()
                );
                true
            }
            Err(reject) => {
                let text = self.reject_text(reject, id);
                self.reject(pad, &format!("at frame {at}"), text)
            }
        }
    }

    /// The index of the nearest frame labelled `text`, from a recent frame's index and label.
    pub(super) fn switch_at_timecode(&self, pad: &gst::Pad, text: &str) -> bool {
        let what = format!("at {text}");
        let Some((index, last, rate)) = lock(&self.state).last_named else {
            return self.reject(pad, &what, "no frame with a timecode has arrived yet, so the timecode cannot be placed (use switch-at-frame)".into());
        };
        let target: Timecode = match text.parse::<Timecode>() {
            Ok(tc) => tc,
            Err(e) => return self.reject(pad, &what, format!("not a timecode: {e}")),
        };
        if let Err(e) = target.validate(rate) {
            return self.reject(pad, &what, format!("not a timecode of this stream: {e}"));
        }
        let per_day = i64::from(Timecode::frames_per_day(rate, last.drop_frame));
        let diff = (i64::from(target.frame_of_day(rate)) - i64::from(last.frame_of_day(rate)))
            .rem_euclid(per_day);
        // Nearest occurrence: within half a day ahead, else the one behind (refused as past).
        let diff = if diff > per_day / 2 {
            diff - per_day
        } else {
            diff
        };
        self.switch_at_frame(pad, index + diff)
    }

    pub(super) fn stats(&self) -> gst::Structure {
        let state = lock(&self.state);
        let stats: SwitchStats = state.core.stats();
        let mut builder = gst::Structure::builder("stats")
            .field("frames-out", stats.frames_out)
            .field("switches", stats.switches.total());
        for reason in SwitchReason::ALL {
            builder = builder.field(
                format!("switches-{}", reason.as_str()),
                stats.switches.get(reason),
            );
        }
        builder
            .field("frames-dropped-inactive", stats.frames_dropped_inactive)
            .field("frames-dropped-window", stats.frames_dropped_window)
            .field("frames-dropped-flushed", stats.frames_dropped_flushed)
            .field("frames-unnamed", state.unnamed)
            .field("frames-mismatched", state.mismatched)
            .field("gaps", stats.gaps)
            .field("gap-frames", stats.gap_frames)
            .field("repeats", stats.repeats)
            .field("switch-failures", stats.switch_failures)
            .build()
    }
}
