// Opens the readiness operator page (GET /internal/readiness) in Debian's Chromium
// (playwright-core) with an operator key and reports, as one JSON line on stdout, what
// a person would see: status, edge rows, chart bars, failures, history rows, and any
// console error (a CSP violation included). Takes a screenshot.
//   OPERATOR_KEY=... SCREENSHOT=out.png node tests/integration/readiness_page.mjs <url>
import { chromium } from 'playwright-core';

const [url] = process.argv.slice(2);
const report = { url, console: [] };
let browser;
try {
  browser = await chromium.launch({ executablePath: process.env.CHROMIUM_PATH || '/usr/bin/chromium', headless: true,
                                    args: ['--no-sandbox'] });
  const context = await browser.newContext({ extraHTTPHeaders: { Authorization: `Bearer ${process.env.OPERATOR_KEY}` },
                                             viewport: { width: 1200, height: 900 } });
  const page = await context.newPage();
  page.on('console', (m) => report.console.push(`${m.type()}: ${m.text()}`));
  page.on('pageerror', (e) => report.console.push(`pageerror: ${e.message}`));
  const res = await page.goto(url, { waitUntil: 'load' });
  report.httpStatus = res.status();
  Object.assign(report, await page.evaluate(() => {
    const q = (s) => Array.from(document.querySelectorAll(s));
    const bg = (el) => el && getComputedStyle(el).backgroundColor;
    const status = document.querySelector('#summary .badge');
    return {
      title: document.title,
      status: status?.textContent,
      statusColor: bg(status),                       // the inline <style> applied (CSP allowed it)
      edges: q('#edges tbody tr').map((r) => ({ id: r.dataset.edge, status: r.querySelector('.badge')?.textContent })),
      chartRows: q('#timing-chart g.timing').map((g) => ({ name: g.dataset.name, cls: g.getAttribute('class'),
                                                          barWidth: Number(g.querySelector('rect.bar')?.getAttribute('width') || 0) })),
      chartBox: (() => { const r = document.querySelector('#timing-chart')?.getBoundingClientRect(); return r && { w: r.width, h: r.height }; })(),
      failures: q('#failures li').map((li) => li.textContent),
      history: q('#history tbody tr').length,
      text: document.body.innerText,
    };
  }));
  if (process.env.SCREENSHOT) await page.screenshot({ path: process.env.SCREENSHOT, fullPage: true });
} catch (e) {
  report.error = String(e && e.stack || e);
} finally {
  if (browser) await browser.close();
}
console.log(JSON.stringify(report));
