// SPDX-License-Identifier: MPL-2.0
//! The storage manifest: a JSON index of stored segments with their SHA-256 digests, so an
//! archive or a second origin can check that it holds the same segments (integrity checks of
//! stored CMAF content: every file named, sized and digested).
//!
//! Written with serde_json, deterministically: keys in the order of the [`IndexFile`] and
//! [`IndexEntry`] fields, segments sorted by k, integers and strings only (no floats, whose
//! formatting could differ), two-space indentation, LF line ends. Two origins holding the same
//! segments produce the same bytes.
//!
//! Read back leniently, so an index written by another version still restores: unknown fields
//! are ignored, and fields this version can derive (`duration`, the RFC 3339 instants) may be
//! missing. A text that is not such an index is an [`IndexReadError`] the caller reports.

use std::collections::BTreeMap;
use std::fmt::{self, Write as _};
use std::io::{self, Read};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::ExactSeconds;
use super::grid::Grid;
use crate::timecode::utc::format_rfc3339_nanos;

/// Format name written at the top of every index.
pub const FORMAT: &str = "lockstep-storage-index";
/// Version of the index format.
pub const FORMAT_VERSION: u32 = 1;

/// A SHA-256 computed over data that arrives in pieces (a segment as the muxer writes it).
#[derive(Debug, Clone, Default)]
pub struct StreamingSha256 {
    hasher: Sha256,
    bytes: u64,
}

impl StreamingSha256 {
    pub fn new() -> StreamingSha256 {
        StreamingSha256::default()
    }

    pub fn update(&mut self, data: &[u8]) {
        self.hasher.update(data);
        self.bytes = self.bytes.saturating_add(data.len() as u64);
    }

    /// Bytes hashed so far.
    pub fn len(&self) -> u64 {
        self.bytes
    }

    pub fn is_empty(&self) -> bool {
        self.bytes == 0
    }

    /// The lower-case hex digest and the byte count.
    pub fn finish(self) -> (String, u64) {
        (to_hex(&self.hasher.finalize()), self.bytes)
    }
}

fn to_hex(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 2);
    for byte in bytes {
        // Writing to a String cannot fail.
        let _ = write!(out, "{byte:02x}");
    }
    out
}

/// SHA-256 of `data` as lower-case hex.
pub fn sha256_hex(data: &[u8]) -> String {
    let mut hasher = StreamingSha256::new();
    hasher.update(data);
    hasher.finish().0
}

/// SHA-256 (hex) and size of everything `reader` yields (e.g. a segment file).
pub fn sha256_of_reader(mut reader: impl Read) -> io::Result<(String, u64)> {
    let mut hasher = StreamingSha256::new();
    let mut buffer = vec![0u8; 64 * 1024];
    loop {
        match reader.read(&mut buffer) {
            Ok(0) => break,
            Ok(n) => hasher.update(&buffer[..n]),
            Err(error) if error.kind() == io::ErrorKind::Interrupted => continue,
            Err(error) => return Err(error),
        }
    }
    Ok(hasher.finish())
}

/// One stored segment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredSegment {
    /// The file name, relative to the output directory.
    pub name: String,
    pub k: i64,
    /// Timecode labels of the first and last frame (`hh:mm:ss:ff`, `;` for drop-frame).
    pub first_timecode: String,
    pub last_timecode: String,
    /// UTC instants of the first and last frame, ns since the Unix epoch.
    pub first_frame_utc_ns: i64,
    pub last_frame_utc_ns: i64,
    /// Frames in the segment (AAC frames for audio).
    pub frames: u32,
    /// The duration, when it is not `frames` video frames (audio: samples / rate).
    pub duration: Option<ExactSeconds>,
    pub size_bytes: u64,
    /// Lower-case hex SHA-256 of the file's bytes.
    pub sha256: String,
}

/// The index of one representation's stored segments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StorageIndex {
    representation_id: String,
    grid: Grid,
    segments: BTreeMap<i64, StoredSegment>,
}

impl StorageIndex {
    pub fn new(representation_id: &str, grid: Grid) -> StorageIndex {
        StorageIndex {
            representation_id: representation_id.to_owned(),
            grid,
            segments: BTreeMap::new(),
        }
    }

