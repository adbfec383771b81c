// SPDX-License-Identifier: MPL-2.0
//! The event log of a `lockstep live` run: what happened on air (switches, handovers, the
//! scheduled failure and recovery, gaps), each with the frame and the UTC instant it happened
//! at. Written as `events.json` in the output directory whenever it changes (atomically, so a
//! reader never sees half of it); the player page marks the events on its timeline from it.

use std::path::{Path, PathBuf};

use serde::Serialize;

use gstlockstep::packaging::output::write_atomically;
use gstlockstep::timecode::utc::format_rfc3339_millis;

pub const EVENT_LOG: &str = "events.json";

/// One event.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Event {
    /// `switch`, `handover`, `handover-failed`, `failure`, `recovery`, `gap`.
    pub kind: String,
    /// The frame it happened at (as the switch numbers frames), when it concerns one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub frame: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timecode: Option<String>,
    /// The UTC instant of that frame (its timecode resolved), or for scheduled actions the
    /// wall-clock instant they were performed.
    pub utc: String,
    pub utc_ns: i64,
    /// What it was, in words a person reads.
    pub detail: String,
}

impl Event {
    pub fn new(kind: &str, utc_ns: i64, detail: String) -> Event {
        Event {
            kind: kind.to_owned(),
            frame: None,
            timecode: None,
            utc: format_rfc3339_millis(utc_ns),
            utc_ns,
            detail,
        }
    }

    pub fn at_frame(mut self, frame: i64, timecode: Option<String>) -> Event {
        self.frame = Some(frame);
        self.timecode = timecode;
        self
    }
}

/// What the page needs besides the events: the channel's frame rate, zone and segment length.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Channel {
    pub frame_rate_num: u32,
    pub frame_rate_den: u32,
    pub time_zone: String,
    pub segment_duration_s: f64,
    pub hls: String,
    pub dash: String,
}

#[derive(Serialize)]
struct LogFile<'a> {
    channel: &'a Channel,
    events: &'a [Event],
}

/// The log, kept in memory and written out on every change.
pub struct EventLog {
    dir: PathBuf,
    channel: Channel,
    events: Vec<Event>,
}

impl EventLog {
    pub fn new(dir: &Path, channel: Channel) -> EventLog {
        EventLog {
            dir: dir.to_path_buf(),
            channel,
            events: Vec::new(),
        }
    }

    /// Adds an event and rewrites the file.
    pub fn push(&mut self, event: Event) -> Result<(), String> {
        self.events.push(event);
        self.write()
    }

    pub fn write(&self) -> Result<(), String> {
        let text = serde_json::to_string_pretty(&LogFile {
            channel: &self.channel,
            events: &self.events,
        })
        .map_err(|e| e.to_string())?;
        write_atomically(&self.dir, EVENT_LOG, text.as_bytes())
            .map_err(|e| format!("cannot write the event log: {e}"))
    }
}
