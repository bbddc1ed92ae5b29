// Takes the README's screenshot of the web console's fleet page from a running demo (npm run demo):
//   node scripts/console-screenshot.mjs URL TOKEN OUT.png
// Drives Debian's chromium headless through playwright-core (no browser download).
import process from 'node:process';
import { chromium } from 'playwright-core';

const [url, token, out] = process.argv.slice(2);
if (!url || !token || !out) {
  process.stderr.write('usage: node scripts/console-screenshot.mjs URL TOKEN OUT.png\n');
  process.exit(2);
}
const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--no-sandbox'] });
try {
  const ctx = await browser.newContext({ baseURL: url, ignoreHTTPSErrors: true, viewport: { width: 1100, height: 330 } });
  const page = await ctx.newPage();
  await page.goto('/');
  await page.fill('#token', token);
  await page.click('#login button[type=submit]');
  await page.waitForSelector('tr[data-site]');
  await page.waitForTimeout(1500);
  await page.screenshot({ path: out });
} finally {
  await browser.close();
}
