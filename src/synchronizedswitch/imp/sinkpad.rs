// SPDX-License-Identifier: MPL-2.0
//! The request sink pad `sink_%u` (a GObject type of its own, with properties `priority` and
//! `healthy`) and the per-pad stream state its streaming thread owns.

use std::sync::{Arc, LazyLock, Mutex};

use gst::glib;
use gst::prelude::*;
use gst::subclass::prelude::*;

use super::super::AlignBy;
use crate::bitstream::parameter_sets::ParameterSetCache;
use crate::switching::PadId;
use crate::switching::reorder::CutTracker;
use crate::timecode::FrameRate;

use super::*;

/// Per-pad stream state, owned by the pad (its streaming thread is the only writer).
#[derive(Debug)]
pub(super) struct PadStream {
    pub(super) caps: Option<gst::Caps>,
    pub(super) segment: Arc<gst::FormattedSegment<gst::ClockTime>>,
    pub(super) tracker: CutTracker,
    /// The caps describe other content than the other pads: its frames are refused.
    pub(super) mismatch: Option<String>,
    pub(super) warned_unnamed: bool,
    pub(super) warned_mismatch: bool,
    /// `align-by` as the element started, and the frame rate of the pad's caps: read on every
    /// frame, so kept here rather than behind the element's locks.
    pub(super) align_by: AlignBy,
    pub(super) rate: Option<FrameRate>,
    /// The branch showed DTS ≠ PTS: it reorders frames, so DTS = PTS on a frame proves
    /// nothing (a B-frame may have it by chance).
    pub(super) reorders: bool,
    /// H.264/H.265 with parameter sets in band (byte-stream, avc3, hev1): the latest ones,
    /// from codec_data and the keyframes that carry them.
    pub(super) parameter_sets: Option<Arc<ParameterSetCache>>,
    /// How far the branch's decode timeline runs behind its presentation timeline (its reorder
    /// delay): PTS − DTS of a keyframe at a cut, where the two orders meet.
    pub(super) decode_lead_ns: Option<u64>,
}

impl Default for PadStream {
    fn default() -> Self {
        PadStream {
            caps: None,
            segment: Arc::new(gst::FormattedSegment::new()),
            tracker: CutTracker::new(),
            mismatch: None,
            warned_unnamed: false,
            warned_mismatch: false,
            reorders: false,
            align_by: DEFAULT_ALIGN_BY,
            rate: None,
            parameter_sets: None,
            decode_lead_ns: None,
        }
    }
}

#[derive(Debug, Default)]
pub struct SinkPad {
    /// The core's id of this pad (handed out again when the element starts).
    pub(super) id: Mutex<Option<PadId>>,
    pub(super) priority: Mutex<u32>,
    pub(super) stream: Mutex<PadStream>,
}

#[glib::object_subclass]
impl ObjectSubclass for SinkPad {
    const NAME: &'static str = "GstSynchronizedSwitchSinkPad";
    type Type = super::super::SynchronizedSwitchSinkPad;
    type ParentType = gst::Pad;
}

impl ObjectImpl for SinkPad {
    fn properties() -> &'static [glib::ParamSpec] {
        static PROPERTIES: LazyLock<Vec<glib::ParamSpec>> = LazyLock::new(|| {
            vec![
                glib::ParamSpecUInt::builder("priority")
                    .nick("Priority")
                    .blurb("Preference of this branch for the initial choice, failover and auto-switch-back: lower is preferred (default: the pad's number, so sink_0 is preferred)")
                    .mutable_playing()
                    .build(),
                glib::ParamSpecBoolean::builder("healthy")
                    .nick("Healthy")
                    .blurb("The branch delivers frames in step with the output: no EOS, error, stall or caps mismatch")
                    .read_only()
                    .build(),
            ]
        });
        PROPERTIES.as_ref()
    }

    fn set_property(&self, _id: usize, value: &glib::Value, pspec: &glib::ParamSpec) {
        if pspec.name() == "priority" {
            let priority = value.get::<u32>().unwrap_or(0);
            *lock(&self.priority) = priority;
            if let (Some(id), Some(element)) = (self.id(), self.element()) {
                let mut state = lock(&element.imp().state);
                let _ = state.core.set_priority(id, priority);
            }
        }
    }

    fn property(&self, _id: usize, pspec: &glib::ParamSpec) -> glib::Value {
        match pspec.name() {
            "priority" => lock(&self.priority).to_value(),
            "healthy" => {
                let mismatch = lock(&self.stream).mismatch.is_some();
                let healthy = match (self.id(), self.element()) {
                    (Some(id), Some(element)) => {
                        let state = lock(&element.imp().state);
                        state.core.is_healthy(id).unwrap_or(false)
                    }
                    _ => false,
                };
                (healthy && !mismatch).to_value()
            }
            _ => unreachable!("no other pad property is installed"),
        }
    }
}

impl GstObjectImpl for SinkPad {}

impl PadImpl for SinkPad {}

impl SinkPad {
    pub(super) fn id(&self) -> Option<PadId> {
        *lock(&self.id)
    }

    pub(super) fn reassign(&self, id: PadId) {
        *lock(&self.id) = Some(id);
    }

    pub(super) fn element(&self) -> Option<super::super::SynchronizedSwitch> {
        self.obj()
            .parent()
            .and_then(|parent| parent.downcast::<super::super::SynchronizedSwitch>().ok())
    }
}
