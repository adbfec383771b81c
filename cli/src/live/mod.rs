// SPDX-License-Identifier: MPL-2.0
//! `lockstep live`: a redundant live channel in one command. A generated, timecoded source (or
//! `--input`) → two redundant encoder branches (each a `handoverbin`) → `synchronizedswitch` →
//! `hlsdashsink` (HLS + DASH, CMAF, AAC audio, storage index), served with the player page on
//! 127.0.0.1 while a scheduled branch failure, its recovery and an encoder update happen on
//! air. Ends with a report and the validator's verdict on the output.

mod events;
mod page;
mod pipeline;
mod report;
mod schedule;
mod serve;

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use clap::Args;
use gst::prelude::*;
use indicatif::{ProgressBar, ProgressStyle};

use gstlockstep::framemeta;
use gstlockstep::timecode::utc::Zone;

use events::{Channel as ChannelInfo, Event, EventLog};
use pipeline::{Channel, ChannelSettings};
use report::{HandoverRecord, SwitchRecord, Tally};
use schedule::{Action, Branch, Schedule};

const DEFAULT_ENCODER: &str = "x264enc tune=zerolatency speed-preset=ultrafast bitrate=2500";
const DEFAULT_UPDATE_ENCODER: &str = "x264enc tune=zerolatency speed-preset=ultrafast bitrate=3000";

/// Run a redundant live channel: two encoders, a failover nobody sees, an encoder updated on
/// air, HLS + DASH timed by the timecode.
///
/// Writes HLS (index.m3u8, video.m3u8, audio_0.m3u8), DASH (manifest.mpd), CMAF segments, the
/// storage index (storage.json), the event log (events.json) and the player page (player/)
/// into --out, serves them on http://127.0.0.1:PORT/, and prints the page's URL. On the way it
/// fails encoder branch a (--fail-at), recovers it (--recover-after) and replaces the encoder
/// on air (--update-at); the output must show no gap and no repeat. Ctrl-C (or --duration)
/// ends the run cleanly: EOS, final manifests, the report, the validator's verdict.
#[derive(Args, Debug)]
pub struct LiveArgs {
    /// Seconds on air; 0 runs until Ctrl-C.
    #[arg(long, default_value_t = 0, value_name = "SECONDS")]
    pub duration: u64,
    /// Output directory (created if missing; must be empty or hold a previous `live` run).
    #[arg(long, default_value = "lockstep-live", value_name = "DIR")]
    pub out: PathBuf,
    /// Segment duration in seconds (a whole number of frames).
    #[arg(long, default_value_t = 2.0, value_name = "SECONDS")]
    pub segment_duration: f64,
    /// Time zone the timecode is local time in (IANA name, e.g. Europe/Berlin).
    #[arg(long, default_value = "UTC", value_name = "ZONE")]
    pub time_zone: String,
    /// The encoders of the two branches, as a GStreamer description.
    #[arg(long, default_value = DEFAULT_ENCODER, value_name = "DESCRIPTION")]
    pub encoder: String,
    /// The encoder that replaces the one on air at --update-at.
    #[arg(long, default_value = DEFAULT_UPDATE_ENCODER, value_name = "DESCRIPTION")]
    pub update_encoder: String,
    /// Picture size of the generated source, WIDTHxHEIGHT.
    #[arg(long, default_value = "1280x720", value_name = "WxH")]
    pub size: String,
    /// Frame rate, N or N/D (e.g. 25, 30000/1001).
    #[arg(long, default_value = "25", value_name = "RATE")]
    pub framerate: String,
    /// Seconds after the first frame at which branch a stops delivering (from its next
    /// keyframe).
    #[arg(long, default_value_t = 10.0, value_name = "SECONDS")]
    pub fail_at: f64,
    /// Seconds after the failure at which branch a delivers again.
    #[arg(long, default_value_t = 8.0, value_name = "SECONDS")]
    pub recover_after: f64,
    /// Seconds after the first frame at which the encoder on air is replaced.
    #[arg(long, default_value_t = 24.0, value_name = "SECONDS")]
    pub update_at: f64,
    /// No scheduled failure.
    #[arg(long)]
    pub no_failure: bool,
    /// No scheduled encoder update.
    #[arg(long)]
    pub no_update: bool,
    /// A JSON scenario instead of --fail-at/--recover-after/--update-at:
    /// {"events": [{"at": 12, "action": "fail", "branch": "a"}, {"at": 20, "action":
    /// "recover", "branch": "a"}, {"at": 30, "action": "update", "encoder": "…"}]}
    #[arg(long, value_name = "FILE")]
    pub scenario: Option<PathBuf>,
    /// HTTP port on 127.0.0.1 for the output and the player page.
    #[arg(long, default_value_t = 8080)]
    pub port: u16,
    /// Do not serve the output.
    #[arg(long)]
    pub no_serve: bool,
    /// A real source instead of the generated one: a file or URL (file:, srt://, udp://…) whose
    /// video carries timecodes (H.264 picture timing / H.265 time code SEI).
    #[arg(long, value_name = "URI")]
    pub input: Option<String>,
    /// Peak bit rate of the video in bit/s, for the manifests (default: 1.25 × the encoder's
    /// `bitrate=` in kbit/s, or 4 Mbit/s).
    #[arg(long, value_name = "BITS")]
    pub bandwidth: Option<u32>,
    /// Stall timeout of the output switch in milliseconds (a branch silent this long fails
    /// over).
    #[arg(long, default_value_t = 500, value_name = "MS")]
    pub switch_timeout: u64,
}

