// SPDX-License-Identifier: MPL-2.0
// The player page of `lockstep live`: plays the channel's HLS (hls.js) or DASH (dash.js)
// output from the directory it is served from (or opened in), shows the timecode and UTC
// instant of the playing frame and the latency to live, and marks the run's events (switches,
// handovers, the failure and recovery) on a timeline, from events.json.
//
// The playing position's UTC instant: hls.js gives it from EXT-X-PROGRAM-DATE-TIME
// (`playingDate`); the DASH output is anchored at the Unix epoch (availabilityStartTime
// 1970-01-01T00:00:00Z, presentationTimeOffset 0), so its media time *is* UTC seconds. The
// timecode label is that instant as local time of day in the channel's zone, frames counted at
// its rate, as timecodeparse resolves labels the other way.
'use strict';

const state = {
  format: new URLSearchParams(location.search).get('format') === 'dash' ? 'dash' : 'hls',
  channel: null,
  events: [],
  instantMs: null,
  timecode: null,
  latencyS: null,
  errors: [],
  player: null,
};
// Read by tests (and handy in a console).
window.lockstepPlayer = state;

const video = document.getElementById('video');
const $ = (id) => document.getElementById(id);

function pad(n, width = 2) {
  return String(n).padStart(width, '0');
}

function timecodeOf(ms) {
  const channel = state.channel;
  if (!channel) return null;
  const parts = new Intl.DateTimeFormat('en-GB', {
    timeZone: channel.time_zone, hour: '2-digit', minute: '2-digit', second: '2-digit', hourCycle: 'h23',
  }).formatToParts(new Date(ms));
  const get = (type) => parts.find((p) => p.type === type).value;
  const msInSecond = ((ms % 1000) + 1000) % 1000;
  const frames = Math.floor((msInSecond * channel.frame_rate_num) / (channel.frame_rate_den * 1000) + 1e-6);
  return `${get('hour')}:${get('minute')}:${get('second')}:${pad(frames)}`;
}

function start(format) {
  state.format = format;
  state.errors = [];
  $('error').textContent = '';
  if (state.player) {
    try { state.player.destroy ? state.player.destroy() : state.player.reset(); } catch (e) { /* gone */ }
    state.player = null;
  }
  $('hls').classList.toggle('active', format === 'hls');
  $('dash').classList.toggle('active', format === 'dash');
  $('format').textContent = format === 'hls' ? 'HLS, index.m3u8 (hls.js)' : 'DASH, manifest.mpd (dash.js)';
  const fail = (text) => { state.errors.push(text); $('error').textContent = text; };
  if (format === 'hls') {
    if (!window.Hls || !Hls.isSupported()) { fail('hls.js is not available'); return; }
    const hls = new Hls({ liveSyncDurationCount: 3 });
    hls.on(Hls.Events.ERROR, (_, d) => { if (d.fatal) fail(`hls.js: ${d.type} ${d.details}`); });
    hls.loadSource('../index.m3u8');
    hls.attachMedia(video);
    state.player = hls;
  } else {
    if (!window.dashjs) { fail('dash.js is not available'); return; }
    const player = dashjs.MediaPlayer().create();
    player.on(dashjs.MediaPlayer.events.ERROR, (e) => fail(`dash.js: ${JSON.stringify(e.error || e)}`));
    player.initialize(video, '../manifest.mpd', true);
    state.player = player;
  }
  video.play().catch(() => { /* autoplay resumes once data arrives */ });
}

function playingInstantMs() {
  if (!state.player || video.readyState < 2) return null;
  if (state.format === 'hls') {
    const date = state.player.playingDate;
    return date ? date.getTime() : null;
  }
  // Media time is seconds since the epoch (the MPD's anchor).
  return video.currentTime > 1e8 ? video.currentTime * 1000 : null;
}

function render() {
  const ms = playingInstantMs();
  state.instantMs = ms;
  if (ms !== null) {
    state.timecode = timecodeOf(ms);
    state.latencyS = (Date.now() - ms) / 1000;
    $('timecode').textContent = state.timecode || '--:--:--:--';
    $('instant').textContent = new Date(ms).toISOString();
    $('latency').textContent = `${state.latencyS.toFixed(2)} s`;
  }
  $('wallclock').textContent = new Date().toISOString();
  drawTimeline(ms);
}

const WINDOW_MS = 120000;

function drawTimeline(playingMs) {
  const timeline = $('timeline');
  const now = Date.now();
  const left = now - WINDOW_MS;
  const x = (ms) => `${Math.max(0, Math.min(100, ((ms - left) / WINDOW_MS) * 100))}%`;
  timeline.querySelectorAll('.mark').forEach((m) => m.remove());
  state.events.forEach((event, index) => {
    if (event.utc_ns / 1e6 < left) return;
    const mark = document.createElement('div');
    mark.className = `mark ${event.kind}`;
    mark.style.left = x(event.utc_ns / 1e6);
    mark.title = `${event.kind} at ${event.timecode || event.utc}: ${event.detail}`;
    const label = document.createElement('span');
    label.textContent = event.kind;
    // Staggered, so marks close together stay readable.
    label.style.top = `${2 + (index % 3) * 14}px`;
    mark.appendChild(label);
    timeline.appendChild(mark);
  });
  $('playhead').style.left = playingMs === null ? '100%' : x(playingMs);
  $('axis-start').textContent = new Date(left).toISOString().slice(11, 19) + 'Z';
}

function showEvents() {
  const body = $('events').querySelector('tbody');
  body.innerHTML = '';
  for (const event of state.events.slice(-20).reverse()) {
    const row = document.createElement('tr');
    for (const text of [event.kind, event.timecode || '', event.frame ?? '', event.utc, event.detail]) {
      const cell = document.createElement('td');
      cell.textContent = text;
      row.appendChild(cell);
    }
    body.appendChild(row);
  }
}

async function loadEvents() {
  try {
    const response = await fetch('../events.json', { cache: 'no-store' });
    if (response.ok) {
      const log = await response.json();
      state.channel = log.channel;
      state.events = log.events;
      $('zone').textContent = log.channel.time_zone;
      showEvents();
    }
  } catch (e) { /* not written yet, or opened from a file: try again */ }
}

$('hls').onclick = () => start('hls');
$('dash').onclick = () => start('dash');
loadEvents().then(() => start(state.format));
setInterval(loadEvents, 2000);
setInterval(render, 200);
