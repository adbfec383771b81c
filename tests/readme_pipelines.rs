// SPDX-License-Identifier: MPL-2.0
//! Every `gst-launch-1.0` line of the manual runs, so the manual cannot rot.
//!
//! Where: `README.md` and every `docs/**/*.md`. What counts as a line: in a fenced code block,
//! a line starting with `gst-launch-1.0` (after an optional `$ ` prompt) together with the
//! lines that follow while a line ends with `\`; in prose, an inline code span starting with
//! `gst-launch-1.0 ` and an argument (a span that is only the program's name is not a
//! command).
//!
//! Each line runs with this build's plugin (`GST_PLUGIN_PATH=target/<profile>`, a registry of
//! its own), from the repository root, through `/bin/sh -c 'exec …'` as a user's shell would
//! run it (the README's `$(date -u +%H:%M:%S)` is evaluated; SIGINT reaches gst-launch-1.0).
//! It is adapted by these rules only, and the test prints each line as written, as run, and
//! the rules that applied:
//!
//! 1. `-e` is added: EOS on SIGINT, so a live pipeline is ended the way a user ends it with
//!    Ctrl-C, and must shut down cleanly.
//! 2. A display or audio sink (`autovideosink`, `xvimagesink`, `autoaudiosink`, …) becomes
//!    `fakesink sync=true`: the test machine has no display; `sync=true` keeps real-time
//!    playback.
//! 3. An elided tail `! ...` becomes `! fakesink`.
//! 4. `filesrc location=F` where F does not exist becomes a fixture of `tests/data/timecode`
//!    with timecodes in its SEI, chosen by F's extension: `.ts` → H.264 in MPEG-TS
//!    (`h264_30fps_ndf_bframes_hrd_gst.ts`), `.h264`/`.264` → H.264 Annex B
//!    (`h264_30fps_ndf_bframes_hrd_gst.h264`), `.h265`/`.265`/`.hevc` → H.265 Annex B
//!    (`h265_30fps_ndf_py.h265`). Another extension fails the test: add a rule.
//! 5. The `location` of a sink (an element whose name ends in `sink`) becomes a fresh directory
//!    under `target/<profile>/test-scratch` (`hlsdashsink`) or a file in one (other sinks).
//!
//! Bounds: a line with a live source (`is-live=true`) gets SIGINT after 6 s (the README's
//! `hlsdashsink` lines cut 2 s segments and start inside one) and must exit within 30 s more;
//! any other line must reach EOS by itself within 60 s. Passing means: exit status 0, "Got EOS"
//! (a clean end), no `WARNING:`/`ERROR:` from any element (a manual line that warns is wrong),
//! and for `hlsdashsink` a final `video.m3u8` (read with m3u8-rs) with EXT-X-ENDLIST listing at
//! least one segment that is on disk. Lines run one after the other (the README's are 720p
//! x264 encodes; the machine may be shared).

mod bounded;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

const LIVE_RUN: Duration = Duration::from_secs(6);
const AFTER_INTERRUPT: Duration = Duration::from_secs(30);
const FILE_RUN: Duration = Duration::from_secs(60);
const DISPLAY_SINKS: &[&str] = &[
    "autovideosink",
    "autoaudiosink",
    "xvimagesink",
    "ximagesink",
    "glimagesink",
    "waylandsink",
    "kmssink",
    "fbdevsink",
    "pulsesink",
    "alsasink",
];

/// A `gst-launch-1.0` line of a document.
#[derive(Debug, PartialEq)]
struct ManualLine {
    /// 1-based number of its first line.
    line: usize,
    /// The command, continuation lines joined.
    text: String,
}

