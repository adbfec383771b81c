#!/usr/bin/python3
# SPDX-License-Identifier: MPL-2.0
"""Redundant switch with a failover, from Python (PyGObject).

One live, timecoded source feeds two x264 encoder branches (different GOPs, as two encoder
builds would have) into `synchronizedswitch`. Branch 0 is on air; at --cut-at its valve closes
(the encoder "dies": no more frames), and after the switch's `timeout` the output fails over to
branch 1 at the frame where branch 0 stopped, which is a keyframe of branch 1. The script prints
every `synchronizedswitch-switched` message and checks that the output has every frame exactly
once (presentation timestamps one frame period apart, none missing, none repeated) and that the
failover happened at the cut.

    cargo build
    GST_PLUGIN_PATH=target/debug python3 examples/python/redundant_switch.py [--frames 100] [--cut-at 50]

Debian 12: /usr/bin/python3 with python3-gi, gir1.2-gstreamer-1.0 and gir1.2-gst-plugins-base-1.0
(scripts/setup.sh installs them). Exit status: 0 on success, 1 when the run or a check failed,
2 for bad arguments or a missing plugin.
"""

import argparse
import sys

try:
    import gi

    gi.require_version("Gst", "1.0")
    from gi.repository import GLib, Gst
except (ImportError, ValueError) as err:
    print(
        f"redundant_switch: PyGObject with GStreamer 1.0 is missing ({err}); on Debian 12 use "
        "/usr/bin/python3 with python3-gi and gir1.2-gstreamer-1.0 (scripts/setup.sh installs them)",
        file=sys.stderr,
    )
    sys.exit(2)

FPS = 25
# Branch 1's keyframe interval: the cut must fall on one of its keyframes for a lossless
# failover (otherwise the frames until its next keyframe are a reported gap).
BACKUP_GOP = 5


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--frames", type=int, default=100, help="frames to run (25 fps live)")
    parser.add_argument(
        "--cut-at",
        type=int,
        default=50,
        help=f"frame (from 0) from which branch 0 delivers nothing; a multiple of {BACKUP_GOP}",
    )
    parser.add_argument("--timeout-ms", type=int, default=300, help="synchronizedswitch timeout")
    args = parser.parse_args()
    if args.frames < 2 or args.frames > 100_000:
        parser.error("--frames must be 2..100000")
    if not 0 < args.cut_at < args.frames or args.cut_at % BACKUP_GOP:
        parser.error(f"--cut-at must lie inside the run and be a multiple of {BACKUP_GOP}")
    # The backup holds `max-window` frames while the switch waits out the timeout.
    if args.timeout_ms <= 0 or args.timeout_ms * FPS // 1000 >= 32:
        parser.error("--timeout-ms must be positive and shorter than 32 frames (1280 ms)")
    return args