/// A bad option or environment: a one-line message, exit status 2.
struct Refusal(String);

/// The manifests' peak bit rate for an encoder description: 1.25 × its `bitrate=` (kbit/s, as
/// x264enc and most GStreamer encoders take it), or 4 Mbit/s.
fn bandwidth_of(encoder: &str) -> u32 {
    encoder
        .split_whitespace()
        .find_map(|word| word.strip_prefix("bitrate="))
        .and_then(|kbits| kbits.parse::<u32>().ok())
        .map_or(4_000_000, |kbits| kbits.saturating_mul(1250))
}

/// Everything checked before anything starts.
struct Prepared {
    settings: ChannelSettings,
    schedule: Schedule,
    out: PathBuf,
    server: Option<serve::HttpServer>,
}

fn parse_size(text: &str) -> Result<(u32, u32), String> {
    let (w, h) = text
        .split_once(['x', 'X'])
        .ok_or_else(|| format!("--size {text}: give WIDTHxHEIGHT, e.g. 1280x720"))?;
    let w: u32 = w.parse().map_err(|_| format!("--size {text}: bad width"))?;
    let h: u32 = h
        .parse()
        .map_err(|_| format!("--size {text}: bad height"))?;
    if !(16..=7680).contains(&w) || !(16..=4320).contains(&h) || w % 2 == 1 || h % 2 == 1 {
        return Err(format!(
            "--size {text}: width and height must be even, 16 to 7680 × 4320"
        ));
    }
    Ok((w, h))
}

fn parse_rate(text: &str) -> Result<(u32, u32), String> {
    let (num, den) = match text.split_once('/') {
        Some((n, d)) => (n.parse().ok(), d.parse().ok()),
        None => (text.parse().ok(), Some(1)),
    };
    match (num, den) {
        (Some(num), Some(den)) if num > 0 && den > 0 && num / den <= 120 => Ok((num, den)),
        _ => Err(format!(
            "--framerate {text}: give N or N/D, e.g. 25 or 30000/1001"
        )),
    }
}

/// Frames per segment for `seconds` at `num/den` fps: a whole number, or an error naming the
/// durations that are.
fn segment_frames(seconds: f64, num: u32, den: u32) -> Result<u32, String> {
    let frames = seconds * f64::from(num) / f64::from(den);
    let whole = frames.round();
    if !(1.0..=100_000.0).contains(&whole) || (frames - whole).abs() > 1e-6 {
        let below = (frames.floor().max(1.0)) * f64::from(den) / f64::from(num);
        let above = (frames.floor() + 1.0) * f64::from(den) / f64::from(num);
        return Err(format!(
            "--segment-duration {seconds} is not a whole number of frames at {num}/{den} fps; \
             use e.g. {below:.3} or {above:.3}"
        ));
    }
    Ok(whole as u32)
}