/// The `gst-launch-1.0` lines of a Markdown document (rules in the header).
fn extract(markdown: &str) -> Vec<ManualLine> {
    let mut found = Vec::new();
    let mut fence: Option<&str> = None;
    let mut pending: Option<ManualLine> = None;
    for (index, line) in markdown.lines().enumerate() {
        let trimmed = line.trim();
        if let Some(command) = pending.as_mut() {
            let (part, more) = continuation(trimmed);
            command.text.push(' ');
            command.text.push_str(part);
            if !more {
                found.extend(pending.take());
            }
            continue;
        }
        let marker = ["```", "~~~"].into_iter().find(|m| trimmed.starts_with(m));
        match (fence, marker) {
            (None, Some(m)) => {
                fence = Some(m);
                continue;
            }
            (Some(open), Some(m)) if open == m => {
                fence = None;
                continue;
            }
            _ => {}
        }
        if fence.is_some() {
            let body = trimmed.strip_prefix("$ ").unwrap_or(trimmed);
            if body.starts_with("gst-launch-1.0 ") {
                let (part, more) = continuation(body);
                let command = ManualLine {
                    line: index + 1,
                    text: part.to_owned(),
                };
                if more {
                    pending = Some(command);
                } else {
                    found.push(command);
                }
            }
        } else {
            // Inline code spans: the odd-numbered pieces between backticks.
            for span in line.split('`').skip(1).step_by(2) {
                if span.starts_with("gst-launch-1.0 ") && span.len() > "gst-launch-1.0 ".len() {
                    found.push(ManualLine {
                        line: index + 1,
                        text: span.trim().to_owned(),
                    });
                }
            }
        }
    }
    found.extend(pending);
    found
}

/// A line without its trailing `\`, and whether it continues.
fn continuation(line: &str) -> (&str, bool) {
    match line.strip_suffix('\\') {
        Some(part) => (part.trim_end(), true),
        None => (line, false),
    }
}

/// Words as a POSIX shell splits them (quotes and `$(…)` kept inside their word, verbatim).
fn words(command: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let (mut single, mut double, mut depth) = (false, false, 0usize);
    let mut chars = command.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' if !single => {
                word.push(c);
                word.extend(chars.next());
                continue;
            }
            '\'' if !double => single = !single,
            '"' if !single => double = !double,
            '$' if !single && chars.peek() == Some(&'(') => {
                word.push(c);
                word.extend(chars.next());
                depth += 1;
                continue;
            }
            ')' if !single && depth > 0 => depth -= 1,
            c if c.is_whitespace() && !single && !double && depth == 0 => {
                if !word.is_empty() {
                    words.push(std::mem::take(&mut word));
                }
                continue;
            }
            _ => {}
        }
        word.push(c);
    }
    if !word.is_empty() {
        words.push(word);
    }
    words
}

/// A manual line as the test runs it.
#[derive(Debug)]
struct Adapted {
    shell: String,
    rules: Vec<String>,
    live: bool,
    /// Output directories of `hlsdashsink` elements.
    packager_dirs: Vec<PathBuf>,
}

/// A word that names an element (not a property, a link, caps, a pad reference or an option).
fn is_element(word: &str) -> bool {
    !word.is_empty()
        && word != "!"
        && !word.starts_with('-')
        && !word.contains(['=', '.', '/', '"', '\''])
}

fn fixture_for(path: &str) -> Option<&'static str> {
    let extension = Path::new(path).extension()?.to_str()?.to_ascii_lowercase();
    Some(match extension.as_str() {
        "ts" => "tests/data/timecode/h264_30fps_ndf_bframes_hrd_gst.ts",
        "h264" | "264" => "tests/data/timecode/h264_30fps_ndf_bframes_hrd_gst.h264",
        "h265" | "265" | "hevc" => "tests/data/timecode/h265_30fps_ndf_py.h265",
        _ => return None,
    })
}

