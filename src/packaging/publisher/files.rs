// SPDX-License-Identifier: MPL-2.0
//! The segment files one track has on disk, what `max_files` deletes, and its storage index.

use std::collections::VecDeque;
use std::path::Path;

use super::super::grid::Grid;
use super::super::output::Destination;
use super::super::storage::{StorageIndex, StoredSegment};
use super::super::{ExactSeconds, SegmentFact};
use super::*;

/// The segment files one track has on disk: what `max_files` deletes, and its storage index.
pub(super) struct TrackFiles {
    pub(super) written: VecDeque<(i64, String)>,
    pub(super) storage: Option<StorageIndex>,
    pub(super) storage_name: String,
}

impl TrackFiles {
    pub(super) fn new(representation: &str, grid: Grid, storage_index: bool) -> TrackFiles {
        TrackFiles {
            written: VecDeque::new(),
            storage: storage_index.then(|| StorageIndex::new(representation, grid)),
            storage_name: if representation == VIDEO_REPRESENTATION {
                STORAGE_INDEX.to_owned()
            } else {
                format!("storage_{representation}.json")
            },
        }
    }

    /// After a restart: the entries of the previous run's index for the segments it listed
    /// (`written`, restored from its playlist, with their `facts`) whose files are still
    /// there. An index that cannot be read is rebuilt from what is on disk: size and SHA-256
    /// from each file, first instant and length from the playlist, no timecode labels (the
    /// playlist does not carry them); the returned event says so.
    pub(super) fn restore_index(
        &mut self,
        dir: &Path,
        facts: &[SegmentFact],
        rebuilt: impl Fn(&SegmentFact) -> (u32, Option<ExactSeconds>, i64),
        duration: impl Fn(u32) -> Option<ExactSeconds>,
    ) -> Option<Event> {
        let storage = self.storage.as_mut()?;
        let path = dir.join(&self.storage_name);
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            // No index yet (the first run with `storage-manifest`): nothing to restore.
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => return None,
            Err(error) => return self.rebuild_index(dir, facts, rebuilt, error.to_string()),
        };
        let previous = match StorageIndex::read_segments(&text, duration) {
            Ok(previous) => previous,
            Err(error) => return self.rebuild_index(dir, facts, rebuilt, error.to_string()),
        };
        for segment in previous {
            if self
                .written
                .iter()
                .any(|(k, name)| *k == segment.k && *name == segment.name)
                && dir.join(&segment.name).is_file()
            {
                storage.insert(segment);
            }
        }
        None
    }

    pub(super) fn rebuild_index(
        &mut self,
        dir: &Path,
        facts: &[SegmentFact],
        rebuilt: impl Fn(&SegmentFact) -> (u32, Option<ExactSeconds>, i64),
        reason: String,
    ) -> Option<Event> {
        let storage = self.storage.as_mut()?;
        let mut entries = 0;
        for ((k, name), fact) in self.written.iter().zip(facts) {
            let Ok((sha256, size_bytes)) = std::fs::File::open(dir.join(name))
                .and_then(super::super::storage::sha256_of_reader)
            else {
                continue;
            };
            let (frames, duration, last_frame_utc_ns) = rebuilt(fact);
            storage.insert(StoredSegment {
                name: name.clone(),
                k: *k,
                first_timecode: String::new(),
                last_timecode: String::new(),
                first_frame_utc_ns: fact.first_frame_utc_ns,
                last_frame_utc_ns,
                frames,
                duration,
                size_bytes,
                sha256,
            });
            entries += 1;
        }
        Some(Event::StorageIndexRebuilt {
            name: self.storage_name.clone(),
            reason,
            entries,
        })
    }

    pub(super) fn record(&mut self, k: i64, name: String, stored: impl FnOnce() -> StoredSegment) {
        if let Some(storage) = &mut self.storage {
            storage.insert(stored());
        }
        self.written.push_back((k, name));
    }

    /// Deletes the oldest files beyond `max` (0: keep all) and rewrites the storage index.
    pub(super) fn delete_old(
        &mut self,
        out: &mut dyn Destination,
        max: usize,
        events: &mut Vec<Event>,
    ) -> Result<(), PublishError> {
        if max == 0 {
            return Ok(());
        }
        let mut storage_changed = false;
        while self.written.len() > max {
            let Some((k, name)) = self.written.pop_front() else {
                break;
            };
            out.delete(&name)?;
            if let Some(storage) = &mut self.storage {
                storage.remove(k);
                storage_changed = true;
            }
            events.push(Event::Deleted { k, name });
        }
        if storage_changed && let Some(storage) = &self.storage {
            out.write(&self.storage_name, storage.render().as_bytes())?;
        }
        Ok(())
    }
}
