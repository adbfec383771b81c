// SPDX-License-Identifier: MPL-2.0
//! Safe output names and atomic file replacement (std only).
//!
//! Names come from templates with DASH identifiers (ISO/IEC 23009-1 §5.3.9.4.4):
//! `$RepresentationID$`, `$Number$`, `$Time$` (each optionally with a `%0<width>d` format tag)
//! and `$$`. The same template text goes verbatim into an MPD `SegmentTemplate` and, expanded,
//! into HLS playlists and file names, so a name is a function of (representation, k) only.
//!
//! A name may only use RFC 3986 *unreserved* characters (`A–Z a–z 0–9 - . _ ~`) and `/`
//! between components. That rules out, in one rule: absolute paths, `..`, NUL and control
//! characters, backslashes, `:` (a first component `a:b` would read as a URI scheme), `%` `?`
//! `#` (URI escapes, queries, fragments), and anything that would need escaping in an M3U8
//! attribute or in XML — so no name can escape the output directory or change the meaning of a
//! manifest.

use std::fmt;
use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// Why a template, a name or a write was refused or failed.
#[derive(Debug)]
pub enum OutputError {
    /// The template text is not usable; `reason` says why.
    Template { template: String, reason: String },
    /// A substituted value (a representation id) is not usable.
    Value { value: String, reason: String },
    /// An expanded or given name would escape the directory or break a manifest.
    Name { name: String, reason: String },
    /// A file system operation failed.
    Io {
        action: &'static str,
        path: PathBuf,
        source: io::Error,
    },
}

impl fmt::Display for OutputError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OutputError::Template { template, reason } => {
                write!(f, "name template '{template}' is not usable: {reason}")
            }
            OutputError::Value { value, reason } => {
                write!(
                    f,
                    "representation id '{value}' is not usable in names: {reason}"
                )
            }
            OutputError::Name { name, reason } => {
                write!(f, "output name '{name}' is not allowed: {reason}")
            }
            OutputError::Io {
                action,
                path,
                source,
            } => write!(
                f,
                "could not {action} '{}': {source}; check that the directory exists, is \
                 writable by this process and has free space",
                path.display()
            ),
        }
    }
}

impl std::error::Error for OutputError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            OutputError::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}

fn is_unreserved(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_' | '~')
}

/// Checks that `name` is a relative path of unreserved characters with no empty, `.` or `..`
/// component, so `dir.join(name)` stays inside `dir`.
pub fn check_relative_name(name: &str) -> Result<(), OutputError> {
    let refuse = |reason: &str| {
        Err(OutputError::Name {
            name: name.escape_debug().to_string(),
            reason: reason.to_owned(),
        })
    };
    if name.is_empty() {
        return refuse("it is empty");
    }
    if name.starts_with('/') {
        return refuse(
            "absolute paths are not allowed; give a name relative to the output directory",
        );
    }
    if let Some(c) = name.chars().find(|&c| c != '/' && !is_unreserved(c)) {
        return refuse(&format!(
            "character {:?} is not allowed (only A-Z a-z 0-9 - . _ ~ and / between components)",
            c
        ));
    }
    for component in name.split('/') {
        match component {
            "" => return refuse("it has an empty path component ('//' or a trailing '/')"),
            "." | ".." => {
                return refuse(
                    "'.' and '..' components are not allowed (they could leave the output directory)",
                );
            }
            _ => {}
        }
    }
    Ok(())
}

/// Checks a representation id: unreserved characters only, no `/`, not `.` or `..`, not empty
/// (also a valid `Representation@id`, which must not contain whitespace).
pub fn check_representation_id(id: &str) -> Result<(), OutputError> {
    let refuse = |reason: &str| {
        Err(OutputError::Value {
            value: id.escape_debug().to_string(),
            reason: reason.to_owned(),
        })
    };
    if id.is_empty() {
        return refuse("it is empty");
    }
    if id == "." || id == ".." {
        return refuse("'.' and '..' are not allowed");
    }
    if let Some(c) = id.chars().find(|&c| !is_unreserved(c)) {
        return refuse(&format!(
            "character {c:?} is not allowed (only A-Z a-z 0-9 - . _ ~; no path separators)"
        ));
    }
    Ok(())
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece {
    Literal(String),
    RepresentationId,
    Number { width: usize },
    Time { width: usize },
}

/// A validated name template such as `$RepresentationID$/seg-$Number%09d$.m4s`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NameTemplate {
    text: String,
    pieces: Vec<Piece>,
}

