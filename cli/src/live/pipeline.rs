// SPDX-License-Identifier: MPL-2.0
//! The channel `lockstep live` puts on air:
//!
//! ```text
//! source (generated test pattern with a burnt-in clock and timecode, or --input)
//!   ! timecodestamper source=rtc        timecode = now, in the channel's zone
//!   ! timecodeparse source=meta          the timecode resolved to UTC
//!   ! tee ─┬─ queue ! handoverbin (encoder a) ! valve ─┐
//!          └─ queue ! handoverbin (encoder b) ! valve ─┴─ synchronizedswitch ! hlsdashsink
//! audiotestsrc (tone) ! AAC ────────────────────────────────────────────────── hlsdashsink.audio_0
//! ```
//!
//! The two branches are the redundant encoders; each is a `handoverbin`, so its encoder can be
//! replaced on air; the `valve` after it is where the scheduled failure cuts the branch.
//! `hlsdashsink`'s keyframe requests reach both encoders through the switch, so their
//! keyframes fall on the same frames (segment boundaries) and a failover there loses nothing.

use std::path::Path;

use gst::prelude::*;

use super::schedule::Branch;

/// What the pipeline is built from.
#[derive(Debug, Clone)]
pub struct ChannelSettings {
    pub width: u32,
    pub height: u32,
    pub rate_num: u32,
    pub rate_den: u32,
    /// Frames per segment (a whole number of frames: the grid needs it).
    pub segment_frames: u32,
    pub time_zone: String,
    pub encoder: String,
    pub input: Option<String>,
    /// Stall timeout of the output switch, ns.
    pub switch_timeout_ns: u64,
    /// Peak video bit rate for the manifests, bit/s.
    pub bandwidth: u32,
}

impl ChannelSettings {
    pub fn segment_duration_ns(&self) -> u64 {
        u64::from(self.segment_frames) * 1_000_000_000 * u64::from(self.rate_den)
            / u64::from(self.rate_num)
    }

    /// The encoder description with keyframe interval and scene cuts set for the grid, unless
    /// the user's description says otherwise.
    pub fn encoder_description(&self, description: &str) -> String {
        let mut text = description.trim().to_owned();
        if text.starts_with("x264enc") {
            if !text.contains("key-int-max") {
                text.push_str(&format!(" key-int-max={}", self.segment_frames));
            }
            if !text.contains("option-string") {
                // Keyframes only where asked (segment boundaries) or at the interval, on both
                // branches alike.
                text.push_str(" option-string=scenecut=0");
            }
        }
        text
    }
}

/// The running pipeline and the elements `live` acts on.
pub struct Channel {
    pub pipeline: gst::Pipeline,
    pub switch: gst::Element,
    pub tee: gst::Element,
    branches: [(gst::Element, gst::Element); 2],
}

impl Channel {
    pub fn handoverbin(&self, branch: Branch) -> &gst::Element {
        &self.branches[branch as usize].0
    }

    pub fn valve(&self, branch: Branch) -> &gst::Element {
        &self.branches[branch as usize].1
    }
}

fn make(factory: &str, name: &str) -> Result<gst::Element, String> {
    gst::ElementFactory::make(factory)
        .name(name)
        .build()
        .map_err(|_| {
            format!(
                "the GStreamer element {factory} is missing: run scripts/setup.sh to install it"
            )
        })
}

/// The video source up to raw frames with a timecode meta, as a bin with one src pad.
fn source_description(settings: &ChannelSettings) -> String {
    let caps = format!(
        "video/x-raw,format=I420,width={},height={},framerate={}/{}",
        settings.width, settings.height, settings.rate_num, settings.rate_den
    );
    match &settings.input {
        None => format!(
            "videotestsrc is-live=true pattern=ball motion=sweep background-color=0xff202840 \
             ! {caps} \
             ! clockoverlay halignment=right valignment=top font-desc=\"Sans 20\" \
               time-format=\"%Y-%m-%d %H:%M:%S %Z\" \
             ! timecodestamper source=rtc \
             ! timeoverlay time-mode=time-code halignment=left valignment=bottom \
               font-desc=\"Monospace 28\""
        ),
        // A real source: its frames carry the timecode its parser read (GstVideoTimeCodeMeta
        // from picture timing / time code SEI, kept through decoding).
        // The input's decoded video (uridecodebin is added and linked in `build`). Its frame
        // rate is its own (a frame rate conversion would repeat or drop named frames): `live`
        // checks it against --framerate.
        Some(_) => format!(
            "videoconvert ! videoscale ! video/x-raw,format=I420,width={},height={} \
             ! timeoverlay time-mode=time-code halignment=left valignment=bottom \
               font-desc=\"Monospace 28\"",
            settings.width, settings.height
        ),
    }
}

