// The status page keeping itself current in real Chromium: a monitor that fails while the page is open shows
// up without a reload (the reader keeps what they typed), the overall state is announced through the
// role="status" banner, and the updates stop while paused (remembered) or while the tab is hidden. Chromium's
// timers run on Playwright's clock, so "every 5 seconds" is stepped, not waited for.
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningService } from '../../src/service.js';
import {
  type SwitchableSite,
  sendJson,
  startSwitchableSite,
  startTestService,
} from '../integration/monitor/support.js';
import { startRedis, type TestRedis } from '../support/redis.js';
import {
  artifactPath,
  hasChromium,
  launchChromium,
  seriousViolations,
  waitForMonitorState,
} from './support.js';

// Browser globals used inside page.evaluate and init scripts: this file compiles without the DOM library.
declare const window: { __fetches: number; __setHidden(isHidden: boolean): void };

if (!hasChromium) console.warn('status page live-update browser tests skipped: /usr/bin/chromium is missing');

const apiKey = 'status-live-key-0123456789abcdef';
const liveSeconds = 5;
let redis: TestRedis;
let service: RunningService;
let browser: Browser;
let healthy: SwitchableSite;
let broken: SwitchableSite;

async function createMonitor(name: string, url: string): Promise<string> {
  const response = await sendJson(
    'POST',
    `${service.apiUrl}/monitors`,
    { name, url, intervalSeconds: 3600, confirmations: 1 },
    { authorization: `Bearer ${apiKey}` },
  );
  expect(response.status).toBe(201);
  return response.body.id;
}

const stateOf = (id: string, wanted: string) => waitForMonitorState(`${service.apiUrl}`, apiKey, id, wanted);

/**
 * A page whose fetch calls are counted and whose visibility the test sets (document.hidden and the
 * visibilitychange event, as a browser hiding the tab gives them), on Playwright's clock.
 */
async function openStatusPage(): Promise<Page> {
  const page = await (await browser.newContext()).newPage();
  await page.addInitScript(() => {
    const counted = window as unknown as {
      __fetches: number;
      __setHidden(isHidden: boolean): void;
      fetch: (...args: unknown[]) => Promise<unknown>;
    };
    const original = counted.fetch.bind(counted);
    counted.__fetches = 0;
    counted.fetch = (...args: unknown[]) => {
      counted.__fetches += 1;
      return original(...args);
    };
    let isHidden = false;
    const documentPrototype = (globalThis as unknown as { Document: { prototype: object } }).Document
      .prototype;
    Object.defineProperty(documentPrototype, 'hidden', { configurable: true, get: () => isHidden });
    counted.__setHidden = (value: boolean) => {
      isHidden = value;
      const doc = (globalThis as unknown as { document: { dispatchEvent(event: unknown): void } }).document;
      doc.dispatchEvent(new Event('visibilitychange'));
    };
  });
  // Time stands still unless the test runs it forward.
  const startMs = Date.now();
  await page.clock.install({ time: startMs });
  await page.clock.pauseAt(startMs + 1000);
  const response = await page.goto(`${service.apiUrl}/status`);
  expect(response?.status()).toBe(200);
  expect(response?.headers()['content-security-policy']).toContain("script-src 'self'");
  return page;
}

const fetchesOf = (page: Page) => page.evaluate(() => window.__fetches);

beforeAll(async () => {
  if (!hasChromium) return;
  redis = await startRedis();
  service = await startTestService({
    redisUrl: redis.url,
    apiKey,
    monitorEnv: {
      STATUS_CACHE_SECONDS: '0',
      STATUS_REFRESH_SECONDS: String(liveSeconds),
      STATUS_PAGE_TITLE: 'Acme status',
    },
  });
  [healthy, broken] = await Promise.all([startSwitchableSite(), startSwitchableSite()]);
  broken.mode = 'failing';
  await stateOf(await createMonitor('Website', healthy.url), 'up');
  browser = await launchChromium();
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await service?.close();
  await healthy?.close();
  await broken?.close();
  await redis?.dispose();
});

describe.skipIf(!hasChromium)(
  'the status page keeping itself current in Chromium',
  { timeout: 60_000 },
  () => {
    it('shows a monitor that fails while the page is open without reloading it, and keeps what the reader typed', async () => {
      const page = await openStatusPage();
      let navigations = 0;
      page.on('framenavigated', (frame) => {
        if (frame === page.mainFrame()) navigations += 1;
      });
      expect((await page.getByRole('status').textContent())?.trim()).toBe('All Systems Operational');
      expect(await page.locator('#live-state').textContent()).toBe(
        `This page keeps itself up to date every ${liveSeconds} seconds while it is open.`,
      );
      expect(await page.locator('#reload-link').isHidden()).toBe(true);
      expect(await page.locator('meta[http-equiv="refresh"]').count()).toBe(0);
      await page.getByLabel('Name or URL').fill('Pay');

      await stateOf(await createMonitor('Payments', broken.url), 'down');
      await page.clock.runFor(liveSeconds * 1000);
      await expect
        .poll(async () => (await page.getByRole('status').textContent())?.trim(), { timeout: 15_000 })
        .toBe('Partial System Outage');
      expect(await page.title()).toBe('Acme status: Partial System Outage');
      expect(await page.locator('section[aria-labelledby="not-operational"] li').allTextContents()).toEqual([
        expect.stringContaining('Payments'),
      ]);
      expect(await page.locator('section[aria-labelledby="open-incidents"] li.incident').count()).toBe(1);
      expect(await page.locator('li.monitor h3').allTextContents()).toEqual(['Website', 'Payments']);
      expect(await page.locator('.totals div').nth(1).textContent()).toBe('Down1');
      expect(navigations).toBe(0);
      expect(await page.getByLabel('Name or URL').inputValue()).toBe('Pay');
      // axe-core waits on timers: let time run again.
      await page.clock.resume();
      expect(await seriousViolations(page)).toEqual([]);
      await page.screenshot({ path: artifactPath('status-live-updated.png'), fullPage: true });
      await page.context().close();
    });

    it('stops while paused, remembers it on the next visit, and waits while the tab is hidden', async () => {
      const page = await openStatusPage();
      const toggle = page.getByRole('button', { name: 'Pause live updates' });
      expect(await toggle.getAttribute('aria-pressed')).toBe('false');
      await toggle.click();
      expect(await toggle.getAttribute('aria-pressed')).toBe('true');
      expect(await page.locator('#live-state').textContent()).toBe('Live updates are paused.');
      await page.clock.runFor(4 * liveSeconds * 1000);
      expect(await fetchesOf(page)).toBe(0);

      // The next visit (a new page of this browser) starts paused.
      const nextVisit = await page.context().newPage();
      await nextVisit.goto(`${service.apiUrl}/status`);
      expect(
        await nextVisit.getByRole('button', { name: 'Pause live updates' }).getAttribute('aria-pressed'),
      ).toBe('true');
      await nextVisit.close();
      // Resuming checks at once.
      await toggle.click();
      expect(await toggle.getAttribute('aria-pressed')).toBe('false');
      await expect.poll(() => fetchesOf(page)).toBe(1);

      await page.evaluate(() => window.__setHidden(true));
      await page.clock.runFor(4 * liveSeconds * 1000);
      expect(await fetchesOf(page)).toBe(1);
      // Shown again after more than an interval: it catches up at once.
      await page.evaluate(() => window.__setHidden(false));
      await expect.poll(() => fetchesOf(page)).toBe(2);
      // axe-core waits on timers: let time run again.
      await page.clock.resume();
      expect(await seriousViolations(page)).toEqual([]);
      await page.context().close();
    });
  },
);