/// The output directory: created, or emptied when it holds a previous run, and writable.
fn prepare_out(out: &Path) -> Result<PathBuf, String> {
    if out.exists() && !out.is_dir() {
        return Err(format!(
            "--out {}: not a directory; give a new or empty directory",
            out.display()
        ));
    }
    if out.is_dir() {
        let entries: Vec<PathBuf> = std::fs::read_dir(out)
            .map_err(|e| format!("--out {}: cannot read it ({e})", out.display()))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .collect();
        if !entries.is_empty() {
            if !out.join(events::EVENT_LOG).is_file() {
                return Err(format!(
                    "--out {}: the directory is not empty and holds no previous `lockstep live` \
                     run; give a new or empty directory",
                    out.display()
                ));
            }
            // A previous run of ours: start afresh.
            for entry in entries {
                let removed = if entry.is_dir() {
                    std::fs::remove_dir_all(&entry)
                } else {
                    std::fs::remove_file(&entry)
                };
                removed.map_err(|e| {
                    format!(
                        "--out {}: cannot clear {} ({e})",
                        out.display(),
                        entry.display()
                    )
                })?;
            }
        }
    } else {
        std::fs::create_dir_all(out).map_err(|e| {
            format!(
                "--out {}: cannot create it ({e}); give a writable directory",
                out.display()
            )
        })?;
    }
    let probe = out.join(".lockstep-write-test");
    std::fs::write(&probe, b"").map_err(|e| {
        format!(
            "--out {}: not writable ({e}); give a writable directory",
            out.display()
        )
    })?;
    let _ = std::fs::remove_file(&probe);
    out.canonicalize()
        .map_err(|e| format!("--out {}: {e}", out.display()))
}

/// The input as a URI, checked to exist when it is a file.
fn input_uri(input: &str) -> Result<String, String> {
    if input.contains("://") {
        if let Some(path) = input.strip_prefix("file://")
            && !Path::new(path).is_file()
        {
            return Err(format!("--input {input}: no such file"));
        }
        return Ok(input.to_owned());
    }
    let path = Path::new(input);
    if !path.is_file() {
        return Err(format!(
            "--input {input}: no such file (give a file with timecodes, or an srt:// or udp:// URL)"
        ));
    }
    let path = path
        .canonicalize()
        .map_err(|e| format!("--input {input}: {e}"))?;
    Ok(format!("file://{}", path.display()))
}

fn prepare(args: &LiveArgs) -> Result<Prepared, Refusal> {
    let refuse = Refusal;
    let (width, height) = parse_size(&args.size).map_err(refuse)?;
    let (rate_num, rate_den) = parse_rate(&args.framerate).map_err(refuse)?;
    let segment_frames =
        segment_frames(args.segment_duration, rate_num, rate_den).map_err(refuse)?;
    if args.time_zone != "UTC" {
        Zone::iana(&args.time_zone).map_err(|e| {
            Refusal(format!(
                "--time-zone {}: {e}; give an IANA zone such as Europe/Berlin",
                args.time_zone
            ))
        })?;
    }
    let schedule = match &args.scenario {
        Some(path) => Schedule::from_file(path).map_err(refuse)?,
        None => Schedule::from_options(
            (!args.no_failure).then_some(args.fail_at),
            Some(args.recover_after),
            (!args.no_update).then_some(args.update_at),
        )
        .map_err(refuse)?,
    };
    let input = args
        .input
        .as_deref()
        .map(input_uri)
        .transpose()
        .map_err(refuse)?;
    let out = prepare_out(&args.out).map_err(refuse)?;
    let server = if args.no_serve {
        None
    } else {
        Some(serve::HttpServer::start(&out, args.port).map_err(refuse)?)
    };
    Ok(Prepared {
        settings: ChannelSettings {
            width,
            height,
            rate_num,
            rate_den,
            segment_frames,
            time_zone: args.time_zone.clone(),
            encoder: args.encoder.clone(),
            input,
            switch_timeout_ns: args.switch_timeout.saturating_mul(1_000_000),
            bandwidth: args.bandwidth.unwrap_or_else(|| {
                bandwidth_of(&args.encoder).max(bandwidth_of(&args.update_encoder))
            }),
        },
        schedule,
        out,
        server,
    })
}

/// What the streaming threads and the bus loop share.
#[derive(Default)]
struct Shared {
    frames_in: AtomicU64,
    frames_out: AtomicU64,
    /// A frame's number and UTC instant, to place other frames' events on the UTC timeline.
    reference: Mutex<Option<(i64, i64)>>,
    /// Set when a branch must stop at its next keyframe.
    fail_armed: [AtomicBool; 2],
    /// (branch, frame, utc) of failures performed by the probes.
    failed_at: Mutex<Vec<(Branch, i64, i64)>>,
    /// The video source ended (a file given with --input): the whole channel ends.
    video_ended: AtomicBool,
    /// The input's frame rate, when it is not the channel's.
    wrong_rate: Mutex<Option<String>>,
}