def main():
    args = parse_args()
    Gst.init(None)
    if Gst.ElementFactory.find("synchronizedswitch") is None:
        print(
            "redundant_switch: the lockstep plugin was not found; build it and point "
            "GST_PLUGIN_PATH at it: cargo build && "
            "GST_PLUGIN_PATH=target/debug python3 examples/python/redundant_switch.py",
            file=sys.stderr,
        )
        return 2

    description = (
        f"videotestsrc is-live=true num-buffers={args.frames} pattern=ball "
        f"! video/x-raw,format=I420,width=320,height=180,framerate={FPS}/1 "
        "! timecodestamper ! tee name=t "
        "t. ! queue ! x264enc tune=zerolatency speed-preset=ultrafast bitrate=500 key-int-max=25 "
        "option-string=scenecut=0 ! valve name=cut_0 ! sw.sink_0 "
        "t. ! queue ! x264enc tune=zerolatency speed-preset=ultrafast bitrate=800 "
        f"key-int-max={BACKUP_GOP} option-string=scenecut=0 ! valve name=cut_1 ! sw.sink_1 "
        f"synchronizedswitch name=sw timeout={args.timeout_ms * 1_000_000} "
        "! h264parse ! fakesink name=out"
    )
    print(f"pipeline: {description}")
    try:
        pipeline = Gst.parse_launch(description)
    except GLib.Error as err:
        print(f"redundant_switch: cannot build the pipeline: {err.message}", file=sys.stderr)
        return 1
    switch = pipeline.get_by_name("sw")

    output_pts = []

    def on_output(_pad, info):
        buffer = info.get_buffer()
        output_pts.append(buffer.pts)
        # The probe runs in the on-air branch's streaming thread while it pushes frame
        # len(output_pts) - 1: closing its valve now makes --cut-at its first lost frame.
        if len(output_pts) == args.cut_at:
            active = switch.get_property("active-pad").get_name()
            branch = active.rsplit("_", 1)[1]
            print(f"cutting branch {branch} ({active}) from frame {args.cut_at}")
            pipeline.get_by_name(f"cut_{branch}").set_property("drop", True)
        return Gst.PadProbeReturn.OK

    switch.get_static_pad("src").add_probe(Gst.PadProbeType.BUFFER, on_output)

    switches = []
    errors = []
    bus = pipeline.get_bus()
    pipeline.set_state(Gst.State.PLAYING)
    # Bounded: the run lasts frames / 25 s; allow for a slow machine.
    deadline = GLib.get_monotonic_time() + (args.frames // FPS + 30) * 1_000_000
    eos = False
    while not eos:
        remaining = deadline - GLib.get_monotonic_time()
        if remaining <= 0:
            errors.append("timed out waiting for EOS")
            break
        msg = bus.timed_pop_filtered(
            remaining * 1000,
            Gst.MessageType.EOS | Gst.MessageType.ERROR | Gst.MessageType.ELEMENT,
        )
        if msg is None:
            continue
        if msg.type == Gst.MessageType.EOS:
            eos = True
        elif msg.type == Gst.MessageType.ERROR:
            err, debug = msg.parse_error()
            errors.append(f"{err.message} ({debug})")
            break
        elif msg.type == Gst.MessageType.ELEMENT:
            s = msg.get_structure()
            if s is not None and s.get_name() == "synchronizedswitch-switched":
                switches.append(
                    {
                        "old-pad": s.get_string("old-pad"),
                        "new-pad": s.get_string("new-pad"),
                        "frame": s.get_value("frame"),
                        "timecode": s.get_string("timecode"),
                        "reason": s.get_string("reason"),
                    }
                )
                print(f"switched: {s.to_string()}")
            elif s is not None and s.get_name().startswith("synchronizedswitch-"):
                print(f"{s.get_name()}: {s.to_string()}")
    stats = switch.get_property("stats")
    pipeline.set_state(Gst.State.NULL)
    print(f"stats: {stats.to_string()}")

    problems = list(errors)
    for field in ("gaps", "repeats"):
        value = stats.get_value(field)
        if value != 0:
            problems.append(f"stats report {value} {field}")
    if not switches or switches[0]["reason"] != "initial":
        problems.append(f"no initial switch message: {switches}")
    else:
        first = switches[0]["frame"]
        failovers = [s for s in switches if s["reason"] == "timeout"]
        if len(failovers) != 1:
            problems.append(f"expected one timeout failover, got {switches}")
        else:
            failover = failovers[0]
            at = failover["frame"] - first
            print(
                f"failover: {failover['old-pad']} -> {failover['new-pad']} at frame {at} "
                f"(timecode {failover['timecode']})"
            )
            if at != args.cut_at:
                problems.append(f"the failover happened at frame {at}, not at the cut {args.cut_at}")
    if len(output_pts) != args.frames:
        problems.append(f"{len(output_pts)} frames out, expected {args.frames}")
    period = Gst.SECOND // FPS
    steps = [b - a for a, b in zip(output_pts, output_pts[1:])]
    bad = [(i + 1, step) for i, step in enumerate(steps) if abs(step - period) > 1_000_000]
    if bad:
        problems.append(f"timestamps not one frame apart (a gap or a repeat) at {bad[:5]}")
    if problems:
        for problem in problems:
            print(f"redundant_switch: FAILED: {problem}", file=sys.stderr)
        return 1
    print(f"ok: {len(output_pts)} frames out, each once, no gap; failover at frame {args.cut_at}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
