// SPDX-License-Identifier: MPL-2.0
//! The encoder branches: each is `queue ! <encoder>` in a bin of its own, between the input
//! tee and the internal switch; added when an encoder starts, removed (off the streaming
//! threads) when it is replaced.

use gst::prelude::*;
use gst::subclass::prelude::*;

use super::super::memory;
use crate::framemeta;

use super::*;

/// One encoder branch: `queue ! <encoder>` in a bin, fed by the tee, feeding the switch.
#[derive(Debug, Clone)]
pub(super) struct Branch {
    pub(super) number: u64,
    pub(super) bin: gst::Bin,
    pub(super) tee_pad: gst::Pad,
    pub(super) switch_pad: gst::Pad,
}

impl HandoverBin {
    /// Builds `queue ! <description>` (or `queue ! element`) as a branch bin, adds it and links
    /// it between the tee and a new switch pad with `priority`.
    pub(super) fn add_branch(
        &self,
        description: Option<&str>,
        element: Option<gst::Element>,
        priority: u32,
    ) -> Result<Branch, String> {
        let number = {
            let mut state = lock(&self.state);
            state.next_branch += 1;
            state.next_branch
        };
        let (bin, text) = match (description, element) {
            (_, Some(element)) => {
                let bin = gst::Bin::with_name(&format!("branch{number}"));
                let queue = gst::ElementFactory::make("queue")
                    .build()
                    .map_err(|e| e.to_string())?;
                let text = format!(
                    "queue ! {}",
                    element
                        .factory()
                        .map_or("element".into(), |f| f.name().to_string())
                );
                bin.add_many([&queue, &element])
                    .map_err(|e| e.to_string())?;
                queue.link(&element).map_err(|e| e.to_string())?;
                let sink = gst::GhostPad::with_target(
                    &queue.static_pad("sink").ok_or("queue has no sink pad")?,
                )
                .map_err(|e| e.to_string())?;
                let src_pad = element
                    .static_pad("src")
                    .ok_or_else(|| "the encoder element has no static src pad".to_string())?;
                let src = gst::GhostPad::with_target(&src_pad).map_err(|e| e.to_string())?;
                bin.add_pad(&sink).map_err(|e| e.to_string())?;
                bin.add_pad(&src).map_err(|e| e.to_string())?;
                (bin, text)
            }
            (Some(description), None) => {
                let text = format!(
                    "queue max-size-time=0 max-size-bytes=0 max-size-buffers=60 ! {description}"
                );
                let bin = gst::parse::bin_from_description_full(
                    &text,
                    true,
                    None,
                    gst::ParseFlags::FATAL_ERRORS,
                )
                .map_err(|e| {
                    format!("the encoder description '{description}' does not parse: {e}")
                })?
                .downcast::<gst::Bin>()
                .map_err(|_| "the description is not a bin".to_string())?;
                bin.set_property("name", format!("branch{number}"));
                (bin, text)
            }
            (None, None) => return Err("no encoder given".into()),
        };
        let (Some(bin_sink), Some(bin_src)) = (bin.static_pad("sink"), bin.static_pad("src"))
        else {
            return Err(format!(
                "the encoder description '{text}' must have one unlinked sink pad and one unlinked src pad"
            ));
        };
        self.obj()
            .add(&bin)
            .map_err(|e| format!("cannot add the branch: {e}"))?;
        let switch_pad = self
            .switch
            .request_pad_simple("sink_%u")
            .ok_or("the switch gave no sink pad")?;
        switch_pad.set_property("priority", priority);
        let tee_pad = self
            .tee
            .request_pad_simple("src_%u")
            .ok_or("the tee gave no src pad")?;
        gst::debug!(CAT, imp = self, "branch {number}: {text}");
        let branch = Branch {
            number,
            bin: bin.clone(),
            tee_pad: tee_pad.clone(),
            switch_pad: switch_pad.clone(),
        };
        // Every encoded frame of the branch is reported to its endpoint.
        let weak = self.obj().downgrade();
        let probe_number = number;
        bin_src.add_probe(gst::PadProbeType::BUFFER, move |_, info| {
            if let (Some(this), Some(buffer)) = (weak.upgrade(), info.buffer()) {
                this.imp().on_encoded(probe_number, buffer);
            }
            gst::PadProbeReturn::Ok
        });
        let linked = bin_src
            .link(&switch_pad)
            .map_err(|e| {
                format!(
                    "the encoder branch cannot produce caps the output accepts (same size, frame rate and stream format as the running encoder): linking failed ({e:?})"
                )
            })
            .and_then(|_| {
                tee_pad
                    .link(&bin_sink)
                    .map(|_| ())
                    .map_err(|e| {
                        format!(
                            "the encoder branch cannot take the input's caps or produce caps the output accepts (same size, frame rate and stream format as the running encoder): linking failed ({e:?})"
                        )
                    })
            });
        if let Err(e) = linked.and_then(|_| {
            bin.sync_state_with_parent()
                .map_err(|_| "the encoder branch could not start".to_string())
        }) {
            self.remove_branch(&branch);
            return Err(e);
        }
        Ok(branch)
    }