fn now_utc_ns() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// Counts frames, remembers where frames lie on the UTC timeline, and cuts a branch at its
/// next keyframe when asked.
fn install_probes(
    channel: &Channel,
    settings: &ChannelSettings,
    shared: &Arc<Shared>,
) -> Result<(), String> {
    let counting = shared.clone();
    let expected = gst::Fraction::new(
        i32::try_from(settings.rate_num).unwrap_or(i32::MAX),
        i32::try_from(settings.rate_den).unwrap_or(1),
    );
    channel
        .tee
        .static_pad("sink")
        .ok_or("the tee has no sink pad")?
        .add_probe(
            gst::PadProbeType::BUFFER | gst::PadProbeType::EVENT_DOWNSTREAM,
            move |_, info| {
                match &info.data {
                    Some(gst::PadProbeData::Buffer(_)) => {
                        counting.frames_in.fetch_add(1, Ordering::Relaxed);
                    }
                    Some(gst::PadProbeData::Event(event)) => match event.view() {
                        gst::EventView::Eos(_) => {
                            counting.video_ended.store(true, Ordering::Release);
                        }
                        gst::EventView::Caps(caps) => {
                            let rate = caps
                                .caps()
                                .structure(0)
                                .and_then(|s| s.get::<gst::Fraction>("framerate").ok());
                            if let Some(rate) = rate
                                && rate != expected
                            {
                                *counting
                                    .wrong_rate
                                    .lock()
                                    .unwrap_or_else(|p| p.into_inner()) = Some(format!(
                                    "the input runs at {}/{} fps, not {}/{}: give --framerate {}/{}",
                                    rate.numer(),
                                    rate.denom(),
                                    expected.numer(),
                                    expected.denom(),
                                    rate.numer(),
                                    rate.denom()
                                ));
                            }
                        }
                        _ => {}
                    },
                    _ => {}
                }
                gst::PadProbeReturn::Ok
            },
        );
    let out = shared.clone();
    channel
        .switch
        .static_pad("src")
        .ok_or("the switch has no src pad")?
        .add_probe(gst::PadProbeType::BUFFER, move |_, info| {
            out.frames_out.fetch_add(1, Ordering::Relaxed);
            if let Some(buffer) = info.buffer()
                && let Some(Ok(tc)) = framemeta::timecode_of(buffer, None)
                && let Some(utc) = framemeta::unix_reference_ns(buffer)
            {
                *out.reference.lock().unwrap_or_else(|p| p.into_inner()) =
                    Some((tc.frame_index(), utc));
            }
            gst::PadProbeReturn::Ok
        });
    for branch in [Branch::A, Branch::B] {
        let valve = channel.valve(branch).clone();
        let armed = shared.clone();
        valve
            .static_pad("sink")
            .ok_or("the valve has no sink pad")?
            .add_probe(gst::PadProbeType::BUFFER, move |_, info| {
                let Some(buffer) = info.buffer() else {
                    return gst::PadProbeReturn::Ok;
                };
                let keyframe = !buffer.flags().contains(gst::BufferFlags::DELTA_UNIT);
                if keyframe && armed.fail_armed[branch as usize].swap(false, Ordering::AcqRel) {
                    // The valve drops this keyframe and all after it.
                    valve.set_property("drop", true);
                    let frame = framemeta::timecode_of(buffer, None)
                        .and_then(Result::ok)
                        .map_or(-1, |tc| tc.frame_index());
                    let utc = framemeta::unix_reference_ns(buffer).unwrap_or_else(now_utc_ns);
                    armed
                        .failed_at
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .push((branch, frame, utc));
                }
                gst::PadProbeReturn::Ok
            });
    }
    Ok(())
}

/// The channel's frame period in ns (floored) and where frame `frame` lies in UTC.
fn utc_of_frame(shared: &Shared, settings: &ChannelSettings, frame: i64) -> i64 {
    match *shared.reference.lock().unwrap_or_else(|p| p.into_inner()) {
        Some((index, utc)) => {
            let frames = i128::from(frame - index);
            let offset = frames * 1_000_000_000 * i128::from(settings.rate_den)
                / i128::from(settings.rate_num);
            utc.saturating_add(i64::try_from(offset).unwrap_or(0))
        }
        None => now_utc_ns(),
    }
}