    /// Adds or replaces the entry of segment `segment.k`.
    pub fn insert(&mut self, segment: StoredSegment) {
        self.segments.insert(segment.k, segment);
    }

    /// Removes the entry of segment k (a file deleted past `max-files`).
    pub fn remove(&mut self, k: i64) -> Option<StoredSegment> {
        self.segments.remove(&k)
    }

    pub fn segments(&self) -> impl Iterator<Item = &StoredSegment> {
        self.segments.values()
    }

    /// The segments of a previous run's `storage.json`, so a restarted packager keeps them
    /// listed. `duration` gives an entry's duration from its frame count when it is not whole
    /// video frames (audio).
    pub fn read_segments(
        text: &str,
        duration: impl Fn(u32) -> Option<ExactSeconds>,
    ) -> Result<Vec<StoredSegment>, IndexReadError> {
        let file: IndexFile<'_> = serde_json::from_str(text)
            .map_err(|error| IndexReadError::NotJson(error.to_string()))?;
        if file.format != FORMAT {
            return Err(IndexReadError::OtherFormat(file.format.into_owned()));
        }
        Ok(file
            .segments
            .into_iter()
            .map(|entry| StoredSegment {
                duration: duration(entry.frames),
                name: entry.name.into_owned(),
                k: entry.k,
                first_timecode: entry.first_timecode.into_owned(),
                last_timecode: entry.last_timecode.into_owned(),
                first_frame_utc_ns: entry.first_frame_utc_ns,
                last_frame_utc_ns: entry.last_frame_utc_ns,
                frames: entry.frames,
                size_bytes: entry.size_bytes,
                sha256: entry.sha256.into_owned(),
            })
            .collect())
    }

    /// The JSON text.
    pub fn render(&self) -> String {
        let rate = self.grid.rate();
        let frame_rate = format!("{}/{}", rate.num(), rate.den());
        let file = IndexFile {
            format: FORMAT.into(),
            version: FORMAT_VERSION,
            representation: self.representation_id.as_str().into(),
            frame_rate: frame_rate.as_str().into(),
            segment_frames: self.grid.frames_per_segment(),
            grid_phase_frames: self.grid.phase_frames(),
            segments: self
                .segments
                .values()
                .map(|segment| {
                    let duration = segment.duration.unwrap_or_else(|| {
                        ExactSeconds::of_frames(u64::from(segment.frames), rate)
                    });
                    IndexEntry {
                        name: segment.name.as_str().into(),
                        k: segment.k,
                        first_timecode: segment.first_timecode.as_str().into(),
                        last_timecode: segment.last_timecode.as_str().into(),
                        first_frame_utc: Some(format_rfc3339_nanos(segment.first_frame_utc_ns)),
                        last_frame_utc: Some(format_rfc3339_nanos(segment.last_frame_utc_ns)),
                        first_frame_utc_ns: segment.first_frame_utc_ns,
                        last_frame_utc_ns: segment.last_frame_utc_ns,
                        frames: segment.frames,
                        duration: Some(duration.to_iso8601()),
                        duration_ns: Some(duration.floor_nanos()),
                        size_bytes: segment.size_bytes,
                        sha256: segment.sha256.as_str().into(),
                    }
                })
                .collect(),
        };
        // Serialising plain strings and integers into a String cannot fail.
        let mut text = serde_json::to_string_pretty(&file).unwrap_or_default();
        text.push('\n');
        text
    }
}

/// Why a previous run's index could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IndexReadError {
    /// Not JSON, or JSON without the fields every version writes (truncated, garbage).
    NotJson(String),
    /// JSON of another format.
    OtherFormat(String),
}

impl fmt::Display for IndexReadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            IndexReadError::NotJson(error) => write!(f, "not a storage index ({error})"),
            IndexReadError::OtherFormat(format) => {
                write!(f, "format '{format}' is not '{FORMAT}'")
            }
        }
    }
}

impl std::error::Error for IndexReadError {}

/// The JSON document, field order = key order on disk.
#[derive(Debug, Serialize, Deserialize)]
struct IndexFile<'a> {
    #[serde(borrow)]
    format: std::borrow::Cow<'a, str>,
    version: u32,
    #[serde(borrow, default)]
    representation: std::borrow::Cow<'a, str>,
    #[serde(borrow, default)]
    frame_rate: std::borrow::Cow<'a, str>,
    #[serde(default)]
    segment_frames: u32,
    #[serde(default)]
    grid_phase_frames: u32,
    #[serde(borrow)]
    segments: Vec<IndexEntry<'a>>,
}