    /// Unlinks a branch, shuts it down and removes it; its memory goes with it.
    pub(super) fn remove_branch(&self, branch: &Branch) {
        gst::debug!(CAT, imp = self, "removing branch {}", branch.number);
        if let Some(peer) = branch.tee_pad.peer() {
            let _ = branch.tee_pad.unlink(&peer);
        }
        self.tee.release_request_pad(&branch.tee_pad);
        let _ = branch.bin.set_state(gst::State::Null);
        self.switch.release_request_pad(&branch.switch_pad);
        let _ = self.obj().remove(&branch.bin);
    }

    /// Removes a branch off the streaming thread, and gives its memory back to the system
    /// (`release-memory`, see [`super::memory`]).
    pub(super) fn remove_later(&self, branch: Branch) {
        self.obj().call_async(move |bin| {
            let imp = bin.imp();
            imp.remove_branch(&branch);
            drop(branch);
            if lock(&imp.settings).release_memory {
                memory::release_freed_memory();
            }
        });
    }

    /// A frame leaving an encoder branch.
    pub(super) fn on_encoded(&self, number: u64, buffer: &gst::BufferRef) {
        let Some(Ok(meta)) = framemeta::timecode_of(buffer, None) else {
            return;
        };
        let frame = meta.frame_index();
        let keyframe = !buffer.flags().contains(gst::BufferFlags::DELTA_UNIT);
        let now = now_ns();
        let mut out = Vec::new();
        let mut retry = None;
        let role_updated = {
            let mut state = lock(&self.state);
            if state
                .target_branch
                .as_ref()
                .is_some_and(|b| b.number == number)
            {
                state.target.on_frame(frame, keyframe, now);
                false
            } else if let Some(updated) = state.updated.as_mut()
                && updated.branch.number == number
            {
                retry = updated.pending_switch.take();
                updated.endpoint.on_frame(frame, keyframe, now, &mut out);
                true
            } else {
                return;
            }
        };
        if let Some(at) = retry {
            // The switch has seen this branch's previous frames by now.
            self.try_switch(at, frame);
        }
        self.run(Deferred::Actions {
            role_updated,
            actions: out,
        });
    }

    /// Whether `element` is inside the updated branch.
    pub(super) fn in_updated_branch(&self, element: &gst::Object) -> bool {
        let bin = lock(&self.state)
            .updated
            .as_ref()
            .map(|u| u.branch.bin.clone());
        let Some(bin) = bin else {
            return false;
        };
        let mut current = Some(element.clone());
        while let Some(object) = current {
            if &object == bin.upcast_ref::<gst::Object>() {
                return true;
            }
            current = object.parent();
        }
        false
    }
}
