// The status page at 10,000 monitors in real headless Chromium: the summary first, pages and a filter, under
// 1 MB of HTML; no serious axe violations; the incident feed and a badge parse as XML in the browser.
import { once } from 'node:events';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import express from 'express';
import { Redis } from 'ioredis';
import { pino } from 'pino';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadMonitorConfig } from '../../src/monitor/config.js';
import { createStatusRouter } from '../../src/monitor/http/routes.js';
import { MonitorStore } from '../../src/monitor/store.js';
import { problemMiddleware } from '../../src/requests/problems.js';
import { monitorRecord } from '../integration/monitor/support.js';
import { startRedis, type TestRedis } from '../support/redis.js';
import { artifactPath, hasChromium, launchChromium, seriousViolations } from './support.js';

declare const DOMParser: new () => {
  parseFromString(
    text: string,
    type: string,
  ): {
    documentElement: { localName: string; namespaceURI: string | null };
    getElementsByTagName(name: string): { length: number };
    getElementsByTagNameNS(namespace: string, name: string): { length: number };
  };
};

if (!hasChromium) console.warn('status page at scale browser tests skipped: /usr/bin/chromium is missing');

const monitorCount = 10_000;
/** Every 100th monitor is down with an open incident: 100 down. */
const isDown = (index: number) => index % 100 === 7;
const idOf = (index: number) => `00000000-0000-4000-8000-${String(index).padStart(12, '0')}`;
let redis: TestRedis;
let client: Redis;
let server: Server;
let baseUrl: string;
let browser: Browser;

beforeAll(async () => {
  if (!hasChromium) return;
  redis = await startRedis();
  client = new Redis(redis.url, { maxRetriesPerRequest: 1 });
  const store = new MonitorStore(client, {
    keyPrefix: 'status-scale-test:monitor',
    historyMaxAgeSeconds: 86_400,
    historyMaxEntries: 100,
  });
  const nowMs = Date.now();
  // Written in batches through the store; most monitors stay pending (no runs), the down ones get a status.
  for (let start = 0; start < monitorCount; start += 500) {
    await Promise.all(
      Array.from({ length: Math.min(500, monitorCount - start) }, async (_, offset) => {
        const index = start + offset;
        await store.putMonitor(
          monitorRecord(idOf(index), {
            name: `Site ${index}`,
            url: `https://site-${index}.example.test/`,
            group: `Region ${String(index % 20).padStart(2, '0')}`,
            createdAt: new Date(Date.parse('2026-01-01T00:00:00Z') + index * 1000).toISOString(),
          }),
        );
        if (!isDown(index)) return;
        await store.openIncident({
          id: `incident-${index}`,
          monitorId: idOf(index),
          monitorName: `Site ${index}`,
          openedAtMs: nowMs - 3_600_000,
          cause: 'server_fault',
          code: 'http.server_error',
          summary: 'The server answered 500.',
        });
        await store.casStatus(idOf(index), 0, {
          version: 1,
          state: 'down',
          sinceMs: nowMs - 3_600_000,
          consecutiveFailures: 2,
          lastStartedAtMs: nowMs - 60_000,
          openIncidentId: `incident-${index}`,
        });
      }),
    );
  }
  const app = express();
  app.set('etag', false);
  app.use(
    createStatusRouter({
      store,
      config: loadMonitorConfig({ STATUS_CACHE_SECONDS: '300', STATUS_PAGE_TITLE: 'Scale status' }),
    }),
  );
  app.use(problemMiddleware(pino({ level: 'silent' })));
  server = app.listen(0, '127.0.0.1');
  await once(server, 'listening');
  baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  browser = await launchChromium();
}, 240_000);

afterAll(async () => {
  await browser?.close();
  server?.closeAllConnections();
  await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
  client?.disconnect();
  await redis?.dispose();
});

