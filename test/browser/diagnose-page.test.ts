// The diagnose page and a result's page in real headless Chromium against a running service and loopback
// targets: submit a URL, read the verdict, the waterfall's lanes and its end mark; a permalink with scripts
// off; a service with API keys keeps reports from viewers without the key; no serious axe violations.
import { pino } from 'pino';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { loadMonitorConfig } from '../../src/monitor/config.js';
import { type RunningService, startService } from '../../src/service.js';
import {
  startHttpServer,
  startResettingServer,
  startSilentCloseServer,
  type TestServer,
} from '../support/http-servers.js';
import { startRedis, type TestRedis } from '../support/redis.js';
import { artifactPath, hasChromium, launchChromium, seriousViolations } from './support.js';

// Browser globals used inside page.evaluate callbacks: this file compiles without the DOM library.
interface BrowserElement {
  getAttribute(name: string): string | null;
}
declare const document: { documentElement: { scrollWidth: number; clientWidth: number } };
declare const window: { sessionStorage: { getItem(key: string): string | null } };

if (!hasChromium) console.warn('diagnose page browser tests skipped: /usr/bin/chromium is missing');

const apiKey = 'diagnose-page-key-0123456789abcdef';
let redis: TestRedis;
let open: RunningService;
let keyed: RunningService;
let browser: Browser;
const targets: TestServer[] = [];
let resetting: TestServer;
let silent: TestServer;
let healthy: TestServer;

function serviceOn(redisUrl: string, queueName: string, apiKeys?: string): Promise<RunningService> {
  return startService({
    config: loadConfig({
      PORT: '0',
      HOST: '127.0.0.1',
      REDIS_URL: redisUrl,
      QUEUE_NAME: queueName,
      PROBE_ALLOW_PRIVATE: 'true',
      PROBE_TIMEOUT_MS: '5000',
      RATE_LIMIT_POINTS: '100000',
      SHUTDOWN_DEADLINE_MS: '5000',
      ...(apiKeys ? { API_KEYS: apiKeys } : {}),
    }),
    roles: { api: true, worker: true },
    logger: pino({ level: 'silent' }),
    monitorConfig: loadMonitorConfig({}),
  });
}

/** A probe through the API, waited for: its id. */
async function probe(service: RunningService, url: string, headers: Record<string, string> = {}) {
  const response = await fetch(`${service.apiUrl}/probe?wait=30`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify({ url }),
  });
  expect(response.status).toBe(200);
  return ((await response.json()) as { id: string }).id;
}

/** The result page reloads itself while the probe runs: wait for the finished one (bounded). */
async function waitForResult(page: Page): Promise<void> {
  await page
    .locator('[data-status="completed"], [data-status="failed"]')
    .first()
    .waitFor({ timeout: 60_000 });
}

beforeAll(async () => {
  if (!hasChromium) return;
  redis = await startRedis();
  [resetting, silent, healthy] = await Promise.all([
    startResettingServer(),
    startSilentCloseServer(),
    startHttpServer((_request, response) => {
      response.writeHead(200, { 'content-type': 'text/plain' });
      response.end('fine\n');
    }),
  ]);
  targets.push(resetting, silent, healthy);
  [open, keyed] = await Promise.all([
    serviceOn(redis.url, 'diagnose-open'),
    serviceOn(redis.url, 'diagnose-keyed', apiKey),
  ]);
  browser = await launchChromium();
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await open?.close();
  await keyed?.close();
  for (const target of targets) await target.close();
  await redis?.dispose();
});