/// The branch a switch pad name belongs to.
fn branch_of_pad(pad: &str) -> &'static str {
    match pad {
        "sink_0" => "a",
        "sink_1" => "b",
        _ => "?",
    }
}

/// The bus loop's view of the run.
struct Run {
    channel: Channel,
    settings: ChannelSettings,
    shared: Arc<Shared>,
    log: EventLog,
    tally: Tally,
    /// Handovers requested: branch → encoder description, until they complete.
    pending_handover: Vec<(Branch, String, Option<i64>)>,
    first_frame: Option<Instant>,
    latched: bool,
}

impl Run {
    fn record(&mut self, event: Event) {
        if let Err(e) = self.log.push(event) {
            self.tally.errors.push(e);
        }
    }

    fn handle(&mut self, message: &gst::Message, bar: &ProgressBar) -> Option<Result<(), String>> {
        use gst::MessageView;
        match message.view() {
            MessageView::Eos(_) => return Some(Ok(())),
            MessageView::Error(e) => {
                let source = message
                    .src()
                    .map(|s| s.path_string().to_string())
                    .unwrap_or_default();
                return Some(Err(format!(
                    "{} (from {source}){}",
                    e.error(),
                    e.debug().map(|d| format!(": {d}")).unwrap_or_default()
                )));
            }
            MessageView::Warning(w) => {
                bar.println(format!("warning: {}", w.error()));
            }
            MessageView::Element(e) => {
                let s = e.structure()?;
                let from_switch = message.src() == Some(self.channel.switch.upcast_ref());
                match s.name().as_str() {
                    "timecodeparse-latched" => self.latched = true,
                    "synchronizedswitch-switched" if from_switch => self.switched(s),
                    "synchronizedswitch-gap" if from_switch => {
                        let from: i64 = s.get("from-frame").unwrap_or(-1);
                        let frames: u64 = s.get("frames").unwrap_or(0);
                        self.tally.gap_frames += frames;
                        let utc = utc_of_frame(&self.shared, &self.settings, from);
                        self.record(
                            Event::new("gap", utc, format!("{frames} frames no branch delivered"))
                                .at_frame(from, None),
                        );
                    }
                    "handover-negotiated" => {
                        if let (Ok(frame), Some(pending)) =
                            (s.get::<i64>("frame"), self.pending_for(message))
                        {
                            pending.2 = Some(frame);
                        }
                    }
                    "handover-complete" => self.handover_complete(message, s),
                    "handover-failed" => {
                        let reason = s.get::<String>("message").unwrap_or_default();
                        self.tally.handovers_failed.push(reason.clone());
                        self.record(Event::new("handover-failed", now_utc_ns(), reason));
                    }
                    "hlsdashsink-segment"
                        if s.get::<String>("representation").as_deref() == Ok("video") =>
                    {
                        self.tally.segments += 1;
                    }
                    _ => {}
                }
            }
            _ => {}
        }
        None
    }

    fn pending_for(
        &mut self,
        message: &gst::Message,
    ) -> Option<&mut (Branch, String, Option<i64>)> {
        let branch = [Branch::A, Branch::B]
            .into_iter()
            .find(|b| message.src() == Some(self.channel.handoverbin(*b).upcast_ref()))?;
        self.pending_handover.iter_mut().find(|p| p.0 == branch)
    }

    fn switched(&mut self, s: &gst::StructureRef) {
        let frame: i64 = s.get("frame").unwrap_or(-1);
        let timecode: String = s.get("timecode").unwrap_or_default();
        let from = s
            .get::<Option<String>>("old-pad")
            .ok()
            .flatten()
            .filter(|p| !p.is_empty())
            .map_or("-".to_owned(), |p| branch_of_pad(&p).to_owned());
        let to = branch_of_pad(&s.get::<String>("new-pad").unwrap_or_default()).to_owned();
        let reason: String = s.get("reason").unwrap_or_default();
        let utc = utc_of_frame(&self.shared, &self.settings, frame);
        self.record(
            Event::new(
                "switch",
                utc,
                format!("branch {from} -> branch {to} ({reason})"),
            )
            .at_frame(frame, Some(timecode.clone())),
        );
        self.tally.switches.push(SwitchRecord {
            frame,
            timecode,
            from,
            to,
            reason,
        });
    }