impl NameTemplate {
    /// Parses and checks `text`: known identifiers only, and the literal parts (with every
    /// identifier replaced by a sample value) must form a safe relative name.
    pub fn new(text: &str) -> Result<NameTemplate, OutputError> {
        let refuse = |reason: String| OutputError::Template {
            template: text.escape_debug().to_string(),
            reason,
        };
        let mut pieces = Vec::new();
        let mut literal = String::new();
        let mut rest = text;
        while let Some(start) = rest.find('$') {
            literal.push_str(&rest[..start]);
            let after = &rest[start + 1..];
            let end = after.find('$').ok_or_else(|| {
                refuse("a '$' has no closing '$' (write '$$' for a dollar sign)".into())
            })?;
            let identifier = &after[..end];
            rest = &after[end + 1..];
            if identifier.is_empty() {
                literal.push('$');
                continue;
            }
            if !literal.is_empty() {
                pieces.push(Piece::Literal(std::mem::take(&mut literal)));
            }
            let (name, format) = match identifier.split_once('%') {
                Some((name, format)) => (name, Some(format)),
                None => (identifier, None),
            };
            let width = match format {
                None => 0,
                Some(format) => format
                    .strip_prefix('0')
                    .and_then(|f| f.strip_suffix('d'))
                    .and_then(|w| w.parse::<usize>().ok())
                    .filter(|&w| (1..=20).contains(&w))
                    .ok_or_else(|| {
                        refuse(format!(
                            "format tag '%{format}' in ${identifier}$ is not '%0<width>d' with a width of 1 to 20"
                        ))
                    })?,
            };
            let piece = match name {
                "RepresentationID" if format.is_none() => Piece::RepresentationId,
                "Number" => Piece::Number { width },
                "Time" => Piece::Time { width },
                _ => {
                    return Err(refuse(format!(
                        "unknown identifier ${identifier}$ (use $RepresentationID$, $Number$, $Time$ or $$)"
                    )));
                }
            };
            pieces.push(piece);
        }
        literal.push_str(rest);
        if !literal.is_empty() {
            pieces.push(Piece::Literal(literal));
        }
        let template = NameTemplate {
            text: text.to_owned(),
            pieces,
        };
        // Literal parts are checked by expanding with harmless sample values: whatever real
        // values are substituted later are checked the same way at expansion.
        let sample = template.expand_unchecked("r", 0, 0);
        check_relative_name(&sample).map_err(|error| refuse(error.to_string()))?;
        Ok(template)
    }

    /// The template text, as written into an MPD `SegmentTemplate`.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    pub fn uses_number(&self) -> bool {
        self.pieces
            .iter()
            .any(|p| matches!(p, Piece::Number { .. }))
    }

    pub fn uses_time(&self) -> bool {
        self.pieces.iter().any(|p| matches!(p, Piece::Time { .. }))
    }

    pub fn uses_representation_id(&self) -> bool {
        self.pieces.contains(&Piece::RepresentationId)
    }

    fn expand_unchecked(&self, representation_id: &str, number: i64, time: i128) -> String {
        let mut out = String::new();
        for piece in &self.pieces {
            match piece {
                Piece::Literal(text) => out.push_str(text),
                Piece::RepresentationId => out.push_str(representation_id),
                Piece::Number { width } => out.push_str(&format!("{number:0width$}")),
                Piece::Time { width } => out.push_str(&format!("{time:0width$}")),
            }
        }
        out
    }

    /// The name for one segment: identifiers replaced (`%0Nd` pads with zeros), the
    /// representation id checked, and the result checked again as a safe relative name.
    pub fn expand(
        &self,
        representation_id: &str,
        number: i64,
        time: i128,
    ) -> Result<String, OutputError> {
        if self.uses_representation_id() {
            check_representation_id(representation_id)?;
        }
        let name = self.expand_unchecked(representation_id, number, time);
        check_relative_name(&name)?;
        Ok(name)
    }
}

