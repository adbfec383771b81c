// SPDX-License-Identifier: MPL-2.0
//! What a branch's caps say about its content, and how two branches' content differs: the
//! check that every branch carries the same stream.

use gst::prelude::*;

use crate::timecode::FrameRate;

/// The parts of caps that say what the content is; all pads must agree on them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Content {
    pub(super) raw: bool,
    pub(super) fields: Vec<(String, String)>,
    pub(super) rate: Option<FrameRate>,
    /// The same fields as caps: what the other branches are asked to produce.
    pub(super) caps: gst::Caps,
}

pub(super) const CONTENT_FIELDS: [&str; 6] = [
    "width",
    "height",
    "framerate",
    "format",
    "stream-format",
    "alignment",
];

impl Content {
    pub(super) fn of(caps: &gst::CapsRef) -> Result<Content, String> {
        let s = caps.structure(0).ok_or_else(|| "empty caps".to_string())?;
        let mut fields = vec![("media".to_string(), s.name().to_string())];
        for field in CONTENT_FIELDS {
            if let Ok(value) = s.value(field) {
                fields.push((
                    field.to_string(),
                    value
                        .serialize()
                        .map_or_else(|_| String::new(), |v| v.to_string()),
                ));
            }
        }
        let rate = s.get::<gst::Fraction>("framerate").ok().and_then(|f| {
            FrameRate::new(
                u32::try_from(f.numer()).ok()?,
                u32::try_from(f.denom()).ok()?,
            )
        });
        let mut restriction = gst::Structure::new_empty(s.name());
        for field in CONTENT_FIELDS {
            if let Ok(value) = s.value(field) {
                restriction.set_value(field, value.clone());
            }
        }
        Ok(Content {
            raw: s.name() == "video/x-raw",
            fields,
            rate,
            caps: gst::Caps::builder_full().structure(restriction).build(),
        })
    }

    /// The first field where `self` and `other` disagree, if any.
    pub(super) fn difference(&self, other: &Content) -> Option<String> {
        for (name, value) in &self.fields {
            if let Some((_, theirs)) = other.fields.iter().find(|(n, _)| n == name)
                && theirs != value
            {
                return Some(format!("{name} {value} instead of {theirs}"));
            }
        }
        None
    }
}
