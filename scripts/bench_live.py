#!/usr/bin/env python3
# SPDX-License-Identifier: MPL-2.0
"""Benchmark of `lockstep live` (a benchmark, not a test): CPU time and peak resident memory of
the whole program next to the same chain built from upstream elements in gst-launch-1.0, in the
same run, alternating, as ratios.

  lockstep live: videotestsrc 1080p30 + clock and timecode overlays ! timecodestamper
    ! timecodeparse ! tee ! 2 × handoverbin(x264enc) ! synchronizedswitch ! hlsdashsink
    (HLS + DASH, CMAF) + AAC audio
  upstream: videotestsrc 1080p30 + the same overlays ! timecodestamper ! tee ! 2 × x264enc
    ! input-selector ! h264parse ! hlssink2 (HLS, MPEG-TS) + AAC audio

Both run live for the same time with the same encoder settings and are stopped with SIGINT (EOS).
Run: `cargo build --release` first, then `python3 scripts/bench_live.py [SECONDS] [ROUNDS]`.
"""
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SECONDS = int(sys.argv[1]) if len(sys.argv) > 1 else 20
ROUNDS = int(sys.argv[2]) if len(sys.argv) > 2 else 3
ENCODER = "x264enc tune=zerolatency speed-preset=ultrafast bitrate=6000 key-int-max=60 option-string=scenecut=0"


def lockstep(out):
    return [os.path.join(ROOT, "target/release/lockstep"), "live", "--no-serve", "--no-failure",
            "--no-update", "--size", "1920x1080", "--framerate", "30", "--encoder", ENCODER,
            "--duration", str(SECONDS), "--out", out]


def upstream(out):
    return ["gst-launch-1.0", "-e", "-q",
            "videotestsrc", "is-live=true", "pattern=ball", "motion=sweep", "!",
            "video/x-raw,format=I420,width=1920,height=1080,framerate=30/1", "!",
            "clockoverlay", "halignment=right", "valignment=top", "!",
            "timecodestamper", "source=rtc", "!",
            "timeoverlay", "time-mode=time-code", "halignment=left", "valignment=bottom", "!",
            "tee", "name=t",
            "t.", "!", "queue", "!", *ENCODER.split(), "!", "s.sink_0",
            "t.", "!", "queue", "!", *ENCODER.split(), "!", "s.sink_1",
            "input-selector", "name=s", "!", "h264parse", "!", "queue", "!", "sink.video",
            "audiotestsrc", "is-live=true", "wave=sine", "freq=440", "volume=0.1",
            "samplesperbuffer=1024", "!", "audioconvert", "!", "audioresample", "!",
            "audio/x-raw,rate=48000,channels=2", "!", "avenc_aac", "bitrate=128000", "!",
            "aacparse", "!", "queue", "!", "sink.audio",
            "hlssink2", "name=sink", "target-duration=2", "max-files=0", "playlist-length=10",
            f"location={out}/segment%05d.ts", f"playlist-location={out}/playlist.m3u8"]


def measure(command, stop_after):
    """CPU seconds (user + system) and peak RSS (kB) of one run, by GNU time."""
    if stop_after is not None:
        command = ["timeout", "-s", "INT", str(stop_after)] + command
    with tempfile.NamedTemporaryFile("r") as report:
        process = subprocess.run(["/usr/bin/time", "-f", "%U %S %M", "-o", report.name] + command,
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                 timeout=SECONDS + 90)
        user, system, rss = report.read().split()[-3:]
    return float(user) + float(system), int(rss), process.returncode


def main():
    rows = {"lockstep live": [], "upstream chain": []}
    peaks = {"lockstep live": 0, "upstream chain": 0}
    for _ in range(ROUNDS):
        for name in rows:
            out = tempfile.mkdtemp(prefix="lockstep-bench-live-")
            try:
                if name == "lockstep live":
                    # The program waits for its first frame, then runs SECONDS.
                    cpu, rss, code = measure(lockstep(os.path.join(out, "o")), None)
                else:
                    cpu, rss, code = measure(upstream(out), SECONDS + 1)
            finally:
                shutil.rmtree(out, ignore_errors=True)
            rows[name].append(cpu)
            peaks[name] = max(peaks[name], rss)
            print(f"{name}: {cpu:.1f} s CPU, exit {code}", file=sys.stderr)
    print(f"lockstep live benchmark: 1080p30, two x264 encoders (ultrafast, zerolatency, 6 Mbit/s), AAC, {SECONDS} s live, {ROUNDS} rounds, median")
    print("| chain | CPU (cores) | peak RSS of the process | ratio (CPU) |")
    print("|---|---|---|---|")
    base = statistics.median(rows["upstream chain"]) / SECONDS
    for name, cpus in rows.items():
        cores = statistics.median(cpus) / SECONDS
        print(f"| {name} | {cores:.2f} | {peaks[name] / 1024:.0f} MB | {cores / base:.2f} |")


if __name__ == "__main__":
    main()
