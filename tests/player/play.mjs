// SPDX-License-Identifier: MPL-2.0
// Plays hlsdashsink output in Debian's headless Chromium with hls.js, dash.js or Shaka Player
// and prints what the player saw as JSON: {"currentTime", "played", "errors", "programDateTime",
// "frames", "audioTracks", "audioBytes", "ended", "duration"}.
//
// Usage: node play.mjs <output dir> <hls|dash|shaka> [seconds to play, or "end" to play a
// static presentation to its end] [HLS playlist, default video.m3u8; index.m3u8 for the
// multivariant playlist with its audio renditions]
// The directory is served on 127.0.0.1 (an ephemeral port) next to the players' own files
// from node_modules, with /time as a UTCTiming source; nothing is downloaded at run time.
import http from 'node:http';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const here = path.dirname(fileURLToPath(import.meta.url));
const [dir, kind, seconds = '3', hlsPlaylist = 'video.m3u8'] = process.argv.slice(2);
const toEnd = seconds === 'end';
const target = toEnd ? Infinity : Number(seconds);
const libs = {
  '/lib/hls.min.js': path.join(here, 'node_modules/hls.js/dist/hls.min.js'),
  '/lib/dash.all.min.js': path.join(here, 'node_modules/dashjs/dist/modern/umd/dash.all.min.js'),
  '/lib/shaka-player.compiled.js': path.join(here, 'node_modules/shaka-player/dist/shaka-player.compiled.js'),
};
const library = { hls: 'hls.min.js', dash: 'dash.all.min.js', shaka: 'shaka-player.compiled.js' }[kind];
const types = {
  '.m3u8': 'application/vnd.apple.mpegurl',
  '.mpd': 'application/dash+xml',
  '.mp4': 'video/mp4',
  '.m4s': 'video/iso.segment',
  '.js': 'text/javascript',
  '.html': 'text/html',
};
const page = `<!doctype html><html><body><video id="v" muted playsinline></video>
<script src="/lib/${library}"></script>
<script>
  const v = document.getElementById('v');
  window.result = { errors: [], programDateTime: null, audioTracks: 0 };
  if (${JSON.stringify(kind)} === 'hls') {
    const hls = new Hls();
    hls.on(Hls.Events.ERROR, (_, d) => { if (d.fatal) window.result.errors.push(d.type + ': ' + d.details); });
    hls.on(Hls.Events.FRAG_CHANGED, (_, d) => {
      if (window.result.programDateTime === null) window.result.programDateTime = d.frag.programDateTime;
    });
    hls.on(Hls.Events.AUDIO_TRACKS_UPDATED, (_, d) => { window.result.audioTracks = d.audioTracks.length; });
    hls.loadSource('/media/' + ${JSON.stringify(hlsPlaylist)});
    hls.attachMedia(v);
  } else if (${JSON.stringify(kind)} === 'shaka') {
    shaka.polyfill.installAll();
    const player = new shaka.Player();
    player.addEventListener('error', (e) => window.result.errors.push('shaka ' + (e.detail && e.detail.code)));
    player.attach(v).then(() => player.load('/media/manifest.mpd')).then(() => {
      window.result.audioTracks = player.getAudioTracks().length;
      return v.play();
    }).catch((e) => window.result.errors.push('shaka load: ' + (e && (e.code || e.message || e))));
  } else {
    const player = dashjs.MediaPlayer().create();
    player.on(dashjs.MediaPlayer.events.ERROR, (e) => window.result.errors.push(JSON.stringify(e.error || e)));
    player.on(dashjs.MediaPlayer.events.STREAM_INITIALIZED, () => {
      window.result.audioTracks = player.getTracksFor('audio').length;
    });
    player.initialize(v, '/media/manifest.mpd', true);
  }
  if (${JSON.stringify(kind)} !== 'shaka') v.play().catch((e) => window.result.errors.push('play: ' + e));
</script></body></html>`;

const server = http.createServer((req, res) => {
  const url = decodeURIComponent(new URL(req.url, 'http://x').pathname);
  let file = null;
  if (url === '/') {
    res.writeHead(200, { 'content-type': 'text/html' });
    res.end(page);
    return;
  }
  if (url === '/time') {
    // A UTCTiming source (urn:mpeg:dash:utc:http-iso:2014) on the same server.
    res.writeHead(200, { 'content-type': 'text/plain', 'access-control-allow-origin': '*' });
    res.end(new Date().toISOString());
    return;
  }
  if (libs[url]) file = libs[url];
  else if (url.startsWith('/media/') && !url.includes('..')) file = path.join(dir, url.slice(7));
  if (!file || !fs.existsSync(file)) {
    res.writeHead(404);
    res.end();
    return;
  }
  res.writeHead(200, { 'content-type': types[path.extname(file)] || 'application/octet-stream' });
  fs.createReadStream(file).pipe(res);
});
await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
const port = server.address().port;

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: ['--no-sandbox', '--autoplay-policy=no-user-gesture-required'],
});
let outcome;
try {
  const tab = await browser.newPage();
  const consoleErrors = [];
  tab.on('pageerror', (e) => consoleErrors.push(String(e)));
  await tab.goto(`http://127.0.0.1:${port}/`);
  const deadline = Date.now() + 30000;
  // Media time where playback started (0 for vod and hls.js; seconds since the epoch for a
  // live MPD anchored at 1970): "played" is how far it advanced from there.
  let start = null;
  for (;;) {
    outcome = await tab.evaluate(() => ({
      currentTime: document.getElementById('v').currentTime,
      errors: window.result.errors,
      programDateTime: window.result.programDateTime,
      frames: document.getElementById('v').getVideoPlaybackQuality().totalVideoFrames,
      audioTracks: window.result.audioTracks,
      // Chromium's count of decoded audio bytes: > 0 once audio plays.
      audioBytes: document.getElementById('v').webkitAudioDecodedByteCount || 0,
      ended: document.getElementById('v').ended,
      duration: document.getElementById('v').duration,
    }));
    if (start === null && outcome.frames > 0) start = outcome.currentTime;
    outcome.played = start === null ? 0 : outcome.currentTime - start;
    if (outcome.played >= target || (toEnd && outcome.ended)) break;
    if (outcome.errors.length > 0 || Date.now() > deadline) break;
    await new Promise((r) => setTimeout(r, 200));
  }
  outcome.errors.push(...consoleErrors);
} finally {
  await browser.close();
  server.close();
}
console.log(JSON.stringify(outcome));