/// Applies the header's rules. `repo` is where the line runs; `scratch` a fresh directory for
/// this line's outputs.
fn adapt(text: &str, repo: &Path, scratch: &Path) -> Result<Adapted, String> {
    let mut words = words(text);
    if words.first().map(String::as_str) != Some("gst-launch-1.0") {
        return Err("does not start with gst-launch-1.0".into());
    }
    let mut rules = Vec::new();
    let options = words[1..].iter().take_while(|w| w.starts_with('-')).count();
    if !words[1..=options]
        .iter()
        .any(|w| w == "-e" || w == "--eos-on-shutdown")
    {
        words.insert(1, "-e".into());
        rules.push("1: -e added (EOS on SIGINT)".to_owned());
    }
    let mut element = String::new();
    let mut packager_dirs = Vec::new();
    let last = words.len() - 1;
    for i in 1..words.len() {
        let word = words[i].clone();
        if DISPLAY_SINKS.contains(&word.as_str()) {
            words[i] = "fakesink sync=true".into();
            rules.push(format!("2: {word} -> fakesink sync=true"));
            element = "fakesink".into();
        } else if word == "..." && i == last && words[i - 1] == "!" {
            words[i] = "fakesink".into();
            rules.push("3: the elided tail '! ...' -> '! fakesink'".into());
        } else if is_element(&word) {
            element = word;
        } else if let Some(value) = word.strip_prefix("location=") {
            let value = value.trim_matches(['"', '\'']);
            if element == "filesrc" {
                if !repo.join(value).exists() {
                    let fixture = fixture_for(value).ok_or_else(|| {
                        format!("filesrc location={value} does not exist and no rule gives a fixture for its extension: add one")
                    })?;
                    words[i] = format!("location={fixture}");
                    rules.push(format!("4: filesrc location={value} (absent) -> {fixture}"));
                }
            } else if element.ends_with("sink") {
                let target = if element == "hlsdashsink" {
                    let dir = scratch.join(format!("{element}-{}", packager_dirs.len()));
                    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
                    packager_dirs.push(dir.clone());
                    dir
                } else {
                    let name = Path::new(value)
                        .file_name()
                        .map(|n| n.to_owned())
                        .unwrap_or_else(|| "output".into());
                    scratch.join(name)
                };
                words[i] = format!("location={}", target.display());
                rules.push(format!(
                    "5: {element} location={value} -> {}",
                    target.display()
                ));
            }
        }
    }
    let live = words
        .iter()
        .any(|w| w == "is-live=true" || w == "is-live=1");
    Ok(Adapted {
        shell: format!("exec {}", words.join(" ")),
        rules,
        live,
        packager_dirs,
    })
}

/// What is wrong with a packager's final output, if anything.
fn check_packager_output(dir: &Path) -> Result<usize, String> {
    let path = dir.join("video.m3u8");
    let bytes = std::fs::read(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    let playlist = match m3u8_rs::parse_playlist_res(&bytes) {
        Ok(m3u8_rs::Playlist::MediaPlaylist(p)) => p,
        other => {
            return Err(format!(
                "{} is no media playlist: {other:?}",
                path.display()
            ));
        }
    };
    if !playlist.end_list || playlist.segments.is_empty() {
        return Err(format!(
            "{}: {} segment(s), EXT-X-ENDLIST {}",
            path.display(),
            playlist.segments.len(),
            playlist.end_list
        ));
    }
    for segment in &playlist.segments {
        if !dir.join(&segment.uri).is_file() {
            return Err(format!(
                "{} lists {}, not on disk",
                path.display(),
                segment.uri
            ));
        }
    }
    Ok(playlist.segments.len())
}

/// The manual's documents: README.md and docs/**/*.md, in a stable order.
fn documents(repo: &Path) -> Vec<PathBuf> {
    fn markdown_under(dir: &Path, out: &mut Vec<PathBuf>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                markdown_under(&path, out);
            } else if path.extension().is_some_and(|e| e == "md") {
                out.push(path);
            }
        }
    }
    let mut docs = Vec::new();
    markdown_under(&repo.join("docs"), &mut docs);
    docs.sort();
    let mut all = vec![repo.join("README.md")];
    all.extend(docs);
    all
}

