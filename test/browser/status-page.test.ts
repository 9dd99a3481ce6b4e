// The status page in real headless Chromium against a running service: what a person sees, on a phone and a desk.
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type BrowserContext, chromium, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningService } from '../../src/service.js';
import {
  type SwitchableSite,
  sendJson,
  startSwitchableSite,
  startTestService,
} from '../integration/monitor/support.js';
import { startRedis, type TestRedis } from '../support/redis.js';
import { waitForMonitorState } from './support.js';

// Browser globals used inside page.evaluate callbacks: this file compiles without the DOM library.
interface BrowserElement {
  parentElement: BrowserElement | null;
  textContent: string | null;
  querySelector(selector: string): BrowserElement | null;
}
declare const document: { documentElement: { scrollWidth: number; clientWidth: number } };
declare function getComputedStyle(element: BrowserElement): { color: string; backgroundColor: string };

const chromiumPath = '/usr/bin/chromium';
const hasChromium = existsSync(chromiumPath);
if (!hasChromium)
  console.warn(`status page browser tests skipped: ${chromiumPath} is missing (apt-get install chromium)`);

const apiKey = 'browser-test-key-0123456789abcdef';
const artifacts = new URL('../../test-artifacts/', import.meta.url);

let redis: TestRedis;
let service: RunningService;
let browser: BrowserContext;
let userDataDir: string;
const sites: SwitchableSite[] = [];

async function createMonitor(body: Record<string, unknown>): Promise<string> {
  const response = await sendJson(
    'POST',
    `${service.apiUrl}/monitors`,
    { intervalSeconds: 60, ...body },
    {
      authorization: `Bearer ${apiKey}`,
    },
  );
  expect(response.status).toBe(201);
  return response.body.id;
}

const stateOf = (id: string, wanted: string) => waitForMonitorState(`${service.apiUrl}`, apiKey, id, wanted);

/** WCAG relative-luminance contrast ratio of two rgb() colours. */
function contrast(foreground: string, background: string): number {
  const luminance = (color: string) => {
    const [r, g, b] = (color.match(/\d+(\.\d+)?/g) ?? ['0', '0', '0']).slice(0, 3).map((part) => {
      const channel = Number(part) / 255;
      return channel <= 0.03928 ? channel / 12.92 : ((channel + 0.055) / 1.055) ** 2.4;
    });
    return 0.2126 * (r ?? 0) + 0.7152 * (g ?? 0) + 0.0722 * (b ?? 0);
  };
  const [light, dark] = [luminance(foreground), luminance(background)].sort((a, b) => b - a);
  return ((light ?? 0) + 0.05) / ((dark ?? 0) + 0.05);
}