impl fmt::Display for NameTemplate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// Where a publisher's files go. The publisher writes every file through it — a segment before
/// any manifest that lists it — and deletes expired segments through it. [`LocalDirectory`]
/// writes atomically into a directory; an HTTP origin is another destination.
pub trait Destination: Send {
    /// Makes `name` hold `bytes`, replacing what it held, so a reader sees the old or the new
    /// content, never part of it.
    fn write(&mut self, name: &str, bytes: &[u8]) -> Result<(), OutputError>;
    /// Removes `name`; a name that is already gone is not an error.
    fn delete(&mut self, name: &str) -> Result<(), OutputError>;
}

/// Files in a local directory, written with [`write_atomically`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalDirectory {
    dir: PathBuf,
}

impl LocalDirectory {
    pub fn new(dir: impl Into<PathBuf>) -> LocalDirectory {
        LocalDirectory { dir: dir.into() }
    }

    pub fn path(&self) -> &Path {
        &self.dir
    }
}

impl Destination for LocalDirectory {
    fn write(&mut self, name: &str, bytes: &[u8]) -> Result<(), OutputError> {
        write_atomically(&self.dir, name, bytes)
    }

    fn delete(&mut self, name: &str) -> Result<(), OutputError> {
        check_relative_name(name)?;
        let path = self.dir.join(name);
        match fs::remove_file(&path) {
            Ok(()) => Ok(()),
            // Someone else removed it already: nothing left to do.
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(source) => Err(OutputError::Io {
                action: "delete",
                path,
                source,
            }),
        }
    }
}

static TEMPORARY_COUNTER: AtomicU64 = AtomicU64::new(0);