#[test]
fn every_gst_launch_line_of_the_manual_runs() {
    bounded::build_examples_and_plugin();
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let profile = bounded::profile_dir();
    let scratch = bounded::scratch_dir("readme-pipelines");
    let mut report = Vec::new();
    let mut failures = Vec::new();
    let mut count = 0;
    // A line the front page repeats from an element's page runs once.
    let mut seen = std::collections::HashSet::new();
    for document in documents(repo) {
        let markdown = std::fs::read_to_string(&document)
            .unwrap_or_else(|e| panic!("{}: {e}", document.display()));
        let name = document
            .strip_prefix(repo)
            .unwrap_or(&document)
            .display()
            .to_string();
        for manual_line in extract(&markdown) {
            if !seen.insert(manual_line.text.clone()) {
                report.push(format!(
                    "{name}:{}: the same line as above, run once",
                    manual_line.line
                ));
                continue;
            }
            count += 1;
            let place = format!("{name}:{}", manual_line.line);
            let line_scratch = scratch.join(format!("{count}"));
            let adapted = match adapt(&manual_line.text, repo, &line_scratch) {
                Ok(adapted) => adapted,
                Err(e) => {
                    failures.push(format!("{place}: {e}\n  as written: {}", manual_line.text));
                    continue;
                }
            };
            let mut command = Command::new("/bin/sh");
            command
                .arg("-c")
                .arg(&adapted.shell)
                .current_dir(repo)
                .env("GST_PLUGIN_PATH", &profile)
                .env("GST_REGISTRY", profile.join("lockstep-test-registry.bin"));
            let outcome = if adapted.live {
                bounded::run(command, Some(LIVE_RUN), LIVE_RUN + AFTER_INTERRUPT)
            } else {
                bounded::run(command, None, FILE_RUN)
            };
            let mut problems = Vec::new();
            if !outcome.success() {
                problems.push(format!(
                    "exit status {:?}{}",
                    outcome.status,
                    if outcome.killed {
                        ", killed at the time limit"
                    } else {
                        ""
                    }
                ));
            }
            if !outcome.stdout.contains("Got EOS from element") {
                problems.push("no clean end (no \"Got EOS\")".into());
            }
            for text in [&outcome.stdout, &outcome.stderr] {
                for line in text.lines() {
                    if line.starts_with("WARNING: from element")
                        || line.starts_with("ERROR: from element")
                    {
                        problems.push(line.to_owned());
                    }
                }
            }
            let mut written = String::new();
            for dir in &adapted.packager_dirs {
                match check_packager_output(dir) {
                    Ok(n) => {
                        written.push_str(&format!("; {n} segment(s) listed in {}", dir.display()))
                    }
                    Err(e) => problems.push(e),
                }
            }
            let summary = format!(
                "{place}: {} in {:.1} s{}{written}\n  as written: {}\n  as run:     {}\n  rules:      {}",
                if adapted.live {
                    format!("live, SIGINT after {} s", LIVE_RUN.as_secs())
                } else {
                    "runs to EOS".to_owned()
                },
                outcome.elapsed.as_secs_f64(),
                if problems.is_empty() {
                    ", passed"
                } else {
                    ", FAILED"
                },
                manual_line.text,
                adapted.shell,
                if adapted.rules.is_empty() {
                    "none".to_owned()
                } else {
                    adapted.rules.join("; ")
                },
            );
            println!("{summary}\n");
            report.push(summary.clone());
            if !problems.is_empty() {
                failures.push(format!(
                    "{summary}\n  problems:   {}\n{}",
                    problems.join("\n              "),
                    outcome.transcript()
                ));
            }
        }
    }
    assert!(
        count > 0,
        "no gst-launch-1.0 line found in README.md: the extraction rules no longer match the manual"
    );
    assert!(
        failures.is_empty(),
        "{} of {count} manual lines failed:\n\n{}",
        failures.len(),
        failures.join("\n\n")
    );
    let _ = std::fs::remove_dir_all(&scratch);
}

#[test]
fn a_line_that_ignores_sigint_is_killed_at_its_limit() {
    let mut command = Command::new("/bin/sh");
    command.args(["-c", "trap '' INT; sleep 30"]);
    let outcome = bounded::run(
        command,
        Some(Duration::from_millis(200)),
        Duration::from_secs(1),
    );
    assert!(outcome.killed && !outcome.success());
    assert!(
        outcome.elapsed < Duration::from_secs(10),
        "{:?}",
        outcome.elapsed
    );
}

