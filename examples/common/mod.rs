// SPDX-License-Identifier: MPL-2.0
//! What the element examples share: the plugin linked into the program, bounded command-line
//! options, a bus loop that ends at EOS, an error or a deadline, and the exit status (0 when
//! the run and its checks succeeded, 1 when they did not, 2 for bad options).

// Each example uses a part of this module.
#![allow(dead_code)]

use std::str::FromStr;
use std::time::{Duration, Instant};

use gst::prelude::*;

/// Why an example stops early.
pub enum Failure {
    /// Bad options: exit status 2.
    Usage(String),
    /// The pipeline failed, or what it printed does not add up: exit status 1.
    Run(String),
}

pub type Result<T> = std::result::Result<T, Failure>;

/// `Failure::Run` from anything printable.
pub fn failed(message: impl std::fmt::Display) -> Failure {
    Failure::Run(message.to_string())
}

impl From<gst::glib::Error> for Failure {
    fn from(e: gst::glib::Error) -> Self {
        failed(e)
    }
}

impl From<gst::glib::BoolError> for Failure {
    fn from(e: gst::glib::BoolError) -> Self {
        failed(e)
    }
}

/// Parses the options, runs the example and exits with its status.
pub fn main(
    name: &str,
    usage: &str,
    options: &[&str],
    flags: &[&str],
    run: impl FnOnce(Args) -> Result<()>,
) -> ! {
    let result = Args::parse(std::env::args().skip(1), usage, options, flags).and_then(run);
    match result {
        Ok(()) => std::process::exit(0),
        Err(Failure::Usage(message)) => {
            eprintln!("{name}: {message}\nusage: {usage}");
            std::process::exit(2)
        }
        Err(Failure::Run(message)) => {
            eprintln!("{name}: FAILED: {message}");
            std::process::exit(1)
        }
    }
}

/// `--name value` options and `--flag` flags, each known in advance.
pub struct Args {
    values: Vec<(String, String)>,
    flags: Vec<String>,
}

impl Args {
    fn parse(
        mut args: impl Iterator<Item = String>,
        usage: &str,
        options: &[&str],
        flags: &[&str],
    ) -> Result<Args> {
        let mut parsed = Args {
            values: Vec::new(),
            flags: Vec::new(),
        };
        while let Some(arg) = args.next() {
            if arg == "-h" || arg == "--help" {
                println!("usage: {usage}");
                std::process::exit(0);
            } else if options.contains(&arg.as_str()) {
                let value = args
                    .next()
                    .ok_or_else(|| Failure::Usage(format!("{arg} needs a value")))?;
                parsed.values.push((arg, value));
            } else if flags.contains(&arg.as_str()) {
                parsed.flags.push(arg);
            } else {
                return Err(Failure::Usage(format!("unknown argument {arg:?}")));
            }
        }
        Ok(parsed)
    }

