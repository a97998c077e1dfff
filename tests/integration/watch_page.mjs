// Loads a Rend watch page in Debian's Chromium (playwright-core) and reports, as one JSON
// line on stdout, whether hls.js got the video playing.
//   node tests/integration/watch_page.mjs <watch-url> [timeout-ms]
// Exit code 0 when the video played past MIN_PLAY_SECONDS (default 1), 1 otherwise.
// Optional env: GEO_HEADERS (JSON object) added to the player bootstrap request only,
// as a CDN would; SCREENSHOT (PNG path) taken at the end.
import { chromium } from 'playwright-core';

const [url, timeoutArg] = process.argv.slice(2);
const timeoutMs = Number(timeoutArg || 30000);
const executablePath = process.env.CHROMIUM_PATH || '/usr/bin/chromium';

const minPlay = Number(process.env.MIN_PLAY_SECONDS || 1);
const geoHeaders = process.env.GEO_HEADERS ? JSON.parse(process.env.GEO_HEADERS) : null;
const report = { url, played: false, currentTime: 0, status: null, statuses: [], console: [], failedRequests: [],
                 edgeResponses: [], segmentEdgeIds: [], requests: [] };
let browser;
try {
  browser = await chromium.launch({
    executablePath,
    headless: true,
    args: ['--no-sandbox', '--autoplay-policy=no-user-gesture-required', '--mute-audio'],
  });
  const page = await browser.newPage();
  page.on('console', (m) => report.console.push(`${m.type()}: ${m.text()}`));
  page.on('pageerror', (e) => report.console.push(`pageerror: ${e.message}`));
  page.on('request', (r) => { if (report.requests.length < 200) report.requests.push(r.url()); });
  page.on('requestfailed', (r) => report.failedRequests.push(`${r.url()} ${r.failure()?.errorText}`));
  page.on('response', (r) => {
    if (!r.url().includes('/v/')) return;
    report.edgeResponses.push(`${r.status()} ${r.url()}`);
    if (/\.ts(\?|$)/.test(r.url())) report.segmentEdgeIds.push(r.headers()['x-rend-edge-id'] || '');
  });
  if (geoHeaders) {
    await page.route('**/api/player/**', (route) =>
      route.continue({ headers: { ...route.request().headers(), ...geoHeaders } }));
  }
  await page.goto(url, { waitUntil: 'load' });
  const deadline = Date.now() + timeoutMs;
  // Wait until hls.js has media to play, start it (muted), and wait for the clock to move.
  while (Date.now() < deadline) {
    const s = await page.evaluate(() => {
      const v = document.querySelector('video');
      return { readyState: v.readyState, t: v.currentTime, paused: v.paused, src: v.currentSrc,
               status: document.getElementById('status')?.textContent };
    });
    report.status = s.status;
    if (report.statuses[report.statuses.length - 1] !== s.status) report.statuses.push(s.status);
    report.currentTime = s.t;
    if (s.t > minPlay) { report.played = true; break; }
    // The page shows fatal errors to the user: no point waiting any longer.
    if (/^(Playback error|Could not load|Processing failed|This browser cannot)/.test(s.status || '')) break;
    if (s.readyState >= 2 && s.paused) {
      await page.evaluate(() => { const v = document.querySelector('video'); v.muted = true; v.play().catch(() => {}); });
    }
    await page.waitForTimeout(250);
  }
  // HOVER_PREVIEW=1: once the page has read the storyboard, hover the timeline at 3/4
  // and report the preview tile it shows (test_storyboard.py).
  if (process.env.HOVER_PREVIEW) {
    const tl = page.locator('#timeline[data-cues]');
    await tl.waitFor({ state: 'attached', timeout: Math.max(1000, deadline - Date.now()) });
    const box = await page.locator('#timeline').boundingBox();
    await page.mouse.move(box.x + box.width * 0.75, box.y + box.height / 2);
    await page.locator('#preview').waitFor({ state: 'visible', timeout: 5000 });
    report.hover = await page.evaluate(() => {
      const img = document.getElementById('preview-img');
      const m = /url\("?([^")]+)"?\)/.exec(img.style.backgroundImage);
      return { cues: Number(document.getElementById('timeline').dataset.cues),
               visible: !document.getElementById('preview').hidden,
               sheet: m ? m[1] : null, position: img.style.backgroundPosition,
               width: img.style.width, height: img.style.height };
    });
    // The sheet itself, loaded by the browser with the playback cookie.
    const sheetDeadline = Date.now() + 5000;
    while (Date.now() < sheetDeadline && !report.edgeResponses.some((l) => l.includes('/storyboard/sheet_')))
      await page.waitForTimeout(50);
    report.hover.sheetResponses = report.edgeResponses.filter((l) => l.includes('/storyboard/'));
  }
  if (process.env.SCREENSHOT) await page.screenshot({ path: process.env.SCREENSHOT });
} catch (e) {
  report.error = String(e && e.stack || e);
} finally {
  if (browser) await browser.close();
}
report.edgeResponses = report.edgeResponses.slice(0, 20);
console.log(JSON.stringify(report));
process.exit(report.played ? 0 : 1);
