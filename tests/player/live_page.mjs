// SPDX-License-Identifier: MPL-2.0
// Opens the player page of `lockstep live` in Debian's headless Chromium and prints what it
// showed as JSON: {"format", "first": {timecode, instant, latency}, "later": {…}, "marks",
// "events", "errors", "screenshot"}.
//
// Usage: node live_page.mjs <page URL> <hls|dash> <screenshot.png> [seconds to watch]
import { chromium } from 'playwright-core';

const [url, format, screenshot, seconds = '3'] = process.argv.slice(2);
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: ['--no-sandbox', '--autoplay-policy=no-user-gesture-required', '--disable-gpu',
    '--disable-quic', '--no-first-run', '--disable-background-networking',
    '--disable-component-update', '--disable-sync'],
});
const read = (tab) => tab.evaluate(() => {
  const s = window.lockstepPlayer;
  return {
    timecode: s.timecode, instantMs: s.instantMs, latencyS: s.latencyS,
    errors: s.errors, events: s.events.length,
    marks: document.querySelectorAll('#timeline .mark').length,
    shownTimecode: document.getElementById('timecode').textContent,
  };
});
let outcome = { format, errors: [] };
try {
  const tab = await browser.newPage({ viewport: { width: 1100, height: 760 } });
  tab.on('pageerror', (e) => outcome.errors.push(String(e)));
  await tab.goto(`${url}?format=${format}`);
  const deadline = Date.now() + 40000;
  let first = null;
  for (;;) {
    const now = await read(tab);
    if (now.errors.length) { outcome.errors.push(...now.errors); break; }
    if (now.timecode !== null) { first = now; break; }
    if (Date.now() > deadline) break;
    await new Promise((r) => setTimeout(r, 200));
  }
  outcome.first = first;
  if (first) {
    await new Promise((r) => setTimeout(r, Number(seconds) * 1000));
    outcome.later = await read(tab);
    outcome.marks = outcome.later.marks;
    outcome.events = outcome.later.events;
  }
  await tab.screenshot({ path: screenshot });
  outcome.screenshot = screenshot;
} finally {
  await browser.close();
}
console.log(JSON.stringify(outcome));
