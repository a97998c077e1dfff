// web/upload.html in Debian's Chromium (playwright-core): chooses a small in-memory file
// with the given name and waits until the page's upload ends. One JSON report line:
// the page's final state and the Upload-Metadata its tus creation sent.
//   node tests/integration/upload_name.mjs <page-url-with-#tus=...> <file-name> [timeout-ms]
import { chromium } from 'playwright-core';

const [url, name, timeoutArg] = process.argv.slice(2);
const timeoutMs = Number(timeoutArg || 30000);
const report = { state: null, metadata: null, console: [] };
let browser;
try {
  browser = await chromium.launch({ executablePath: process.env.CHROMIUM_PATH || '/usr/bin/chromium',
                                    headless: true, args: ['--no-sandbox'] });
  const page = await browser.newPage();
  page.on('console', (m) => report.console.push(`${m.type()}: ${m.text()}`.slice(0, 300)));
  page.on('request', (r) => {
    if (r.method() === 'POST' && r.url().includes('/v1/uploads/tus')) report.metadata = r.headers()['upload-metadata'] ?? '';
  });
  await page.goto(url, { waitUntil: 'load' });
  await page.setInputFiles('#file', { name, mimeType: 'video/mp4', buffer: Buffer.from('not really a video\n'.repeat(50)) });
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    report.state = await page.evaluate(() => window.rendUpload);
    if (report.state.state === 'done' || report.state.state === 'error' || Date.now() > deadline) break;
    await page.waitForTimeout(50);
  }
} catch (e) {
  report.console.push('driver: ' + String(e).slice(0, 500));
} finally {
  if (browser) await browser.close();
  process.stdout.write(JSON.stringify(report) + '\n');
  process.exit(report.state?.state === 'done' ? 0 : 1);
}
