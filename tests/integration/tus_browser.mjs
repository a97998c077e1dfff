// web/upload.html in Debian's Chromium (playwright-core): uploads a file with tus-js-client
// to a direct-upload URL, reloads the page mid-upload, chooses the file again and waits
// until the upload finishes. One JSON report line on stdout.
//   node tests/integration/tus_browser.mjs <page-url-with-#tus=...> <file> [timeout-ms]
// Each PATCH is held back a little (route delay) so that the reload lands mid-upload
// however fast the loopback is.
import { chromium } from 'playwright-core';

const [url, file, timeoutArg] = process.argv.slice(2);
const timeoutMs = Number(timeoutArg || 60000);
const report = { done: false, reloadedAt: null, resumedFrom: null, uploadUrls: [], posts: 0, patches: 0,
                 storedKeys: [], console: [], failed: [], state: null };
let browser;
try {
  browser = await chromium.launch({ executablePath: process.env.CHROMIUM_PATH || '/usr/bin/chromium',
                                    headless: true, args: ['--no-sandbox'] });
  const context = await browser.newContext();
  const page = await context.newPage();
  page.on('console', (m) => report.console.push(`${m.type()}: ${m.text()}`.slice(0, 300)));
  page.on('pageerror', (e) => report.console.push(`pageerror: ${e.message}`.slice(0, 300)));
  page.on('requestfailed', (r) => report.failed.push(`${r.method()} ${r.url().split('?')[0]} ${r.failure()?.errorText}`));
  await page.route('**/v1/uploads/tus**', async (route) => {
    const m = route.request().method();
    if (m === 'POST') report.posts++;
    if (m === 'PATCH') {
      report.patches++;
      await new Promise((r) => setTimeout(r, 150));
    }
    await route.continue().catch(() => {});
  });
  const deadline = Date.now() + timeoutMs;
  const state = () => page.evaluate(() => window.rendUpload);
  await page.goto(url, { waitUntil: 'load' });
  await page.setInputFiles('#file', file);
  for (;;) {
    const s = await state();
    if (s.total && s.sent / s.total >= 0.3) break;
    if (s.state === 'done' || s.state === 'error' || Date.now() > deadline) throw new Error('no reload point: ' + JSON.stringify(s));
    await page.waitForTimeout(50);
  }
  report.reloadedAt = (await state()).sent;
  report.uploadUrls.push((await state()).url);
  await page.reload({ waitUntil: 'load' });
  report.storedKeys = await page.evaluate(() => Object.keys(localStorage).filter((k) => k.startsWith('tus::')));
  await page.setInputFiles('#file', file);
  for (;;) {
    const s = await state();
    report.state = s;
    if (s.state === 'done') { report.done = true; break; }
    if (s.state === 'error' || Date.now() > deadline) break;
    await page.waitForTimeout(100);
  }
  report.resumedFrom = report.state?.resumedFrom ?? null;
  report.uploadUrls.push(report.state?.url ?? null);
  report.bar = await page.evaluate(() => document.getElementById('bar').value);
} catch (e) {
  report.console.push('driver: ' + String(e).slice(0, 500));
} finally {
  if (browser) await browser.close();
  process.stdout.write(JSON.stringify(report) + '\n');
  process.exit(report.done ? 0 : 1);
}