describe.skipIf(!hasChromium)('the status page in Chromium', () => {
  beforeAll(async () => {
    redis = await startRedis();
    service = await startTestService({
      redisUrl: redis.url,
      apiKey,
      monitorEnv: { STATUS_CACHE_SECONDS: '0', STATUS_PAGE_TITLE: 'Acme status' },
    });
    const [healthy, broken, slow] = await Promise.all([
      startSwitchableSite(),
      startSwitchableSite(),
      startSwitchableSite(),
    ]);
    sites.push(healthy, broken, slow);
    broken.mode = 'failing';
    slow.mode = 'slow';
    // One after another: the page lists monitors in the order they were created.
    const website = await createMonitor({ name: 'Website', url: healthy.url });
    const checkout = await createMonitor({ name: 'Checkout API', url: broken.url, confirmations: 1 });
    const search = await createMonitor({
      name: 'Search',
      url: slow.url,
      confirmations: 1,
      slowFirstByteMs: 200,
    });
    await Promise.all([stateOf(website, 'up'), stateOf(checkout, 'down'), stateOf(search, 'degraded')]);
    userDataDir = await mkdtemp(join(tmpdir(), 'reach-chromium-'));
    browser = await chromium.launchPersistentContext(userDataDir, {
      executablePath: chromiumPath,
      deviceScaleFactor: 1,
      args: [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
      ],
    });
    await mkdir(artifacts, { recursive: true });
  });

  afterAll(async () => {
    await browser?.close();
    await service?.close();
    for (const site of sites) await site.close();
    await redis?.dispose();
    if (userDataDir) await rm(userDataDir, { recursive: true, force: true });
  });

  async function openPage(viewport: { width: number; height: number }): Promise<Page> {
    const page = await browser.newPage();
    await page.setViewportSize(viewport);
    const response = await page.goto(`${service.apiUrl}/status?refresh=on`);
    expect(response?.status()).toBe(200);
    return page;
  }

  it('shows a phone reader the overall status, each monitor with its state, and the open incident in plain words', async () => {
    const page = await openPage({ width: 390, height: 844 });
    expect(await page.title()).toBe('Acme status: Partial System Outage');
    await expect(page.getByRole('heading', { level: 1 }).textContent()).resolves.toBe('Acme status');
    expect((await page.getByRole('status').textContent())?.trim()).toBe('Partial System Outage');

    const monitors = page.locator('section[aria-labelledby="monitors"] li.monitor');
    expect(await monitors.count()).toBe(3);
    const states = await monitors.evaluateAll((items: BrowserElement[]) =>
      items.map((item) => [item.querySelector('h3')?.textContent, item.querySelector('.badge')?.textContent]),
    );
    expect(states).toEqual([
      ['Website', 'State: Operational'],
      ['Checkout API', 'State: Down'],
      ['Search', 'State: Degraded'],
    ]);
    const incidents = page.locator('section[aria-labelledby="open-incidents"] li.incident');
    expect(await incidents.count()).toBe(1);
    // What a reader sees: the heading, and the cause in a line of its own (the smallest element holding the text).
    const incident = incidents.first();
    expect(await incident.getByRole('heading', { level: 3, name: 'Checkout API: down' }).isVisible()).toBe(
      true,
    );
    expect(await incident.getByText('Cause: The server is down or failing.').isVisible()).toBe(true);
    expect(await page.locator('li.monitor').first().locator('li.day').count()).toBe(90);

    // Readable on a phone: nothing wider than the screen.
    const widths = await page.evaluate(() => ({
      scroll: document.documentElement.scrollWidth,
      client: document.documentElement.clientWidth,
    }));
    expect(widths.scroll).toBeLessThanOrEqual(widths.client);
    await page.screenshot({ path: new URL('status-page-phone.png', artifacts).pathname, fullPage: true });
    await page.close();
  });

  it('has landmarks, a refresh, and text contrast of at least 4.5:1', async () => {
    const page = await openPage({ width: 1280, height: 900 });
    expect(await page.getByRole('banner').count()).toBe(1);
    expect(await page.getByRole('main').count()).toBe(1);
    expect(await page.getByRole('contentinfo').count()).toBe(1);
    expect(await page.locator('html').getAttribute('lang')).toBe('en');
    expect(await page.locator('meta[http-equiv="refresh"]').getAttribute('content')).toBe('60');
    const pairs = await page
      .locator('.badge, .overall, h1, h3, .cause, .summary, dt, dd, footer p')
      .evaluateAll((elements: BrowserElement[]) =>
        elements.map((element) => {
          let background = 'rgba(0, 0, 0, 0)';
          for (let node: BrowserElement | null = element; node; node = node.parentElement) {
            const color = getComputedStyle(node).backgroundColor;
            if (color !== 'rgba(0, 0, 0, 0)' && color !== 'transparent') {
              background = color;
              break;
            }
          }
          return {
            text: element.textContent?.trim().slice(0, 30),
            color: getComputedStyle(element).color,
            background,
          };
        }),
      );
    expect(pairs.length).toBeGreaterThan(10);
    const low = pairs.filter(
      (pair) =>
        contrast(
          pair.color,
          pair.background === 'rgba(0, 0, 0, 0)' ? 'rgb(255, 255, 255)' : pair.background,
        ) < 4.5,
    );
    expect(low).toEqual([]);
    await page.screenshot({ path: new URL('status-page-desktop.png', artifacts).pathname, fullPage: true });
    await page.close();
  });
});