describe.skipIf(!hasChromium)('the diagnose page in Chromium', { timeout: 120_000 }, () => {
  it('submits a URL whose server resets the connection and shows the verdict, the lanes and the RST mark', async () => {
    const context = await browser.newContext({ viewport: { width: 390, height: 844 } });
    const page = await context.newPage();
    const errors: string[] = [];
    page.on('console', (message) => {
      if (message.type() === 'error') errors.push(message.text());
    });
    await page.goto(`${open.apiUrl}/`);
    await page.getByLabel('URL', { exact: true }).fill(resetting.url('/blocked-path'));
    await page.getByRole('button', { name: 'Diagnose' }).click();
    await page.waitForURL(/\/r\/[0-9a-f-]{36}$/, { timeout: 30_000 });
    await waitForResult(page);

    const verdict = page.locator('.verdict').first();
    expect(await verdict.getAttribute('data-cause')).not.toBe('ok');
    expect(await page.locator('.verdict-code').first().textContent()).toMatch(/reset/);
    expect(await page.locator('.verdict-summary').first().textContent()).not.toBe('');
    const sections = await page
      .locator('svg.waterfall g.row')
      .evaluateAll((rows: BrowserElement[]) => rows.map((row) => row.getAttribute('data-section')));
    expect(sections).toContain('tcp');
    expect(sections).toContain('http');
    expect(sections).toContain('differential');
    const marks = await page
      .locator('svg.waterfall g.row[data-section="http"] [data-end]')
      .evaluateAll((nodes: BrowserElement[]) => nodes.map((node) => node.getAttribute('data-end')));
    expect(marks).toEqual(['rst']);
    expect(await page.locator('svg.waterfall g.row[data-section="http"] .end title').textContent()).toMatch(
      /^RST after the request at \d+ ms$/,
    );
    expect(await page.locator('table.evidence tbody tr').count()).toBeGreaterThan(0);
    // Readable on a phone: the page itself never scrolls sideways (the waterfall scrolls in its own box).
    const widths = await page.evaluate(() => ({
      scroll: document.documentElement.scrollWidth,
      client: document.documentElement.clientWidth,
    }));
    expect(widths.scroll).toBeLessThanOrEqual(widths.client);
    await page.screenshot({ path: artifactPath('diagnose-reset-phone.png'), fullPage: true });
    expect(errors).toEqual([]);
    await context.close();
  });

  it('renders a permalink with JavaScript off: a FIN with no reply, marked where it happened', async () => {
    const id = await probe(open, silent.url('/'));
    const context = await browser.newContext({
      javaScriptEnabled: false,
      viewport: { width: 1280, height: 900 },
    });
    const page = await context.newPage();
    const response = await page.goto(`${open.apiUrl}/r/${id}`);
    expect(response?.status()).toBe(200);
    expect(response?.headers()['content-security-policy']).toContain("script-src 'self'");
    await waitForResult(page);
    expect(await page.locator('.verdict-cause').first().textContent()).not.toBe('');
    const marks = await page
      .locator('svg.waterfall g.row[data-section="http"] [data-end]')
      .evaluateAll((nodes: BrowserElement[]) => nodes.map((node) => node.getAttribute('data-end')));
    expect(marks).toEqual(['fin']);
    expect(await page.locator('table.phases tbody tr').count()).toBeGreaterThan(2);
    await page.screenshot({ path: artifactPath('diagnose-fin-nojs-desktop.png'), fullPage: true });
    await context.close();
  });

  it('shows a healthy site as working, and the problem the API answers for a refused URL', async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    await page.goto(`${open.apiUrl}/`);
    await page.getByLabel('URL', { exact: true }).fill(healthy.url('/'));
    await page.getByRole('button', { name: 'Diagnose' }).click();
    await page.waitForURL(/\/r\//, { timeout: 30_000 });
    await waitForResult(page);
    expect(await page.locator('.verdict').first().getAttribute('data-cause')).toBe('ok');
    expect(await page.locator('svg.waterfall [data-end]').count()).toBe(0);

    await page.goto(`${open.apiUrl}/`);
    await page.getByLabel('URL', { exact: true }).fill('http://127.0.0.1:0/');
    await page.locator('details.options summary').click();
    await page.getByLabel(/Resolvers/).fill('not-an-address');
    await page.getByRole('button', { name: 'Diagnose' }).click();
    await expect.poll(() => page.locator('#form-message.error').textContent()).toMatch(/resolvers/);
    expect(page.url()).toBe(`${open.apiUrl}/`);
    await context.close();
  });

  it('answers an unknown result id with a 404 page', async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    const response = await page.goto(`${open.apiUrl}/r/00000000-0000-4000-8000-000000000000`);
    expect(response?.status()).toBe(404);
    expect(await page.getByRole('heading', { level: 2 }).textContent()).toBe('No result with this id');
    await context.close();
  });

  it('with API keys: the result page carries no report, and shows it once the tab has the key', async () => {
    const id = await probe(keyed, resetting.url('/'), { authorization: `Bearer ${apiKey}` });
    const shell = await (await fetch(`${keyed.apiUrl}/r/${id}`)).text();
    expect(shell).not.toContain('svg');
    expect(shell).not.toContain(resetting.url('/'));
    expect((await fetch(`${keyed.apiUrl}/results/${id}`)).status).toBe(401);

    const context = await browser.newContext();
    const page = await context.newPage();
    await page.goto(`${keyed.apiUrl}/r/${id}`);
    await expect.poll(() => page.locator('#result-message').textContent()).toMatch(/needs the API key/);
    await page.locator('#key-form input[name="key"]').fill(apiKey);
    await page.getByRole('button', { name: 'Keep key' }).click();
    await waitForResult(page);
    expect(await page.locator('svg.waterfall [data-end="rst"]').count()).toBeGreaterThan(0);
    expect(await page.evaluate(() => window.sessionStorage.getItem('reach.apiKey'))).toBe(apiKey);
    await context.close();
  });

  it('has no serious accessibility violations on the form and on a result, in light and dark', async () => {
    const id = await probe(open, resetting.url('/'));
    for (const colorScheme of ['light', 'dark'] as const) {
      const context = await browser.newContext({ colorScheme });
      const page = await context.newPage();
      await page.goto(`${open.apiUrl}/`);
      expect(await seriousViolations(page), `form, ${colorScheme}`).toEqual([]);
      await page.goto(`${open.apiUrl}/r/${id}`);
      await waitForResult(page);
      expect(await seriousViolations(page), `result, ${colorScheme}`).toEqual([]);
      await page.screenshot({ path: artifactPath(`diagnose-result-${colorScheme}.png`), fullPage: true });
      await context.close();
    }
  });
});