    /// The last value given for `name`.
    pub fn string(&self, name: &str) -> Option<&str> {
        self.values
            .iter()
            .rev()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// `name` parsed as a number within `range`, or `default`.
    pub fn number<T>(&self, name: &str, default: T, range: std::ops::RangeInclusive<T>) -> Result<T>
    where
        T: FromStr + PartialOrd + std::fmt::Display + Copy,
        T::Err: std::fmt::Display,
    {
        let Some(text) = self.string(name) else {
            return Ok(default);
        };
        let value: T = text
            .parse()
            .map_err(|e| Failure::Usage(format!("{name} {text:?}: {e}")))?;
        if !range.contains(&value) {
            return Err(Failure::Usage(format!(
                "{name} must lie in {}..={}, not {value}",
                range.start(),
                range.end()
            )));
        }
        Ok(value)
    }

    pub fn flag(&self, name: &str) -> bool {
        self.flags.iter().any(|f| f == name)
    }
}

/// GStreamer, with the lockstep elements registered from this program (no GST_PLUGIN_PATH).
pub fn init() -> Result<()> {
    gst::init()?;
    gstlockstep::plugin_register_static()?;
    Ok(())
}

/// The pipeline of a gst-launch description, printed first.
pub fn pipeline(description: &str) -> Result<gst::Pipeline> {
    println!("pipeline: {description}");
    gst::parse::launch(description)?
        .downcast::<gst::Pipeline>()
        .map_err(|_| failed("the description is not a pipeline"))
}

/// What a [`run`] callback is called for: a bus message, or a tick every 20 ms while the bus
/// is quiet (for actions of the application's own thread).
pub enum Event<'a> {
    Message(&'a gst::Message),
    Tick,
}

/// Plays `pipeline` until EOS; an error message, a callback's failure or `limit` end it early.
/// The pipeline is stopped (NULL) in every case. Returns the warnings posted on the bus.
pub fn run(
    pipeline: &gst::Pipeline,
    limit: Duration,
    mut on_event: impl FnMut(Event) -> Result<()>,
) -> Result<Vec<String>> {
    let result = run_inner(pipeline, limit, &mut on_event);
    let stopped = pipeline.set_state(gst::State::Null);
    let warnings = result?;
    stopped.map_err(|e| failed(format!("the pipeline did not stop: {e}")))?;
    Ok(warnings)
}

fn run_inner(
    pipeline: &gst::Pipeline,
    limit: Duration,
    on_event: &mut impl FnMut(Event) -> Result<()>,
) -> Result<Vec<String>> {
    let bus = pipeline
        .bus()
        .ok_or_else(|| failed("a pipeline without bus"))?;
    if pipeline.set_state(gst::State::Playing).is_err() {
        // The element that refused says why on the bus.
        let why = bus
            .timed_pop_filtered(gst::ClockTime::from_seconds(1), &[gst::MessageType::Error])
            .and_then(|msg| match msg.view() {
                gst::MessageView::Error(e) => {
                    Some(format!("{} ({})", e.error(), e.debug().unwrap_or_default()))
                }
                _ => None,
            })
            .unwrap_or_else(|| "no reason given".into());
        return Err(failed(format!("the pipeline did not start: {why}")));
    }
    let deadline = Instant::now() + limit;
    let mut warnings = Vec::new();
    loop {
        if Instant::now() > deadline {
            return Err(failed(format!("no EOS within {} s", limit.as_secs())));
        }
        let Some(msg) = bus.timed_pop(gst::ClockTime::from_mseconds(20)) else {
            on_event(Event::Tick)?;
            continue;
        };
        let source = msg
            .src()
            .map(|s| s.path_string().to_string())
            .unwrap_or_default();
        match msg.view() {
            gst::MessageView::Eos(_) => return Ok(warnings),
            gst::MessageView::Error(e) => {
                return Err(failed(format!(
                    "error from {source}: {} ({})",
                    e.error(),
                    e.debug().unwrap_or_default()
                )));
            }
            gst::MessageView::Warning(w) => {
                let text = format!(
                    "warning from {source}: {} ({})",
                    w.error(),
                    w.debug().unwrap_or_default()
                );
                eprintln!("{text}");
                warnings.push(text);
            }
            _ => on_event(Event::Message(&msg))?,
        }
    }
}

/// A failure naming the first warning, if the run had any: a run that worked posts none.
pub fn no_warnings(warnings: &[String]) -> Result<()> {
    match warnings {
        [] => Ok(()),
        [first, ..] => Err(failed(format!(
            "{} warning(s) on the bus, the first: {first}",
            warnings.len()
        ))),
    }
}

/// The structure of an element message named `name`.
pub fn element_message<'a>(msg: &'a gst::Message, name: &str) -> Option<&'a gst::StructureRef> {
    match msg.view() {
        gst::MessageView::Element(e) => e.structure().filter(|s| s.name() == name),
        _ => None,
    }
}

/// A field of a message the element documents, or a failure naming it.
pub fn field<'a, T: gst::glib::value::FromValue<'a> + 'static>(
    s: &'a gst::StructureRef,
    name: &str,
) -> Result<T> {
    s.get::<T>(name)
        .map_err(|e| failed(format!("{}: field {name}: {e}", s.name())))
}

/// The frame number synchronizedswitch and handoverbin use (day of the daily jam × frames per
/// day + frame of the day) of a buffer's timecode meta.
pub fn frame_of(buffer: &gst::BufferRef) -> Option<i64> {
    gstlockstep::framemeta::timecode_of(buffer, None)
        .and_then(|tc| tc.ok())
        .map(|tc| tc.frame_index())
}

/// Every frame from `first` on exactly once and in order, `count` of them.
pub fn check_every_frame_once(what: &str, frames: &[i64], first: i64, count: usize) -> Result<()> {
    let expected: Vec<i64> = (first..first + count as i64).collect();
    if frames == expected.as_slice() {
        return Ok(());
    }
    let at = frames
        .iter()
        .zip(&expected)
        .position(|(a, b)| a != b)
        .unwrap_or(frames.len().min(expected.len()));
    Err(failed(format!(
        "{what}: {} frames, expected {count} consecutive ones; first difference at position {at}: {:?}",
        frames.len(),
        frames.get(at.saturating_sub(1)..(at + 3).min(frames.len()))
    )))
}
