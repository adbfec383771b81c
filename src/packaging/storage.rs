//! The storage manifest: a JSON index of stored segments with their SHA-256 digests, so an
//! archive or a second origin can check that it holds the same segments (seeds 000 and 001:
//! archive and integrity checks).
//!
//! Rendered by hand, deterministically: keys in a fixed order, segments sorted by k, integers
//! and strings only (no floats, whose formatting could differ), two-space indentation, LF line
//! ends. Two origins holding the same segments produce the same bytes.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::{self, Read};

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

/// Escapes a string for JSON (RFC 8259 §7): quotes, backslashes and control characters.
fn json_string(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
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

    /// The segments of an index this module rendered (a previous run's `storage.json`), so a
    /// restarted packager keeps them listed. `duration` gives an entry's duration from its
    /// frame count when it is not whole video frames (audio). `None` when the text is not such
    /// an index; entries with an escaped string are skipped (names and labels never need one).
    pub fn read_segments(
        text: &str,
        duration: impl Fn(u32) -> Option<ExactSeconds>,
    ) -> Option<Vec<StoredSegment>> {
        if !text.contains(&format!("\"format\": {}", json_string(FORMAT))) {
            return None;
        }
        let mut segments = Vec::new();
        let mut fields: BTreeMap<String, String> = BTreeMap::new();
        for raw in text.lines() {
            let line = raw.trim();
            if line.starts_with('}') && !fields.is_empty() {
                let entry = std::mem::take(&mut fields);
                let text_field = |key: &str| {
                    let value = entry.get(key)?;
                    let inner = value.strip_prefix('"')?.strip_suffix('"')?;
                    (!inner.contains('\\')).then(|| inner.to_owned())
                };
                let number = |key: &str| entry.get(key)?.parse::<i64>().ok();
                let parsed = (|| {
                    let frames = u32::try_from(number("frames")?).ok()?;
                    Some(StoredSegment {
                        name: text_field("name")?,
                        k: number("k")?,
                        first_timecode: text_field("first_timecode")?,
                        last_timecode: text_field("last_timecode")?,
                        first_frame_utc_ns: number("first_frame_utc_ns")?,
                        last_frame_utc_ns: number("last_frame_utc_ns")?,
                        frames,
                        duration: duration(frames),
                        size_bytes: u64::try_from(number("size_bytes")?).ok()?,
                        sha256: text_field("sha256")?,
                    })
                })();
                segments.extend(parsed);
                continue;
            }
            // `"key": value,` inside a segment object (six spaces of indentation).
            if raw.starts_with("      \"")
                && let Some((key, value)) = line.split_once("\": ")
                && let Some(key) = key.strip_prefix('"')
            {
                fields.insert(key.to_owned(), value.trim_end_matches(',').to_owned());
            }
        }
        Some(segments)
    }

    /// The JSON text.
    pub fn render(&self) -> String {
        let rate = self.grid.rate();
        let mut out = String::from("{\n");
        let _ = writeln!(out, "  \"format\": {},", json_string(FORMAT));
        let _ = writeln!(out, "  \"version\": {FORMAT_VERSION},");
        let _ = writeln!(
            out,
            "  \"representation\": {},",
            json_string(&self.representation_id)
        );
        let _ = writeln!(
            out,
            "  \"frame_rate\": {},",
            json_string(&format!("{}/{}", rate.num(), rate.den()))
        );
        let _ = writeln!(
            out,
            "  \"segment_frames\": {},",
            self.grid.frames_per_segment()
        );
        let _ = writeln!(
            out,
            "  \"grid_phase_frames\": {},",
            self.grid.phase_frames()
        );
        out.push_str("  \"segments\": [");
        for (index, segment) in self.segments.values().enumerate() {
            out.push_str(if index == 0 { "\n" } else { ",\n" });
            let duration = segment
                .duration
                .unwrap_or_else(|| ExactSeconds::of_frames(u64::from(segment.frames), rate));
            let fields = [
                ("name", json_string(&segment.name)),
                ("k", segment.k.to_string()),
                ("first_timecode", json_string(&segment.first_timecode)),
                ("last_timecode", json_string(&segment.last_timecode)),
                (
                    "first_frame_utc",
                    json_string(&format_rfc3339_nanos(segment.first_frame_utc_ns)),
                ),
                (
                    "last_frame_utc",
                    json_string(&format_rfc3339_nanos(segment.last_frame_utc_ns)),
                ),
                ("first_frame_utc_ns", segment.first_frame_utc_ns.to_string()),
                ("last_frame_utc_ns", segment.last_frame_utc_ns.to_string()),
                ("frames", segment.frames.to_string()),
                ("duration", json_string(&duration.to_iso8601())),
                ("duration_ns", duration.floor_nanos().to_string()),
                ("size_bytes", segment.size_bytes.to_string()),
                ("sha256", json_string(&segment.sha256)),
            ];
            out.push_str("    {\n");
            for (position, (key, value)) in fields.iter().enumerate() {
                let comma = if position + 1 < fields.len() { "," } else { "" };
                let _ = writeln!(out, "      \"{key}\": {value}{comma}");
            }
            out.push_str("    }");
        }
        out.push_str(if self.segments.is_empty() {
            "]\n"
        } else {
            "\n  ]\n"
        });
        out.push_str("}\n");
        out
    }
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
        assert_eq!(StorageIndex::read_segments("{}", |_| None), None);
        let empty = StorageIndex::new("v0", grid).render();
        assert_eq!(StorageIndex::read_segments(&empty, |_| None), Some(vec![]));
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