/// Builds the channel writing into `out`.
pub fn build(settings: &ChannelSettings, out: &Path) -> Result<Channel, String> {
    let pipeline = gst::Pipeline::with_name("lockstep-live");
    let source =
        gst::parse::bin_from_description(&source_description(settings), true).map_err(|e| {
            format!("cannot build the source: {e}; run scripts/setup.sh to install what is missing")
        })?;
    let timecodeparse = make("timecodeparse", "timecodeparse")?;
    timecodeparse.set_property_from_str("source", "meta");
    timecodeparse.set_property("time-zone", settings.time_zone.as_str());
    // Audio and video share the pipeline's running time; the sink places the audio on the
    // UTC timeline through the video's relation between the two.
    timecodeparse.set_property_from_str("timeline", "keep");
    let tee = make("tee", "tee")?;
    let switch = make("synchronizedswitch", "switch")?;
    switch.set_property("timeout", settings.switch_timeout_ns);
    let sink = make("hlsdashsink", "sink")?;
    sink.set_property("location", out.to_string_lossy().as_ref());
    sink.set_property("segment-duration", settings.segment_duration_ns());
    sink.set_property("storage-manifest", true);
    sink.set_property("bandwidth", settings.bandwidth);
    sink.set_property("playlist-length", 10u32);
    sink.set_property("max-files", 0u32);
    sink.set_property("utc-timing", "/time");
    pipeline
        .add_many([source.upcast_ref(), &timecodeparse, &tee, &switch, &sink])
        .map_err(|e| e.to_string())?;
    if let Some(uri) = &settings.input {
        let decode = make("uridecodebin", "input")?;
        decode.set_property("uri", uri.as_str());
        pipeline.add(&decode).map_err(|e| e.to_string())?;
        let converter = source.clone();
        // Its video, once decodebin knows what the input holds; other streams stay unlinked.
        decode.connect_pad_added(move |_, pad| {
            let is_video = pad
                .current_caps()
                .and_then(|caps| caps.structure(0).map(|s| s.name().starts_with("video/")))
                .unwrap_or(false);
            if let Some(sink) = converter.static_pad("sink")
                && is_video
                && !sink.is_linked()
            {
                let _ = pad.link(&sink);
            }
        });
    }
    gst::Element::link_many([source.upcast_ref(), &timecodeparse, &tee])
        .map_err(|e| format!("cannot link the source: {e}"))?;

    let mut branches = Vec::new();
    for branch in [Branch::A, Branch::B] {
        let name = branch.name();
        let queue = make("queue", &format!("queue_{name}"))?;
        let handover = make("handoverbin", &format!("encoder_{name}"))?;
        handover.set_property(
            "encoder",
            settings.encoder_description(&settings.encoder).as_str(),
        );
        handover.set_property("handover-alignment", settings.segment_frames);
        handover.set_property("handover-delay", 1_000_000_000u64);
        let valve = make("valve", &format!("cut_{name}"))?;
        pipeline
            .add_many([&queue, &handover, &valve])
            .map_err(|e| e.to_string())?;
        gst::Element::link_many([&tee, &queue, &handover, &valve])
            .map_err(|e| format!("cannot link branch {name}: {e}"))?;
        let pad = switch
            .request_pad_simple("sink_%u")
            .ok_or("the switch gives no sink pad")?;
        valve
            .static_pad("src")
            .ok_or("the valve has no src pad")?
            .link(&pad)
            .map_err(|e| format!("cannot link branch {name} to the switch: {e}"))?;
        branches.push((handover, valve));
    }
    switch
        .link(&sink)
        .map_err(|e| format!("cannot link the switch to the packager: {e}"))?;

    // A tone, encoded to AAC, beside the video.
    let audio = gst::parse::bin_from_description(
        "audiotestsrc is-live=true wave=sine freq=440 volume=0.1 samplesperbuffer=1024 \
         ! audioconvert ! audioresample ! audio/x-raw,rate=48000,channels=2 \
         ! avenc_aac bitrate=128000 ! aacparse",
        true,
    )
    .map_err(|e| format!("cannot build the audio source: {e}"))?;
    pipeline.add(&audio).map_err(|e| e.to_string())?;
    let audio_pad = sink
        .request_pad_simple("audio_%u")
        .ok_or("hlsdashsink gives no audio pad")?;
    audio
        .static_pad("src")
        .ok_or("the audio source has no src pad")?
        .link(&audio_pad)
        .map_err(|e| format!("cannot link the audio: {e}"))?;

    let [a, b]: [(gst::Element, gst::Element); 2] = branches
        .try_into()
        .map_err(|_| "two branches".to_string())?;
    Ok(Channel {
        pipeline,
        switch,
        tee,
        branches: [a, b],
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> ChannelSettings {
        ChannelSettings {
            width: 640,
            height: 360,
            rate_num: 25,
            rate_den: 1,
            segment_frames: 50,
            time_zone: "UTC".into(),
            encoder: "x264enc".into(),
            input: None,
            switch_timeout_ns: 500_000_000,
            bandwidth: 1_000_000,
        }
    }

    #[test]
    fn encoder_follows_the_grid_unless_told_otherwise() {
        let s = settings();
        assert_eq!(
            s.encoder_description("x264enc tune=zerolatency"),
            "x264enc tune=zerolatency key-int-max=50 option-string=scenecut=0"
        );
        assert_eq!(
            s.encoder_description("x264enc key-int-max=10"),
            "x264enc key-int-max=10 option-string=scenecut=0"
        );
        assert_eq!(s.encoder_description("openh264enc"), "openh264enc");
        assert_eq!(s.segment_duration_ns(), 2_000_000_000);
    }
}
