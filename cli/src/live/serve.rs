// SPDX-License-Identifier: MPL-2.0
//! The HTTP server of `lockstep live`: the output directory (manifests, segments, the event
//! log) and the player page, on 127.0.0.1.
//!
//! - MIME types of HLS (RFC 8216 §4: `application/vnd.apple.mpegurl`), DASH
//!   (`application/dash+xml`), CMAF segments (`video/mp4`, `video/iso.segment`), the page's
//!   files;
//! - CORS (`Access-Control-Allow-Origin: *`, preflight answered), so players on other origins
//!   can read it;
//! - `Cache-Control: no-cache` on manifests and the event log, which change while the channel
//!   runs; segments never change once written;
//! - byte ranges on every file (RFC 9110 §14: one range; `206` or `416`);
//! - `/time`: the wall clock (ISO 8601), the UTCTiming source the MPD names;
//! - nothing outside the directory: the decoded path may not hold `..`, start at the root or
//!   leave the directory through a symbolic link (the real path must stay under the real
//!   directory).

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::net::SocketAddr;
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;
use std::thread::JoinHandle;

use tiny_http::{Header, Method, Request, Response, Server, StatusCode};

/// A server running on its own thread until [`HttpServer::stop`].
pub struct HttpServer {
    server: Arc<Server>,
    thread: Option<JoinHandle<()>>,
    address: SocketAddr,
}

impl HttpServer {
    /// Serves `root` on 127.0.0.1:`port` (0: any free port). Fails when the port is taken.
    pub fn start(root: &Path, port: u16) -> Result<HttpServer, String> {
        let root = root
            .canonicalize()
            .map_err(|e| format!("cannot serve {}: {e}", root.display()))?;
        let server = Server::http(("127.0.0.1", port)).map_err(|e| {
            format!(
                "cannot listen on 127.0.0.1:{port} ({e}): choose another port with --port, or --no-serve"
            )
        })?;
        let address = server
            .server_addr()
            .to_ip()
            .ok_or("the server has no IP address")?;
        let server = Arc::new(server);
        let serving = server.clone();
        let thread = std::thread::Builder::new()
            .name("lockstep-http".into())
            .spawn(move || {
                for request in serving.incoming_requests() {
                    handle(&root, request);
                }
            })
            .map_err(|e| format!("cannot start the HTTP server: {e}"))?;
        Ok(HttpServer {
            server,
            thread: Some(thread),
            address,
        })
    }

    pub fn address(&self) -> SocketAddr {
        self.address
    }