#[test]
fn extraction_finds_fenced_continued_and_inline_lines_only() {
    let markdown = "\
Run `gst-launch-1.0` with a pipeline, e.g. `gst-launch-1.0 videotestsrc ! fakesink`.

```sh
$ gst-launch-1.0 -m videotestsrc is-live=true ! \\
    timecodestamper ! \\
  fakesink
gst-inspect-1.0 lockstep
```

```
not a command: echo gst-launch-1.0 x
gst-launch-1.0 filesrc location=in.ts ! tsdemux ! h264parse ! ...
```
";
    assert_eq!(
        extract(markdown),
        [
            ManualLine {
                line: 1,
                text: "gst-launch-1.0 videotestsrc ! fakesink".into()
            },
            ManualLine {
                line: 4,
                text: "gst-launch-1.0 -m videotestsrc is-live=true ! timecodestamper ! fakesink"
                    .into()
            },
            ManualLine {
                line: 12,
                text: "gst-launch-1.0 filesrc location=in.ts ! tsdemux ! h264parse ! ...".into()
            },
        ]
    );
}

#[test]
fn adaptation_follows_the_documented_rules() {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let scratch = bounded::scratch_dir("readme-rules");
    assert_eq!(
        words(r#"a b="x y" c=$(date -u +%H:%M):00 'd e' f\ g"#),
        [
            "a",
            r#"b="x y""#,
            "c=$(date -u +%H:%M):00",
            "'d e'",
            r"f\ g"
        ]
    );

    let adapted = adapt(
        "gst-launch-1.0 filesrc location=in.ts ! tsdemux ! h264parse ! timecodeparse ! ...",
        repo,
        &scratch,
    )
    .unwrap();
    assert_eq!(
        adapted.shell,
        "exec gst-launch-1.0 -e filesrc location=tests/data/timecode/h264_30fps_ndf_bframes_hrd_gst.ts ! tsdemux ! h264parse ! timecodeparse ! fakesink"
    );
    assert_eq!(adapted.rules.len(), 3, "{:?}", adapted.rules);
    assert!(!adapted.live);

    let adapted = adapt(
        r#"gst-launch-1.0 -m videotestsrc is-live=true ! handoverbin encoder="x264enc key-int-max=60" ! autovideosink"#,
        repo,
        &scratch,
    )
    .unwrap();
    assert_eq!(
        adapted.shell,
        r#"exec gst-launch-1.0 -e -m videotestsrc is-live=true ! handoverbin encoder="x264enc key-int-max=60" ! fakesink sync=true"#
    );
    assert!(adapted.live);

    let adapted = adapt(
        "gst-launch-1.0 -e hlsdashsink name=out location=/var/www/live videotestsrc is-live=true ! x264enc ! out. \
         videotestsrc num-buffers=1 ! filesink location=/nonexistent/dir/x.raw",
        repo,
        &scratch,
    )
    .unwrap();
    assert_eq!(adapted.packager_dirs, [scratch.join("hlsdashsink-0")]);
    assert!(adapted.packager_dirs[0].is_dir());
    assert!(
        adapted.shell.starts_with(&format!(
            "exec gst-launch-1.0 -e hlsdashsink name=out location={} videotestsrc",
            scratch.join("hlsdashsink-0").display()
        )) && adapted.shell.ends_with(&format!(
            "filesink location={}",
            scratch.join("x.raw").display()
        )),
        "{}",
        adapted.shell
    );
    assert_eq!(
        adapted.rules.len(),
        2,
        "no -e added twice: {:?}",
        adapted.rules
    );

    let refused = adapt(
        "gst-launch-1.0 filesrc location=in.mkv ! fakesink",
        repo,
        &scratch,
    );
    assert!(refused.unwrap_err().contains("add one"));
    let _ = std::fs::remove_dir_all(&scratch);
}