describe.skipIf(!hasChromium)('the status page at 10,000 monitors', { timeout: 120_000 }, () => {
  it('sends under 1 MB of HTML that says first what is down, then pages through the rest', async () => {
    const html = await fetch(`${baseUrl}/status`, { headers: { 'accept-encoding': 'identity' } });
    expect(Buffer.byteLength(await html.text())).toBeLessThan(1_000_000);

    const context = await browser.newContext({ viewport: { width: 390, height: 844 } });
    const page = await context.newPage();
    await page.goto(`${baseUrl}/status`);
    expect((await page.getByRole('status').textContent())?.trim()).toBe('Major Service Outage');
    // Each figure a visible box: its label (dt) and, beside it, the number (dd).
    const figure = (label: string) =>
      page.locator('.totals div').filter({ has: page.getByRole('term').getByText(label, { exact: true }) });
    expect(
      await figure('Monitors').getByRole('definition').getByText('10000', { exact: true }).isVisible(),
    ).toBe(true);
    expect(await figure('Down').getByRole('definition').getByText('100', { exact: true }).isVisible()).toBe(
      true,
    );
    expect(await page.locator('section[aria-labelledby="not-operational"] li').count()).toBe(100);
    expect(await page.locator('section[aria-labelledby="open-incidents"] li.incident').count()).toBe(50);
    expect(await page.locator('section[aria-labelledby="groups"] tbody tr').count()).toBe(20);
    expect(await page.locator('li.monitor').count()).toBe(50);
    const pager = page.getByRole('navigation', { name: 'Pages of monitors' });
    expect(await pager.getByText('Page 1 of 200', { exact: true }).isVisible()).toBe(true);
    await page.screenshot({ path: artifactPath('status-scale-phone.png'), fullPage: false });

    await page.getByRole('link', { name: 'Next page' }).click();
    await page.waitForURL(/page=2/);
    expect(await pager.getByText('Page 2 of 200', { exact: true }).isVisible()).toBe(true);
    const firstMonitor = page.locator('li.monitor').first();
    expect(await firstMonitor.getByRole('heading', { level: 3, name: /^Site 50\b/ }).isVisible()).toBe(true);

    await page.locator('select[name="group"]').selectOption('Region 07');
    await page.locator('select[name="state"]').selectOption('down');
    await page.getByRole('button', { name: 'Show' }).click();
    await page.waitForURL(/state=down/);
    const monitorsSection = page.locator('section[aria-labelledby="monitors"]');
    expect(
      await monitorsSection
        .getByText('Showing 1–50 of 100 matching (of 10000).', { exact: true })
        .isVisible(),
    ).toBe(true);
    const names = await page.locator('li.monitor h3').allInnerTexts();
    expect(names.every((name) => name.includes('Region 07'))).toBe(true);
    expect(
      await page
        .locator('li.monitor .badge')
        .first()
        .filter({ hasText: /\bDown$/ })
        .isVisible(),
    ).toBe(true);
    await context.close();
  });

  it('has no serious accessibility violations, in light and dark', async () => {
    for (const colorScheme of ['light', 'dark'] as const) {
      const context = await browser.newContext({ colorScheme });
      const page = await context.newPage();
      await page.goto(`${baseUrl}/status`);
      expect(await seriousViolations(page), colorScheme).toEqual([]);
      await page.screenshot({ path: artifactPath(`status-scale-${colorScheme}.png`), fullPage: false });
      await context.close();
    }
  });

  it('serves an incident feed and badges that parse as Atom and SVG in the browser', async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    await page.goto(`${baseUrl}/status`);
    const [feed, badge] = await Promise.all([
      fetch(`${baseUrl}/history.atom`).then((response) => response.text()),
      fetch(`${baseUrl}/badge/${idOf(7)}/status.svg`).then((response) => response.text()),
    ]);
    const parsed = await page.evaluate(
      ({ feedText, badgeText }) => {
        const atom = new DOMParser().parseFromString(feedText, 'application/xml');
        const svg = new DOMParser().parseFromString(badgeText, 'image/svg+xml');
        return {
          feedRoot: `${atom.documentElement.namespaceURI} ${atom.documentElement.localName}`,
          feedErrors: atom.getElementsByTagName('parsererror').length,
          entries: atom.getElementsByTagNameNS('http://www.w3.org/2005/Atom', 'entry').length,
          svgRoot: `${svg.documentElement.namespaceURI} ${svg.documentElement.localName}`,
          svgErrors: svg.getElementsByTagName('parsererror').length,
        };
      },
      { feedText: feed, badgeText: badge },
    );
    expect(parsed).toEqual({
      feedRoot: 'http://www.w3.org/2005/Atom feed',
      feedErrors: 0,
      entries: 100,
      svgRoot: 'http://www.w3.org/2000/svg svg',
      svgErrors: 0,
    });
    expect(badge).toContain('aria-label="status: down"');
    await context.close();
  });
});