    fn handover_complete(&mut self, message: &gst::Message, s: &gst::StructureRef) {
        let first: i64 = s.get("updated-first-frame").unwrap_or(-1);
        let Some(position) = [Branch::A, Branch::B]
            .into_iter()
            .find(|b| message.src() == Some(self.channel.handoverbin(*b).upcast_ref()))
            .and_then(|branch| self.pending_handover.iter().position(|p| p.0 == branch))
        else {
            return;
        };
        let (branch, encoder, announced) = self.pending_handover.remove(position);
        let utc = utc_of_frame(&self.shared, &self.settings, first);
        self.record(
            Event::new(
                "handover",
                utc,
                format!("branch {}: encoder replaced by {encoder}", branch.name()),
            )
            .at_frame(first, None),
        );
        self.tally.handovers.push(HandoverRecord {
            branch: branch.name().to_owned(),
            announced_frame: announced,
            first_frame: first,
            encoder,
        });
    }

    /// Performs a scheduled action.
    fn perform(&mut self, action: &Action, update_encoder: &str, bar: &ProgressBar) {
        match action {
            Action::Fail(branch) => {
                self.shared.fail_armed[*branch as usize].store(true, Ordering::Release);
                bar.println(format!(
                    "scheduled: branch {} stops delivering at its next keyframe",
                    branch.name()
                ));
            }
            Action::Recover(branch) => {
                self.shared.fail_armed[*branch as usize].store(false, Ordering::Release);
                self.channel.valve(*branch).set_property("drop", false);
                self.record(Event::new(
                    "recovery",
                    now_utc_ns(),
                    format!("branch {} delivers again", branch.name()),
                ));
                bar.println(format!("scheduled: branch {} recovers", branch.name()));
            }
            Action::Update { branch, encoder } => {
                let branch = branch.unwrap_or_else(|| self.branch_on_air());
                let description = self
                    .settings
                    .encoder_description(encoder.as_deref().unwrap_or(update_encoder));
                let handover = self.channel.handoverbin(branch);
                let accepted: bool =
                    handover.emit_by_name("update-encoder", &[&description.as_str()]);
                if accepted {
                    self.pending_handover
                        .push((branch, description.clone(), None));
                    bar.println(format!(
                        "scheduled: encoder of branch {} being replaced by {description}",
                        branch.name()
                    ));
                } else {
                    let reason = handover.property::<String>("last-refusal");
                    self.tally.handovers_failed.push(reason.clone());
                    bar.println(format!("scheduled update refused: {reason}"));
                }
            }
        }
    }

    fn branch_on_air(&self) -> Branch {
        let active = self
            .channel
            .switch
            .property::<Option<gst::Pad>>("active-pad")
            .map(|p| p.name().to_string());
        if active.as_deref() == Some(Branch::B.switch_pad()) {
            Branch::B
        } else {
            Branch::A
        }
    }

    /// Failures the probes performed since last asked: into the log.
    fn collect_failures(&mut self) {
        let failed: Vec<(Branch, i64, i64)> = std::mem::take(
            &mut *self
                .shared
                .failed_at
                .lock()
                .unwrap_or_else(|p| p.into_inner()),
        );
        for (branch, frame, utc) in failed {
            self.record(
                Event::new(
                    "failure",
                    utc,
                    format!("branch {} stops delivering", branch.name()),
                )
                .at_frame(frame, None),
            );
        }
    }
}

/// The validator's verdict on the output: (passed, one line).
fn validate(out: &Path) -> (bool, String) {
    let report = crate::validate::validate_dir(out);
    (report.passed(), report.verdict_line())
}