/// One segment's entry. The RFC 3339 instants and the duration are derived from the other
/// fields: written for readers, optional when read.
#[derive(Debug, Serialize, Deserialize)]
struct IndexEntry<'a> {
    #[serde(borrow)]
    name: std::borrow::Cow<'a, str>,
    k: i64,
    #[serde(borrow, default)]
    first_timecode: std::borrow::Cow<'a, str>,
    #[serde(borrow, default)]
    last_timecode: std::borrow::Cow<'a, str>,
    #[serde(default)]
    first_frame_utc: Option<String>,
    #[serde(default)]
    last_frame_utc: Option<String>,
    first_frame_utc_ns: i64,
    last_frame_utc_ns: i64,
    frames: u32,
    #[serde(default)]
    duration: Option<String>,
    #[serde(default)]
    duration_ns: Option<u64>,
    size_bytes: u64,
    #[serde(borrow)]
    sha256: std::borrow::Cow<'a, str>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::timecode::FrameRate;

    #[test]
    fn sha256_known_values_and_streaming() {
        assert_eq!(
            sha256_hex(b""),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        let mut hasher = StreamingSha256::new();
        assert!(hasher.is_empty());
        hasher.update(b"a");
        hasher.update(b"bc");
        assert_eq!(hasher.len(), 3);
        assert_eq!(hasher.finish(), (sha256_hex(b"abc"), 3));
        let data = vec![7u8; 200_000];
        assert_eq!(
            sha256_of_reader(&data[..]).unwrap(),
            (sha256_hex(&data), 200_000)
        );
    }

    fn segment(k: i64, bytes: &[u8]) -> StoredSegment {
        let utc = k * 2_002_000_000;
        StoredSegment {
            name: format!("v0_{k}.m4s"),
            k,
            first_timecode: "00:00:59;20".into(),
            last_timecode: "00:01:01;21".into(),
            first_frame_utc_ns: utc,
            last_frame_utc_ns: utc + 59 * 1_001_000_000 / 30,
            frames: 60,
            duration: None,
            size_bytes: bytes.len() as u64,
            sha256: sha256_hex(bytes),
        }
    }

    #[test]
    fn index_is_deterministic_json() {
        let grid = Grid::new(FrameRate::new(30000, 1001).unwrap(), 60).unwrap();
        let mut a = StorageIndex::new("v0", grid);
        let mut b = StorageIndex::new("v0", grid);
        for k in [819_374_300, 819_374_301, 819_374_302] {
            a.insert(segment(k, format!("payload {k}").as_bytes()));
        }
        // The other origin learns of them in another order.
        for k in [819_374_302, 819_374_300, 819_374_301] {
            b.insert(segment(k, format!("payload {k}").as_bytes()));
        }
        assert_eq!(a.render(), b.render());
        let json: serde_json::Value = serde_json::from_str(&a.render()).unwrap();
        assert_eq!(json["format"], FORMAT);
        assert_eq!(json["version"], 1);
        assert_eq!(json["frame_rate"], "30000/1001");
        assert_eq!(json["segment_frames"], 60);
        let segments = json["segments"].as_array().unwrap();
        assert_eq!(segments.len(), 3);
        let first = &segments[0];
        assert_eq!(first["k"], 819_374_300i64);
        assert_eq!(first["name"], "v0_819374300.m4s");
        assert_eq!(first["duration"], "PT2.002S");
        assert_eq!(first["duration_ns"], 2_002_000_000u64);
        assert_eq!(first["first_frame_utc_ns"], 819_374_300i64 * 2_002_000_000);
        assert_eq!(
            first["first_frame_utc"],
            format_rfc3339_nanos(819_374_300 * 2_002_000_000)
        );
        assert_eq!(first["first_timecode"], "00:00:59;20");
        assert_eq!(first["size_bytes"], "payload 819374300".len() as u64);
        assert_eq!(first["sha256"], sha256_hex(b"payload 819374300"));
        // Keys in a fixed order.
        let text = a.render();
        let name_at = text.find("\"name\"").unwrap();
        let sha_at = text.find("\"sha256\"").unwrap();
        assert!(name_at < sha_at);
        assert!(
            !text.contains('.') || !text.contains("e+"),
            "no float notation"
        );
        a.remove(819_374_301);
        let json: serde_json::Value = serde_json::from_str(&a.render()).unwrap();
        assert_eq!(json["segments"].as_array().unwrap().len(), 2);
        let empty = StorageIndex::new("v0", grid);
        let json: serde_json::Value = serde_json::from_str(&empty.render()).unwrap();
        assert_eq!(json["segments"].as_array().unwrap().len(), 0);
    }

    #[test]
    fn segments_read_back_from_the_rendered_index() {
        let grid = Grid::new(FrameRate::new(30000, 1001).unwrap(), 60).unwrap();
        let mut index = StorageIndex::new("v0", grid);
        for k in [819_374_300, 819_374_301] {
            index.insert(segment(k, format!("payload {k}").as_bytes()));
        }
        let read = StorageIndex::read_segments(&index.render(), |_| None).unwrap();
        assert_eq!(read, index.segments().cloned().collect::<Vec<_>>());
        let mut again = StorageIndex::new("v0", grid);
        for segment in read {
            again.insert(segment);
        }
        assert_eq!(again.render(), index.render());
        assert!(matches!(
            StorageIndex::read_segments("{}", |_| None),
            Err(IndexReadError::NotJson(_))
        ));
        let empty = StorageIndex::new("v0", grid).render();
        assert_eq!(StorageIndex::read_segments(&empty, |_| None), Ok(vec![]));
    }

    #[test]
    fn index_from_another_version_reads_with_unknown_fields_and_without_derived_ones() {
        // A newer writer added fields; an older one did not write the derived instants and
        // duration. Both restore.
        let text = r#"{
  "format": "lockstep-storage-index",
  "version": 2,
  "writer": {"name": "lockstep", "version": "9.9"},
  "segments": [
    {
      "name": "v0_7.m4s",
      "k": 7,
      "first_frame_utc_ns": 14000000000,
      "last_frame_utc_ns": 15960000000,
      "frames": 50,
      "size_bytes": 1234,
      "sha256": "ab",
      "codec": "avc1.64001f"
    }
  ]
}"#;
        let read = StorageIndex::read_segments(text, |_| None).unwrap();
        assert_eq!(read.len(), 1);
        assert_eq!(read[0].name, "v0_7.m4s");
        assert_eq!(read[0].k, 7);
        assert_eq!(read[0].frames, 50);
        assert_eq!(read[0].first_timecode, "");
        assert_eq!(read[0].size_bytes, 1234);
    }

    #[test]
    fn corrupt_index_is_an_error_never_a_panic() {
        let grid = Grid::new(FrameRate::new(25, 1).unwrap(), 50).unwrap();
        let mut index = StorageIndex::new("v0", grid);
        index.insert(segment(3, b"x"));
        let text = index.render();
        for cut in 0..text.trim_end().len() {
            let result = StorageIndex::read_segments(&text[..cut], |_| None);
            assert!(result.is_err(), "a truncated index read as {result:?}");
        }
        for garbage in ["", "null", "[]", "\u{0}\u{1}garbage", "{\"format\": 7}"] {
            assert!(StorageIndex::read_segments(garbage, |_| None).is_err());
        }
        let other = text.replace(FORMAT, "something-else");
        assert_eq!(
            StorageIndex::read_segments(&other, |_| None),
            Err(IndexReadError::OtherFormat("something-else".into()))
        );
    }

    #[test]
    fn strings_are_escaped() {
        let grid = Grid::new(FrameRate::new(25, 1).unwrap(), 50).unwrap();
        let mut index = StorageIndex::new("a\"b\\c\u{1}", grid);
        let mut odd = segment(1, b"x");
        odd.first_timecode = "line\nbreak\ttab\r".into();
        index.insert(odd);
        let json: serde_json::Value = serde_json::from_str(&index.render()).unwrap();
        assert_eq!(json["representation"], "a\"b\\c\u{1}");
        assert_eq!(json["segments"][0]["first_timecode"], "line\nbreak\ttab\r");
    }
}