/// Writes `bytes` to `dir/name` so that a reader never sees a partial file: the bytes go to a
/// temporary file in the same directory, which is flushed to disk (`fsync`) and then renamed
/// over `name` (rename within one file system is atomic on POSIX); the directory is synced
/// afterwards so the rename survives a power cut. On any failure the temporary file is removed
/// and whatever `name` held before stays in place.
///
/// `name` must pass [`check_relative_name`]; its parent directories must exist.
pub fn write_atomically(dir: &Path, name: &str, bytes: &[u8]) -> Result<(), OutputError> {
    check_relative_name(name)?;
    let target = dir.join(name);
    let parent = target.parent().unwrap_or(dir).to_path_buf();
    let file_name = target
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let temporary = parent.join(format!(
        ".{file_name}.tmp-{}-{}",
        std::process::id(),
        TEMPORARY_COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    let io_error = |action: &'static str, path: &Path| {
        let path = path.to_path_buf();
        move |source| OutputError::Io {
            action,
            path,
            source,
        }
    };
    let result = (|| {
        let mut file = File::options()
            .write(true)
            .create_new(true)
            .open(&temporary)
            .map_err(io_error("create a temporary file", &temporary))?;
        file.write_all(bytes)
            .map_err(io_error("write", &temporary))?;
        file.sync_all()
            .map_err(io_error("flush to disk", &temporary))?;
        drop(file);
        fs::rename(&temporary, &target).map_err(io_error("rename into place", &target))
    })();
    if result.is_err() {
        // Best effort: the temporary may not exist (creation failed); nothing else to do.
        let _ = fs::remove_file(&temporary);
        return result;
    }
    // The rename is done and visible; syncing the directory only makes it durable. Some file
    // systems refuse to open or sync directories, which must not turn a published file into an
    // error.
    if let Ok(directory) = File::open(&parent) {
        let _ = directory.sync_all();
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_dir(tag: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "lockstep-packaging-{tag}-{}-{}",
            std::process::id(),
            TEMPORARY_COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn templates_expand() {
        let template = NameTemplate::new("$RepresentationID$_$Number$.m4s").unwrap();
        assert_eq!(
            template.expand("video", 819_374_301, 0).unwrap(),
            "video_819374301.m4s"
        );
        let padded = NameTemplate::new("seg/$RepresentationID$-$Number%09d$-$Time$.m4s").unwrap();
        assert_eq!(
            padded.expand("a1", 42, 7).unwrap(),
            "seg/a1-000000042-7.m4s"
        );
        assert!(padded.uses_number() && padded.uses_time() && padded.uses_representation_id());
        assert_eq!(
            padded.as_str(),
            "seg/$RepresentationID$-$Number%09d$-$Time$.m4s"
        );
        let negative = NameTemplate::new("$Number$.m4s").unwrap();
        assert_eq!(negative.expand("x", -3, 0).unwrap(), "-3.m4s");
    }

    #[test]
    fn templates_that_could_escape_are_refused() {
        for bad in [
            "/abs/$Number$.m4s",
            "../$Number$.m4s",
            "a/../../$Number$.m4s",
            "a//b.m4s",
            "a/",
            "./x",
            "x\\y",
            "x\0y",
            "c:$Number$",
            "seg $Number$",
            "seg\"$Number$",
            "$Bandwidth$.m4s",
            "$Number%5d$.m4s",
            "$Number",
            "$RepresentationID%03d$",
            "",
        ] {
            let error = NameTemplate::new(bad).unwrap_err();
            assert!(
                matches!(error, OutputError::Template { .. }),
                "{bad:?}: {error}"
            );
        }
        // The dollar sign itself would be refused by the character rule.
        assert!(NameTemplate::new("$$.m4s").is_err());
    }

    #[test]
    fn substituted_values_cannot_escape() {
        let template = NameTemplate::new("$RepresentationID$_$Number$.m4s").unwrap();
        for bad in ["..", ".", "a/b", "../x", "a\\b", "", "a b", "x\0"] {
            let error = template.expand(bad, 1, 0).unwrap_err();
            assert!(
                matches!(error, OutputError::Value { .. }),
                "{bad:?}: {error}"
            );
        }
        let error = template.expand("../etc", 1, 0).unwrap_err().to_string();
        assert!(
            error.contains("'../etc'") && error.contains("path separators"),
            "{error}"
        );
    }

    #[test]
    fn atomic_write_replaces_and_leaves_no_temporaries() {
        let dir = temp_dir("write");
        write_atomically(&dir, "index.m3u8", b"first").unwrap();
        write_atomically(&dir, "index.m3u8", b"second").unwrap();
        assert_eq!(fs::read(dir.join("index.m3u8")).unwrap(), b"second");
        let entries: Vec<_> = fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(entries, ["index.m3u8"]);
        fs::create_dir(dir.join("v")).unwrap();
        write_atomically(&dir, "v/1.m4s", b"x").unwrap();
        assert_eq!(fs::read(dir.join("v/1.m4s")).unwrap(), b"x");
        assert!(matches!(
            write_atomically(&dir, "../escape", b"x"),
            Err(OutputError::Name { .. })
        ));
        assert!(!dir.parent().unwrap().join("escape").exists());
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn unwritable_directory_is_a_clear_error_and_keeps_the_old_file() {
        use std::os::unix::fs::PermissionsExt;
        let dir = temp_dir("unwritable");
        write_atomically(&dir, "manifest.mpd", b"published").unwrap();
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o500)).unwrap();
        // Root ignores the mode bits: detect that by trying, and then use a directory path
        // that runs through a regular file, which fails for every user.
        let probe = dir.join(".probe");
        let permissions_bind = File::create(&probe).is_err();
        let _ = fs::remove_file(&probe);
        let (target_dir, expected_path) = if permissions_bind {
            (dir.clone(), dir.clone())
        } else {
            let not_a_dir = dir.join("manifest.mpd");
            (not_a_dir.clone(), not_a_dir)
        };
        let error = write_atomically(&target_dir, "manifest.mpd", b"half").unwrap_err();
        let text = error.to_string();
        assert!(matches!(error, OutputError::Io { .. }), "{text}");
        assert!(
            text.contains(&expected_path.display().to_string()),
            "the error names the path: {text}"
        );
        assert!(text.contains("could not create a temporary file"), "{text}");
        assert!(
            text.contains("Permission denied") || text.contains("Not a directory"),
            "the error carries the OS reason: {text}"
        );
        assert!(std::error::Error::source(&error).is_some());
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o700)).unwrap();
        assert_eq!(fs::read(dir.join("manifest.mpd")).unwrap(), b"published");
        let entries = fs::read_dir(&dir).unwrap().count();
        assert_eq!(entries, 1, "no temporary file left behind");
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn names_are_checked() {
        assert!(check_relative_name("a/b-c_d.e~f").is_ok());
        for bad in ["", "/x", "a/../b", "..", "a?b", "a#b", "a%20", "é", "a\nb"] {
            assert!(check_relative_name(bad).is_err(), "{bad:?}");
        }
    }
}
