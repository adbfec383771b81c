// SPDX-License-Identifier: MPL-2.0
//! The lockstep demo: makes an H.264 stream with SMPTE timecodes in its picture timing SEI,
//! then reads it back with `timecodeparse source=embedded` and prints every frame's timecode
//! and UTC instant.
//!
//! ```text
//! cargo run --release --example timecode-demo -- [--frames N] [--rate 30000/1001]
//!     [--start hh:mm:ss;ff] [--time-zone America/Los_Angeles] [--keep FILE]
//! ```
//!
//! Step 1 (generation, upstream elements only):
//!   videotestsrc ! timecodestamper ! x264enc option-string=pic-struct=1 ! avc ! h264parse update-timecode=true ! byte-stream file
//! Step 2 (lockstep):
//!   filesrc ! h264parse ! timecodeparse source=embedded ! appsink
//! By default the first timecode is the current UTC time of day minus 10 s, so the date rule
//! ("latest instant not later than now") resolves it to today.

use gst::prelude::*;

struct Options {
    frames: u32,
    rate: (u32, u32),
    start: Option<String>,
    time_zone: Option<String>,
    keep: Option<std::path::PathBuf>,
}

fn parse_args() -> Result<Options, String> {
    let mut options = Options {
        frames: 60,
        rate: (30000, 1001),
        start: None,
        time_zone: None,
        keep: None,
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || args.next().ok_or(format!("{arg} needs a value"));
        match arg.as_str() {
            "--frames" => {
                options.frames = value()?.parse().map_err(|e| format!("--frames: {e}"))?
            }
            "--rate" => {
                let v = value()?;
                let (n, d) = v
                    .split_once('/')
                    .ok_or("--rate takes N/D, e.g. 30000/1001")?;
                options.rate = (
                    n.parse().map_err(|e| format!("--rate: {e}"))?,
                    d.parse().map_err(|e| format!("--rate: {e}"))?,
                );
            }
            "--start" => options.start = Some(value()?),
            "--time-zone" => options.time_zone = Some(value()?),
            "--keep" => options.keep = Some(value()?.into()),
            "-h" | "--help" => {
                println!(
                    "usage: timecode-demo [--frames N] [--rate N/D] [--start hh:mm:ss:ff] [--time-zone IANA] [--keep FILE]"
                );
                std::process::exit(0);
            }
            other => return Err(format!("unknown argument {other} (try --help)")),
        }
    }
    Ok(options)
}

/// The current local time of day in `zone` (UTC if None) minus 10 s, as a timecode at `rate`.
fn default_start(rate: (u32, u32), zone: Option<&str>) -> String {
    let tz = zone
        .and_then(|z| jiff::tz::TimeZone::get(z).ok())
        .unwrap_or(jiff::tz::TimeZone::UTC);
    let local = jiff::Timestamp::now().to_zoned_datetime(tz).time();
    let now = u64::from(local.hour() as u8) * 3600
        + u64::from(local.minute() as u8) * 60
        + u64::from(local.second() as u8);
    let tod = (now + 86_400 - 10) % 86_400;
    let drop = rate.1 == 1001 && (rate.0 == 30000 || rate.0 == 60000);
    // Frame 2 keeps clear of the labels drop-frame skips at the start of a minute.
    format!(
        "{:02}:{:02}:{:02}{}02",
        tod / 3600,
        tod / 60 % 60,
        tod % 60,
        if drop { ';' } else { ':' }
    )
}

