// SPDX-License-Identifier: MPL-2.0
//! `lockstep live` as a user runs it: the program built by cargo, a shortened run of the
//! README's first command (a failover, a recovery and an encoder update on the way), its HTTP
//! server, the player page in headless Chromium (HLS and DASH), and bad input.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

fn lockstep() -> Command {
    Command::new(env!("CARGO_BIN_EXE_lockstep"))
}

/// A child process killed when the test ends, also when it fails.
struct Guard(Child);

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn out_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("lockstep-cli-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

/// One HTTP/1.1 request on a fresh connection: (status, headers lower-cased, body).
fn http(port: u16, request: &str) -> (u16, Vec<(String, String)>, Vec<u8>) {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).expect("the server listens");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    stream.write_all(request.as_bytes()).unwrap();
    let mut bytes = Vec::new();
    let _ = stream.read_to_end(&mut bytes);
    let split = bytes
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a response head");
    let head = String::from_utf8_lossy(&bytes[..split]).to_string();
    let body = bytes[split + 4..].to_vec();
    let mut lines = head.lines();
    let status: u16 = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|s| s.parse().ok())
        .expect("a status line");
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    (status, headers, body)
}

fn get(port: u16, path: &str, extra: &str) -> (u16, Vec<(String, String)>, Vec<u8>) {
    http(
        port,
        &format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n{extra}\r\n"),
    )
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// What the player page showed (tests/player/live_page.mjs).
fn page(url: &str, format: &str, screenshot: &Path) -> serde_json::Value {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/player/live_page.mjs");
    assert!(
        script
            .with_file_name("node_modules")
            .join("playwright-core")
            .exists(),
        "tests/player/node_modules is missing: run scripts/setup.sh"
    );
    let output = Command::new("node")
        .arg(&script)
        .arg(url)
        .arg(format)
        .arg(screenshot)
        .arg("2")
        .output()
        .expect("node runs (scripts/setup.sh installs nodejs and chromium)");
    assert!(
        output.status.success(),
        "{format}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|e| panic!("{format}: {e}: {}", String::from_utf8_lossy(&output.stdout)))
}

/// The README's first command, shortened: 20 s on air with 1 s segments, branch a failing at
/// 3 s and recovering 3 s later, the encoder on air replaced at 7 s. While it runs, its server
/// and the player page are checked; at its end, the report and the event log.
#[test]
fn live_channel_fails_over_and_hands_over_with_no_gap_and_plays() {
    let dir = out_dir("live");
    let mut child = Guard(
        lockstep()
            .args([
                "live",
                "--duration",
                "20",
                "--size",
                "320x180",
                "--segment-duration",
                "1",
                "--port",
                "0",
                "--fail-at",
                "3",
                "--recover-after",
                "3",
                "--update-at",
                "7",
                "--out",
            ])
            .arg(&dir)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("lockstep runs"),
    );
    let stdout = child.0.stdout.take().unwrap();
    let (lines, received) = mpsc::channel::<String>();
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = lines.send(line);
        }
    });
    let mut printed = Vec::new();
    let url = loop {
        let line = received
            .recv_timeout(Duration::from_secs(30))
            .expect("the page's URL is printed");
        printed.push(line.clone());
        if let Some(at) = line.find("http://") {
            break line[at..].split_whitespace().next().unwrap().to_owned();
        }
    };
    let port: u16 = url
        .trim_start_matches("http://127.0.0.1:")
        .split('/')
        .next()
        .unwrap()
        .parse()
        .unwrap();

    // The server, once the first manifests are out.
    let deadline = Instant::now() + Duration::from_secs(20);
    while !dir.join("index.m3u8").is_file() || !dir.join("video_init.mp4").is_file() {
        assert!(Instant::now() < deadline, "no manifest within 20 s");
        std::thread::sleep(Duration::from_millis(200));
    }
    let (status, headers, body) = get(port, "/index.m3u8", "");
    assert_eq!(status, 200);
    assert!(body.starts_with(b"#EXTM3U"));
    assert_eq!(
        header(&headers, "content-type"),
        Some("application/vnd.apple.mpegurl")
    );
    assert_eq!(header(&headers, "access-control-allow-origin"), Some("*"));
    assert_eq!(header(&headers, "cache-control"), Some("no-cache"));
    let (status, headers, _) = get(port, "/manifest.mpd", "");
    assert_eq!(status, 200);
    assert_eq!(
        header(&headers, "content-type"),
        Some("application/dash+xml")
    );
    let (status, _, body) = get(port, "/time", "");
    assert_eq!(status, 200);
    assert!(
        String::from_utf8_lossy(&body).ends_with('Z'),
        "UTCTiming: ISO 8601 UTC"
    );
    let (status, headers, body) = get(port, "/video_init.mp4", "Range: bytes=0-7\r\n");
    assert_eq!(status, 206);
    assert_eq!(body.len(), 8);
    assert_eq!(&body[4..8], b"ftyp");
    let size = std::fs::metadata(dir.join("video_init.mp4")).unwrap().len();
    assert_eq!(
        header(&headers, "content-range"),
        Some(format!("bytes 0-7/{size}").as_str())
    );
    assert_eq!(header(&headers, "content-type"), Some("video/mp4"));
    assert_eq!(
        header(&headers, "cache-control"),
        None,
        "segments never change"
    );
    let (status, _, _) = get(
        port,
        "/video_init.mp4",
        &format!("Range: bytes={size}-\r\n"),
    );
    assert_eq!(status, 416);
    for escape in [
        "/../Cargo.toml",
        "/%2e%2e/%2e%2e/etc/passwd",
        "/player/../../x",
    ] {
        assert_eq!(get(port, escape, "").0, 404, "{escape}");
    }
    let (status, headers, _) = http(
        port,
        "OPTIONS /manifest.mpd HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(status, 204);
    assert!(header(&headers, "access-control-allow-methods").is_some());
    let (status, headers, body) = http(
        port,
        "HEAD /index.m3u8 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(status, 200);
    assert!(body.is_empty());
    assert!(header(&headers, "content-length").is_some());

    // The player page, HLS then DASH, on the running channel.
    let screenshots = Path::new(env!("CARGO_TARGET_TMPDIR"));
    for format in ["hls", "dash"] {
        let screenshot = screenshots.join(format!("lockstep-live-{format}.png"));
        let _ = std::fs::remove_file(&screenshot);
        let shown = page(&url, format, &screenshot);
        assert_eq!(shown["errors"], serde_json::json!([]), "{format}: {shown}");
        let first = shown["first"]["timecode"]
            .as_str()
            .expect("a timecode shown");
        let later = shown["later"]["timecode"].as_str().unwrap();
        assert_ne!(first, later, "{format}: the timecode advances: {shown}");
        assert!(
            shown["later"]["latencyS"].as_f64().unwrap() > 0.0,
            "{format}: {shown}"
        );
        assert!(
            shown["marks"].as_u64().unwrap() >= 2,
            "{format}: marks: {shown}"
        );
        let png = std::fs::metadata(&screenshot).expect("a screenshot").len();
        assert!(png > 10_000, "{format}: screenshot of {png} bytes");
    }

    let status = child.0.wait().unwrap();
    reader.join().unwrap();
    printed.extend(received.try_iter());
    let mut stderr = String::new();
    let _ = child.0.stderr.take().unwrap().read_to_string(&mut stderr);
    let report = printed.join("\n");
    assert!(status.success(), "exit {status:?}\n{report}\n{stderr}");
    for line in ["  gaps       0 ", "  repeats    0"] {
        assert!(report.contains(line), "{line:?} in\n{report}");
    }
    assert!(report.contains("  validator  "), "{report}");

    // The event log tells the same story, frame by frame.
    let log: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("events.json")).unwrap()).unwrap();
    let events = log["events"].as_array().unwrap();
    let of = |kind: &str| -> Vec<&serde_json::Value> {
        events.iter().filter(|e| e["kind"] == kind).collect()
    };
    let failure = of("failure");
    assert_eq!(failure.len(), 1, "{events:?}");
    let failover: Vec<_> = of("switch")
        .into_iter()
        .filter(|e| e["detail"].as_str().unwrap().contains("(timeout)"))
        .collect();
    assert_eq!(failover.len(), 1, "one failover: {events:?}");
    assert_eq!(
        failover[0]["frame"], failure[0]["frame"],
        "the failover takes the frame the failed branch did not deliver"
    );
    assert!(
        report.contains(&format!("frame {}", failover[0]["frame"].as_i64().unwrap())),
        "the report names the failover's frame"
    );
    assert_eq!(of("recovery").len(), 1);
    let handover = of("handover");
    assert_eq!(handover.len(), 1, "{events:?}");
    let first_frame = handover[0]["frame"].as_i64().unwrap();
    assert!(
        report.contains(&format!(
            "from frame {first_frame} (announced {first_frame})"
        )),
        "the handover happened at the frame it announced:\n{report}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

fn refused(args: &[&str]) -> String {
    let output = lockstep().args(args).output().expect("lockstep runs");
    let stderr = String::from_utf8_lossy(&output.stderr).to_string();
    assert_eq!(output.status.code(), Some(2), "{args:?}: {stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    stderr
}

/// Bad options and a bad environment: one line that says what to do, exit status 2, and
/// nothing written where it should not be.
#[test]
fn bad_input_is_refused_with_what_to_do() {
    assert!(refused(&["live", "--bogus"]).contains("--bogus"));
    let unwritable = refused(&["live", "--no-serve", "--out", "/proc/lockstep-live"]);
    assert!(unwritable.contains("--out"), "{unwritable}");
    let half = refused(&[
        "live",
        "--no-serve",
        "--segment-duration",
        "0.7",
        "--out",
        "/tmp/never-made",
    ]);
    assert!(half.contains("whole number of frames"), "{half}");
    assert!(!Path::new("/tmp/never-made").exists());
    assert!(refused(&["live", "--size", "big"]).contains("WIDTHxHEIGHT"));
    assert!(refused(&["live", "--time-zone", "Mars/Olympus"]).contains("--time-zone"));

    let busy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = busy.local_addr().unwrap().port().to_string();
    let dir = out_dir("busy");
    let taken = refused(&["live", "--port", &port, "--out", dir.to_str().unwrap()]);
    assert!(taken.contains("--port"), "{taken}");

    let missing = refused(&["live", "--no-serve", "--input", "/nonexistent.ts"]);
    assert!(missing.contains("no such file"), "{missing}");

    // A directory that holds something else is left alone.
    let other = out_dir("other");
    std::fs::create_dir_all(&other).unwrap();
    std::fs::write(other.join("notes.txt"), "mine").unwrap();
    let not_empty = refused(&["live", "--no-serve", "--out", other.to_str().unwrap()]);
    assert!(not_empty.contains("not empty"), "{not_empty}");
    let names: Vec<_> = std::fs::read_dir(&other).unwrap().collect();
    assert_eq!(names.len(), 1);
    let _ = std::fs::remove_dir_all(&other);
    let _ = std::fs::remove_dir_all(&dir);
}

/// An input whose video carries no timecode: refused once its frames show it, exit status 2,
/// and no manifest left as if the run had produced a channel.
#[test]
fn an_input_without_timecodes_is_refused() {
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/data/timecode/h264_30fps_no_timecode.h264");
    let dir = out_dir("no-timecode");
    let stderr = refused(&[
        "live",
        "--no-serve",
        "--framerate",
        "30",
        "--size",
        "320x180",
        "--input",
        fixture.to_str().unwrap(),
        "--out",
        dir.to_str().unwrap(),
    ]);
    assert!(stderr.contains("carries no timecode"), "{stderr}");
    assert!(!dir.join("video.m3u8").exists() && !dir.join("manifest.mpd").exists());
    let _ = std::fs::remove_dir_all(&dir);
}

/// A real source with timecodes (a fixture that crosses midnight): its frames go out named by
/// their own timecodes.
#[test]
fn an_input_with_timecodes_is_packaged() {
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/data/timecode/h264_25fps_ndf_midnight_py.h264");
    let dir = out_dir("input");
    let output = lockstep()
        .args([
            "live",
            "--no-serve",
            "--no-failure",
            "--no-update",
            "--size",
            "320x180",
            "--segment-duration",
            "1",
            "--input",
        ])
        .arg(&fixture)
        .arg("--out")
        .arg(&dir)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.contains("frames in 30, frames out 30"), "{stdout}");
    assert!(
        stdout.contains("(23:59:59:15): - -> a (initial)"),
        "{stdout}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