    pub fn stop(mut self) {
        self.server.unblock();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn header(name: &str, value: &str) -> Header {
    // Names and values here are plain ASCII constants or numbers.
    Header::from_bytes(name.as_bytes(), value.as_bytes())
        .unwrap_or_else(|_| Header::from_bytes(&b"X-Invalid"[..], &b"1"[..]).expect("ASCII"))
}

fn common_headers(path: &str) -> Vec<Header> {
    let mut headers = vec![
        header("Access-Control-Allow-Origin", "*"),
        header(
            "Access-Control-Expose-Headers",
            "Content-Length, Content-Range",
        ),
        header("Accept-Ranges", "bytes"),
    ];
    if is_changing(path) {
        headers.push(header("Cache-Control", "no-cache"));
    }
    headers
}

fn handle(root: &Path, request: Request) {
    let url = request.url().to_owned();
    let path_part = url.split(['?', '#']).next().unwrap_or("/").to_owned();
    let method = request.method().clone();
    let respond = |request: Request, status: u16, text: &str| {
        let mut response =
            Response::from_string(text.to_owned()).with_status_code(StatusCode(status));
        for h in common_headers("") {
            response.add_header(h);
        }
        response.add_header(header("Content-Type", "text/plain; charset=utf-8"));
        let _ = request.respond(response);
    };
    match method {
        Method::Options => {
            let mut response = Response::empty(StatusCode(204));
            for h in common_headers("") {
                response.add_header(h);
            }
            response.add_header(header("Access-Control-Allow-Methods", "GET, HEAD, OPTIONS"));
            response.add_header(header("Access-Control-Allow-Headers", "Range"));
            let _ = request.respond(response);
            return;
        }
        Method::Get | Method::Head => {}
        _ => {
            respond(request, 405, "only GET, HEAD and OPTIONS");
            return;
        }
    }
    if path_part == "/time" {
        // DASH's UTCTiming (urn:mpeg:dash:utc:http-iso:2014): the MPD names `/time`.
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
            .unwrap_or(0);
        let mut response =
            Response::from_string(gstlockstep::timecode::utc::format_rfc3339_millis(now));
        for h in common_headers("/time.json") {
            response.add_header(h);
        }
        response.add_header(header("Content-Type", "text/plain; charset=utf-8"));
        let _ = request.respond(response);
        return;
    }
    if path_part == "/" {
        let mut response = Response::empty(StatusCode(302));
        response.add_header(header("Location", "/player/index.html"));
        let _ = request.respond(response);
        return;
    }
    let Some(file_path) = resolve(root, &path_part) else {
        respond(request, 404, "not found");
        return;
    };
    let Ok(mut file) = File::open(&file_path) else {
        respond(request, 404, "not found");
        return;
    };
    let size = file.metadata().map(|m| m.len()).unwrap_or(0);
    let range = request
        .headers()
        .iter()
        .find(|h| h.field.equiv("Range"))
        .map(|h| h.value.as_str().to_owned());
    let (status, start, length) = match range.as_deref().map(|r| parse_range(r, size)) {
        None => (200, 0, size),
        Some(Some((start, end))) => (206, start, end - start + 1),
        Some(None) => {
            let mut response = Response::empty(StatusCode(416));
            for h in common_headers(&path_part) {
                response.add_header(h);
            }
            response.add_header(header("Content-Range", &format!("bytes */{size}")));
            let _ = request.respond(response);
            return;
        }
    };
    let mut body = Vec::new();
    if method == Method::Get {
        let read = file
            .seek(SeekFrom::Start(start))
            .and_then(|_| file.by_ref().take(length).read_to_end(&mut body));
        if read.is_err() {
            respond(request, 500, "cannot read the file");
            return;
        }
    }
    let mut response = Response::from_data(body).with_status_code(StatusCode(status));
    for h in common_headers(&path_part) {
        response.add_header(h);
    }
    response.add_header(header("Content-Type", mime_type(&path_part)));
    if status == 206 {
        response.add_header(header(
            "Content-Range",
            &format!("bytes {start}-{}/{size}", start + length - 1),
        ));
    }
    if method == Method::Head {
        response.add_header(header("Content-Length", &length.to_string()));
    }
    let _ = request.respond(response);
}

/// The MIME type of a served file, by its extension.
pub fn mime_type(path: &str) -> &'static str {
    let extension = path.rsplit('.').next().unwrap_or("").to_ascii_lowercase();
    match extension.as_str() {
        "m3u8" => "application/vnd.apple.mpegurl",
        "mpd" => "application/dash+xml",
        "mp4" => "video/mp4",
        "m4s" => "video/iso.segment",
        "ts" => "video/mp2t",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "html" => "text/html; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "json" => "application/json",
        "png" => "image/png",
        "txt" => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}

/// Manifests and the event log change while the channel runs.
fn is_changing(path: &str) -> bool {
    ["m3u8", "mpd", "json"].iter().any(|extension| {
        path.to_ascii_lowercase()
            .ends_with(&format!(".{extension}"))
    })
}

/// The file a request path names under `root` (itself canonical), or `None` when it would lie
/// outside it or is not a file.
pub fn resolve(root: &Path, url_path: &str) -> Option<PathBuf> {
    let decoded = percent_decode(url_path)?;
    let relative = decoded.strip_prefix('/')?;
    let mut path = root.to_path_buf();
    for component in Path::new(relative).components() {
        match component {
            Component::Normal(part) => path.push(part),
            Component::CurDir => {}
            // `..`, a root or a prefix: never outside the directory.
            _ => return None,
        }
    }
    // Symbolic links may point elsewhere: the real path must still be under the root.
    let real = path.canonicalize().ok()?;
    (real.starts_with(root) && real.is_file()).then_some(real)
}

/// `%XX` escapes decoded; `None` for a malformed escape, a NUL or invalid UTF-8.
fn percent_decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    if out.contains(&0) {
        return None;
    }
    String::from_utf8(out).ok()
}

/// One byte range of a `size`-byte file: `Some((first, last))`, inclusive; `None` when it
/// cannot be satisfied (RFC 9110 §14.1.2). Several ranges are answered with the first.
pub fn parse_range(header: &str, size: u64) -> Option<(u64, u64)> {
    let spec = header.trim().strip_prefix("bytes=")?;
    let first = spec.split(',').next()?.trim();
    let (start, end) = first.split_once('-')?;
    if size == 0 {
        return None;
    }
    match (start.trim(), end.trim()) {
        ("", suffix) => {
            let suffix: u64 = suffix.parse().ok()?;
            if suffix == 0 {
                return None;
            }
            Some((size.saturating_sub(suffix), size - 1))
        }
        (start, "") => {
            let start: u64 = start.parse().ok()?;
            (start < size).then_some((start, size - 1))
        }
        (start, end) => {
            let (start, end): (u64, u64) = (start.parse().ok()?, end.parse().ok()?);
            (start <= end && start < size).then_some((start, end.min(size - 1)))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_follow_rfc_9110() {
        assert_eq!(parse_range("bytes=0-9", 100), Some((0, 9)));
        assert_eq!(parse_range("bytes=90-", 100), Some((90, 99)));
        assert_eq!(parse_range("bytes=-10", 100), Some((90, 99)));
        assert_eq!(parse_range("bytes=-500", 100), Some((0, 99)));
        assert_eq!(parse_range("bytes=50-500", 100), Some((50, 99)));
        assert_eq!(parse_range("bytes=5-9, 20-30", 100), Some((5, 9)));
        for bad in [
            "bytes=100-",
            "bytes=9-5",
            "bytes=-0",
            "items=0-1",
            "bytes=a-b",
            "bytes=0-9",
        ] {
            let size = if bad == "bytes=0-9" { 0 } else { 100 };
            assert_eq!(parse_range(bad, size), None, "{bad}");
        }
    }

    #[test]
    fn paths_never_leave_the_directory() {
        let base = std::env::temp_dir().join(format!("lockstep-serve-{}", std::process::id()));
        let root = base.join("out");
        std::fs::create_dir_all(root.join("player")).unwrap();
        std::fs::write(root.join("video.m3u8"), "#EXTM3U").unwrap();
        std::fs::write(root.join("player/index.html"), "<html>").unwrap();
        std::fs::write(base.join("secret.txt"), "secret").unwrap();
        #[cfg(unix)]
        std::os::unix::fs::symlink(base.join("secret.txt"), root.join("link.txt")).unwrap();
        let root = root.canonicalize().unwrap();
        assert!(resolve(&root, "/video.m3u8").is_some());
        assert!(resolve(&root, "/player/index.html").is_some());
        assert!(resolve(&root, "/player/%69ndex.html").is_some());
        for escape in [
            "/../secret.txt",
            "/%2e%2e/secret.txt",
            "/%2E%2E/secret.txt",
            "/player/../../secret.txt",
            "//etc/passwd",
            "/link.txt",
            "/player",
            "/missing.m3u8",
            "/%zz",
            "/a%00b",
            "video.m3u8",
        ] {
            assert_eq!(resolve(&root, escape), None, "{escape}");
        }
        let _ = std::fs::remove_dir_all(&base);
    }

    #[test]
    fn types_and_caching() {
        assert_eq!(mime_type("/video.m3u8"), "application/vnd.apple.mpegurl");
        assert_eq!(mime_type("/manifest.mpd"), "application/dash+xml");
        assert_eq!(mime_type("/video_1.m4s"), "video/iso.segment");
        assert_eq!(mime_type("/video_init.mp4"), "video/mp4");
        assert!(is_changing("/index.m3u8") && is_changing("/events.json"));
        assert!(!is_changing("/video_1.m4s"));
    }
}