fn run(options: Options) -> Result<(), Box<dyn std::error::Error>> {
    gst::init()?;
    gstlockstep::plugin_register_static()?;

    let (num, den) = options.rate;
    let drop = den == 1001 && (num == 30000 || num == 60000);
    let start = options
        .start
        .clone()
        .unwrap_or_else(|| default_start(options.rate, options.time_zone.as_deref()));
    let file = match &options.keep {
        Some(path) => path.clone(),
        None => std::env::temp_dir().join(format!("lockstep-demo-{}.h264", std::process::id())),
    };

    // Step 1: an H.264 stream whose pic_timing SEI carry the timecodes (GStreamer's own
    // writer; it needs avc input, it puts the SEI at a wrong offset in byte-stream input).
    let generate = format!(
        "videotestsrc num-buffers={frames} pattern=ball ! \
         video/x-raw,format=I420,width=320,height=180,framerate={num}/{den} ! \
         timecodestamper drop-frame={drop} set-internal-timecode=\"{start}\" ! \
         x264enc speed-preset=ultrafast bframes=2 key-int-max=30 option-string=pic-struct=1 ! \
         video/x-h264,stream-format=avc,alignment=au ! h264parse update-timecode=true ! \
         video/x-h264,stream-format=byte-stream,alignment=au ! filesink location=\"{file}\"",
        frames = options.frames,
        file = file.display(),
    );
    println!("step 1: gst-launch-1.0 {generate}\n");
    run_to_eos(
        &gst::parse::launch(&generate)?
            .downcast::<gst::Pipeline>()
            .map_err(|_| "not a pipeline")?,
        |_| (),
    )?;

    // Step 2: read it back with timecodeparse.
    let zone = options
        .time_zone
        .as_ref()
        .map(|z| format!(" time-zone={z}"))
        .unwrap_or_default();
    let read = format!(
        "filesrc location=\"{}\" ! h264parse ! timecodeparse name=tc source=embedded{zone} ! appsink name=sink sync=false",
        file.display()
    );
    println!("step 2: gst-launch-1.0 {read}\n");
    let pipeline = gst::parse::launch(&read)?
        .downcast::<gst::Pipeline>()
        .map_err(|_| "not a pipeline")?;
    let sink = pipeline
        .by_name("sink")
        .and_downcast::<gst_app::AppSink>()
        .ok_or("no appsink")?;
    let mut index = 0u32;
    sink.set_callbacks(
        gst_app::AppSinkCallbacks::builder()
            .new_sample(move |sink| {
                let sample = sink.pull_sample().map_err(|_| gst::FlowError::Eos)?;
                if let Some(buffer) = sample.buffer() {
                    let tc = buffer
                        .meta::<gst_video::VideoTimeCodeMeta>()
                        .map(|m| m.tc().to_string())
                        .unwrap_or_else(|| "(none)".into());
                    let utc = buffer
                        .iter_meta::<gst::ReferenceTimestampMeta>()
                        .find(|m| {
                            m.reference()
                                .structure(0)
                                .is_some_and(|s| s.name() == "timestamp/x-unix")
                        })
                        .map(|m| {
                            gstlockstep::timecode::utc::format_rfc3339_millis(
                                m.timestamp().nseconds() as i64,
                            )
                        })
                        .unwrap_or_else(|| "(none)".into());
                    let kind = if buffer.flags().contains(gst::BufferFlags::DELTA_UNIT) {
                        "  "
                    } else {
                        "I "
                    };
                    println!("frame {index:4} {kind} timecode {tc}  UTC {utc}");
                    index += 1;
                }
                Ok(gst::FlowSuccess::Ok)
            })
            .build(),
    );
    run_to_eos(&pipeline, |msg| {
        if let gst::MessageView::Element(e) = msg.view()
            && let Some(s) = e.structure()
            && s.name() == "timecodeparse-latched"
        {
            println!("latched: {s}");
        }
    })?;
    if let Some(tc) = pipeline.by_name("tc") {
        println!("\nstats: {}", tc.property::<gst::Structure>("stats"));
    }
    if options.keep.is_none() {
        let _ = std::fs::remove_file(&file);
    }
    Ok(())
}

fn run_to_eos(
    pipeline: &gst::Pipeline,
    mut on_message: impl FnMut(&gst::Message),
) -> Result<(), Box<dyn std::error::Error>> {
    pipeline.set_state(gst::State::Playing)?;
    let bus = pipeline.bus().ok_or("pipeline without bus")?;
    let result = loop {
        let Some(msg) = bus.timed_pop(gst::ClockTime::from_seconds(60)) else {
            break Err("timed out waiting for EOS".into());
        };
        on_message(&msg);
        match msg.view() {
            gst::MessageView::Eos(_) => break Ok(()),
            gst::MessageView::Error(e) => {
                break Err(format!("{}: {}", e.error(), e.debug().unwrap_or_default()).into());
            }
            gst::MessageView::Warning(w) => {
                eprintln!("warning: {} ({})", w.error(), w.debug().unwrap_or_default())
            }
            _ => (),
        }
    };
    pipeline.set_state(gst::State::Null)?;
    result
}

fn main() {
    let result = parse_args().map_err(Into::into).and_then(run);
    if let Err(e) = result {
        eprintln!("timecode-demo: {e}");
        std::process::exit(1);
    }
}