fn progress_bar(duration: u64) -> ProgressBar {
    if duration > 0 {
        let bar = ProgressBar::new(duration);
        bar.set_style(
            ProgressStyle::with_template("[{bar:30}] {pos}/{len} s  {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        bar
    } else {
        let bar = ProgressBar::new_spinner();
        bar.set_style(
            ProgressStyle::with_template("{spinner} {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        );
        bar
    }
}

/// Runs `lockstep live`: 0 when the run showed no gap, no repeat and the output validates; 1
/// otherwise; 2 for a bad option or environment.
pub fn run(args: LiveArgs) -> ExitCode {
    let prepared = match prepare(&args) {
        Ok(prepared) => prepared,
        Err(Refusal(text)) => {
            eprintln!("lockstep live: {text}");
            return ExitCode::from(2);
        }
    };
    match run_prepared(&args, prepared) {
        Ok(code) => code,
        Err(Refusal(text)) => {
            eprintln!("lockstep live: {text}");
            ExitCode::from(2)
        }
    }
}

fn run_prepared(args: &LiveArgs, prepared: Prepared) -> Result<ExitCode, Refusal> {
    let Prepared {
        settings,
        schedule,
        out,
        server,
    } = prepared;
    // The generated timecode is the local time of day in the channel's zone (timecodestamper
    // reads the local clock), and timecodeparse resolves it in the same zone.
    // SAFETY: set before GStreamer starts any thread; nothing else reads the environment now.
    unsafe { std::env::set_var("TZ", &settings.time_zone) };
    gst::init().map_err(|e| Refusal(format!("GStreamer does not start: {e}")))?;
    gstlockstep::plugin_register_static()
        .map_err(|e| Refusal(format!("the lockstep plugin does not register: {e}")))?;
    if let Err(e) = page::write(&out) {
        if server.is_some() {
            return Err(Refusal(e));
        }
        eprintln!("lockstep live: no player page: {e}");
    }
    let channel = pipeline::build(&settings, &out).map_err(Refusal)?;
    let shared = Arc::new(Shared::default());
    install_probes(&channel, &settings, &shared).map_err(Refusal)?;
    let log = EventLog::new(
        &out,
        ChannelInfo {
            frame_rate_num: settings.rate_num,
            frame_rate_den: settings.rate_den,
            time_zone: settings.time_zone.clone(),
            segment_duration_s: args.segment_duration,
            hls: "index.m3u8".into(),
            dash: "manifest.mpd".into(),
        },
    );
    log.write().map_err(Refusal)?;

    let stop = Arc::new(AtomicBool::new(false));
    let stop_on_signal = stop.clone();
    let _ = ctrlc::set_handler(move || stop_on_signal.store(true, Ordering::SeqCst));

    if let Some(server) = &server {
        println!(
            "lockstep live: the player page is at http://{}/player/index.html (HLS: /index.m3u8, DASH: /manifest.mpd)",
            server.address()
        );
    }
    println!(
        "lockstep live: writing into {}; Ctrl-C ends the run",
        out.display()
    );
    let bar = progress_bar(args.duration);
    let mut run = Run {
        channel,
        settings,
        shared,
        log,
        tally: Tally::default(),
        pending_handover: Vec::new(),
        first_frame: None,
        latched: false,
    };
    if run.channel.pipeline.set_state(gst::State::Playing).is_err() {
        let bus = run.channel.pipeline.bus();
        let detail = bus
            .and_then(|bus| {
                bus.timed_pop_filtered(gst::ClockTime::from_seconds(1), &[gst::MessageType::Error])
            })
            .and_then(|m| match m.view() {
                gst::MessageView::Error(e) => Some(e.error().to_string()),
                _ => None,
            })
            .unwrap_or_else(|| "the pipeline does not start".into());
        let _ = run.channel.pipeline.set_state(gst::State::Null);
        return Err(Refusal(detail));
    }
    let outcome = bus_loop(&mut run, args, &schedule, &stop, &bar);
    let _ = run.channel.pipeline.set_state(gst::State::Null);
    bar.finish_and_clear();
    if let Some(server) = server {
        server.stop();
    }
    if let Err(Refusal(text)) = &outcome {
        eprintln!("lockstep live: {text}");
    }
    if !run.latched {
        // Nothing was named by a timecode: there is no channel to report on.
        if outcome.is_ok() {
            eprintln!(
                "lockstep live: the input carries no timecode (no H.264 picture timing or H.265 \
                 time code SEI): lockstep names frames by it; give a source with timecodes"
            );
        }
        return Ok(ExitCode::from(2));
    }
    let switch_stats = run.channel.switch.property::<gst::Structure>("stats");
    run.tally.repeats = switch_stats.get::<u64>("repeats").unwrap_or(0);
    run.tally.frames_in = run.shared.frames_in.load(Ordering::Relaxed);
    run.tally.frames_out = run.shared.frames_out.load(Ordering::Relaxed);
    run.tally.gap_segments = count_gap_segments(&out);
    let (valid, verdict) = validate(&out);
    print!("{}", run.tally.report(&verdict));
    let clean = outcome.is_ok()
        && run.tally.errors.is_empty()
        && run.tally.gaps() == 0
        && run.tally.repeats == 0
        && valid;
    Ok(if clean {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// EXT-X-GAP entries in the video playlist: segments published as gaps.
fn count_gap_segments(out: &Path) -> u64 {
    std::fs::read_to_string(out.join("video.m3u8"))
        .map(|text| text.lines().filter(|l| l.trim() == "#EXT-X-GAP").count() as u64)
        .unwrap_or(0)
}

/// Runs until EOS after the duration or Ctrl-C, performing the schedule on the way.
fn bus_loop(
    run: &mut Run,
    args: &LiveArgs,
    schedule: &Schedule,
    stop: &AtomicBool,
    bar: &ProgressBar,
) -> Result<(), Refusal> {
    let bus = run
        .channel
        .pipeline
        .bus()
        .ok_or_else(|| Refusal("the pipeline has no bus".into()))?;
    let started = Instant::now();
    let mut next_step = 0;
    let mut eos_sent_at: Option<Instant> = None;
    let mut first_in: Option<Instant> = None;
    loop {
        if let Some(message) = bus.timed_pop(gst::ClockTime::from_mseconds(100)) {
            match run.handle(&message, bar) {
                Some(Ok(())) => return Ok(()),
                Some(Err(text)) => {
                    run.tally.errors.push(text.clone());
                    return Err(Refusal(text));
                }
                None => {}
            }
        }
        run.collect_failures();
        if run.first_frame.is_none() && run.shared.frames_out.load(Ordering::Relaxed) > 0 {
            run.first_frame = Some(Instant::now());
        }
        let on_air = run.first_frame.map_or(0.0, |t| t.elapsed().as_secs_f64());
        run.tally.seconds_on_air = on_air;
        if run.first_frame.is_some() {
            while let Some(step) = schedule.steps.get(next_step) {
                if step.at > on_air {
                    break;
                }
                run.perform(&step.action, &args.update_encoder, bar);
                next_step += 1;
            }
        }
        if first_in.is_none() && run.shared.frames_in.load(Ordering::Relaxed) > 0 {
            first_in = Some(Instant::now());
        }
        // A timecode latches on the first frame that has one: 3 s of frames without one is
        // an input without timecodes.
        if run.settings.input.is_some()
            && !run.latched
            && first_in.is_some_and(|t| t.elapsed() > Duration::from_secs(3))
        {
            return Err(Refusal(
                "the input carries no timecode (no H.264 picture timing or H.265 time code \
                 SEI): lockstep names frames by it; give a source with timecodes"
                    .into(),
            ));
        }
        if run.first_frame.is_none() && started.elapsed() > Duration::from_secs(30) {
            return Err(Refusal(
                "no frame reached the output within 30 s: the source or the encoders do not run"
                    .into(),
            ));
        }
        bar.set_message(run.tally.status());
        if args.duration > 0 {
            bar.set_position((on_air as u64).min(args.duration));
        } else {
            bar.tick();
        }
        if let Some(text) = run
            .shared
            .wrong_rate
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
        {
            return Err(Refusal(text));
        }
        let done = stop.load(Ordering::SeqCst)
            || run.shared.video_ended.load(Ordering::Acquire)
            || (args.duration > 0 && on_air >= args.duration as f64);
        match eos_sent_at {
            None if done => {
                run.channel.pipeline.send_event(gst::event::Eos::new());
                eos_sent_at = Some(Instant::now());
            }
            Some(at) if at.elapsed() > Duration::from_secs(20) => {
                return Err(Refusal(
                    "the pipeline did not finish within 20 s of EOS; the output may lack its final manifests".into(),
                ));
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_are_checked_with_a_message_that_says_what_to_do() {
        assert_eq!(parse_size("640x360"), Ok((640, 360)));
        assert!(parse_size("640").unwrap_err().contains("WIDTHxHEIGHT"));
        assert!(parse_size("641x360").is_err());
        assert_eq!(parse_rate("30000/1001"), Ok((30000, 1001)));
        assert_eq!(parse_rate("25"), Ok((25, 1)));
        assert!(parse_rate("0").is_err() && parse_rate("x").is_err());
        assert_eq!(segment_frames(2.0, 25, 1), Ok(50));
        assert_eq!(segment_frames(2.002, 30000, 1001), Ok(60));
        let error = segment_frames(2.0, 30000, 1001).unwrap_err();
        assert!(error.contains("2.002"), "{error}");
    }
}
