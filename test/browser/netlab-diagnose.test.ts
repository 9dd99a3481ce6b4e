// The diagnose page in real Chromium against real faults: the network lab (test/netlab/lab.sh) with reach serve
// in its prober namespace and Chromium started inside that namespace too (the service listens on the
// namespace's own loopback; nothing in the lab has a link to this host's network). A healthy site, an RST
// injected by the router's iptables rule, a path that drops every packet, a name that does not exist, and the
// same filtered URL from two vantages: what a person sees (the verdict's cause and summary, the waterfall's
// failing phase, the evidence rows) and no serious axe-core violations in each state.
import { existsSync, writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bringLabUp, findLabSkipReason, labNames, runLab } from '../netlab/lab-control.js';
import { cliPath, LabProcess } from '../netlab/lab-process.js';
import { artifactPath, chromiumPath, hasChromium, launchChromium, seriousViolations } from './support.js';

// Browser globals used inside page.evaluate callbacks: this file compiles without the DOM library.
interface BrowserElement {
  getAttribute(name: string): string | null;
}

const { labPrefix, labState, proberNamespace } = labNames('b');
const cleanNamespace = `${labPrefix}clean`;
const honestResolver = '198.51.100.53';
const control = 'http://control.site-b.test/';
/** lab.sh: the redis-server the vantage namespaces share, on a lab-only bridge. */
const sharedRedisAddress = '192.0.2.241:6379';
const serviceUrl = 'http://127.0.0.1:8080';

function findSkipReason(): string | undefined {
  if (!hasChromium) return `${chromiumPath} is missing`;
  return findLabSkipReason();
}
const skipReason = findSkipReason();
if (skipReason) console.warn(`network-lab diagnose page browser tests skipped: ${skipReason}`);

let browser: Browser;
let service: LabProcess;
let cleanVantage: LabProcess | undefined;
/** The environment the lab's reach processes share. */
let common: Record<string, string>;

/** The rows of the waterfall's sections and the end marks drawn on them, in order. */
async function marksOf(page: Page, section: string): Promise<string[]> {
  return page
    .locator(`svg.waterfall g.row[data-section="${section}"] [data-end]`)
    .evaluateAll((nodes: BrowserElement[]) => nodes.map((node) => node.getAttribute('data-end') ?? ''));
}

/** The evidence table as a person reads it: each row's layer and observation. */
async function evidenceRows(page: Page): Promise<Array<[string, string]>> {
  const layers = await page.locator('table.evidence tbody th').allTextContents();
  const observations = await page.locator('table.evidence tbody td').allTextContents();
  return layers.map((layer, index): [string, string] => [layer, observations[index] ?? '']);
}

/** Fills the form as a person would, submits it, and waits for the finished result's page (bounded). */
async function diagnose(page: Page, url: string, options: { resolvers?: string; vantages?: string } = {}) {
  await page.goto(`${serviceUrl}/`);
  await page.getByLabel('URL', { exact: true }).fill(url);
  if (options.resolvers || options.vantages) await page.locator('details.options summary').click();
  if (options.resolvers) await page.getByLabel(/Resolvers/).fill(options.resolvers);
  if (options.vantages) await page.getByLabel(/Vantages/).fill(options.vantages);
  await page.getByRole('button', { name: 'Diagnose' }).click();
  await page.waitForURL(/\/r\/[0-9a-f-]{36}$/, { timeout: 30_000 });
  await page
    .locator('[data-status="completed"], [data-status="failed"]')
    .first()
    .waitFor({ timeout: 60_000 });
}

async function verdictOf(page: Page) {
  const verdict = page.locator('.verdict').first();
  return {
    cause: await verdict.getAttribute('data-cause'),
    causeWords: await verdict.locator('.verdict-cause').textContent(),
    code: await verdict.locator('.verdict-code').textContent(),
    summary: (await verdict.locator('.verdict-summary').textContent()) ?? '',
  };
}

async function expectAccessible(page: Page, state: string): Promise<void> {
  expect(await seriousViolations(page), state).toEqual([]);
}

describe.skipIf(skipReason !== undefined)(
  'the diagnose page against the network lab',
  { timeout: 90_000 },
  () => {
    let page: Page;
    const consoleErrors: string[] = [];

    beforeAll(async () => {
      if (!existsSync(cliPath)) throw new Error(`${cliPath} is missing: run npm run build first`);
      bringLabUp(labPrefix);
      const password = (await readFile(`${labState}/redis/password`, 'utf8')).trim();
      common = {
        REDIS_URL: `redis://:${password}@${sharedRedisAddress}`,
        PROBE_ALLOW_PRIVATE: 'true',
        PROBE_RESOLVERS: honestResolver,
        PROBE_CONTROLS: control,
        PROBE_TIMEOUT_MS: '3000',
        VANTAGE_HEARTBEAT_SECONDS: '1',
      };
      service = new LabProcess('reach serve (vantage local)', proberNamespace, ['serve'], {
        ...common,
        HOST: '127.0.0.1',
        PORT: '8080',
      });
      await service.start(['vantage advertised', 'API listening']);
      // Chromium runs inside the prober namespace: playwright-core talks to it over its pipe, which `ip netns
      // exec` keeps (it execs Chromium in place).
      const wrapper = `${labState}/chromium-in-prober`;
      writeFileSync(wrapper, `#!/bin/sh\nexec ip netns exec ${proberNamespace} ${chromiumPath} "$@"\n`, {
        mode: 0o755,
      });
      browser = await launchChromium(wrapper);
      page = await (await browser.newContext({ viewport: { width: 1024, height: 900 } })).newPage();
      page.on('console', (message) => {
        if (message.type() === 'error') consoleErrors.push(message.text());
      });
    }, 150_000);

    afterAll(async () => {
      await browser?.close();
      await Promise.all([service?.close(), cleanVantage?.close()]);
      runLab('down', labPrefix);
    }, 90_000);

    it('shows a healthy site as working: no end mark anywhere, the 200 in the evidence', async () => {
      await diagnose(page, 'http://www.site-a.test/');
      expect(await verdictOf(page)).toEqual({
        cause: 'ok',
        causeWords: 'Working normally',
        code: 'http.ok',
        summary: 'The site is reachable and answers 200.',
      });
      expect(await page.locator('svg.waterfall [data-end]').count()).toBe(0);
      expect(await page.locator('svg.waterfall g.row[data-section="control"]').count()).toBe(1);
      const evidence = await evidenceRows(page);
      expect(evidence).toEqual([
        ['http', expect.stringMatching(/^GET http:\/\/www\.site-a\.test:80\/ via 203\.0\.113\.10: 200/)],
      ]);
      await expectAccessible(page, 'healthy site');
      await page.screenshot({ path: artifactPath('netlab-diagnose-ok.png'), fullPage: true });
    });

    it('shows an RST the router injects after the request: the HTTP row ends with RST, the differential answers', async () => {
      await diagnose(page, 'http://blocked.site-a.test/', { resolvers: honestResolver });
      const verdict = await verdictOf(page);
      expect(verdict).toMatchObject({
        cause: 'filtered_path',
        causeWords: 'Something on the network path is blocking it',
        code: 'filter.keyword_reset',
      });
      expect(verdict.summary).toMatch(
        /^The connection is reset when our request names blocked\.site-a\.test/,
      );
      expect(await marksOf(page, 'http')).toEqual(['rst']);
      expect(await page.locator('svg.waterfall g.row[data-section="http"] .end title').textContent()).toMatch(
        /^RST after the request at \d+ ms$/,
      );
      // The neutral request was answered (no mark); the original again was reset.
      expect(await marksOf(page, 'differential')).toEqual(['rst']);
      const evidence = await evidenceRows(page);
      expect(evidence[0]).toEqual([
        'http',
        expect.stringMatching(/via 203\.0\.113\.10: reset \(ECONNRESET\) after our request went out/),
      ]);
      expect(evidence.filter(([layer]) => layer === 'differential').map(([, text]) => text)).toEqual(
        expect.arrayContaining([expect.stringMatching(/neutral Host .*: HTTP 404$/)]),
      );
      await expectAccessible(page, 'reset by a middlebox');
      await page.screenshot({ path: artifactPath('netlab-diagnose-keyword-reset.png'), fullPage: true });
    });

    it('shows a path that drops every packet: the TCP row ends in a timeout while the control answers', async () => {
      await diagnose(page, 'http://blackhole.site-a.test/');
      const verdict = await verdictOf(page);
      expect(verdict).toMatchObject({ cause: 'filtered_path', code: 'filter.blackhole' });
      expect(verdict.summary).toMatch(
        /^Connections to blackhole\.site-a\.test are silently dropped while other sites work/,
      );
      expect(await marksOf(page, 'tcp')).toEqual(['timeout']);
      expect(await page.locator('svg.waterfall g.row[data-section="tcp"] > title').textContent()).toMatch(
        /^TCP 203\.0\.113\.66:80: timeout/,
      );
      expect(await page.locator('svg.waterfall g.row[data-section="http"]').count()).toBe(0);
      expect(await marksOf(page, 'control')).toEqual([]);
      expect(await evidenceRows(page)).toEqual([
        ['tcp', expect.stringMatching(/^203\.0\.113\.66:80 timeout/)],
        ['control', `${control} answered`],
      ]);
      await expectAccessible(page, 'dropped path');
      await page.screenshot({ path: artifactPath('netlab-diagnose-blackhole.png'), fullPage: true });
    });

    it('shows a name that does not exist: the DNS rows end with NXDOMAIN and nothing connects', async () => {
      await diagnose(page, 'http://nosuchname.site-a.test/');
      const verdict = await verdictOf(page);
      expect(verdict).toMatchObject({
        cause: 'dns_failure',
        causeWords: 'Its name does not resolve (DNS failure)',
        code: 'dns.nxdomain',
      });
      expect(verdict.summary).toMatch(/^The name nosuchname\.site-a\.test does not exist \(NXDOMAIN\)/);
      expect(await marksOf(page, 'dns')).toEqual(['rcode', 'rcode']);
      expect(
        await page.locator('svg.waterfall g.row[data-section="dns"] .end text').allTextContents(),
      ).toEqual(['NXDOMAIN', 'NXDOMAIN']);
      expect(await page.locator('svg.waterfall g.row[data-section="tcp"]').count()).toBe(0);
      const evidence = await evidenceRows(page);
      expect(evidence.filter(([layer]) => layer === 'dns').map(([, text]) => text)).toEqual([
        expect.stringMatching(/^198\.51\.100\.53:53 A nosuchname\.site-a\.test → NXDOMAIN/),
        expect.stringMatching(/^198\.51\.100\.53:53 AAAA nosuchname\.site-a\.test → NXDOMAIN/),
      ]);
      await expectAccessible(page, 'NXDOMAIN');
      await page.screenshot({ path: artifactPath('netlab-diagnose-nxdomain.png'), fullPage: true });
    });

    // Last: a vantage worker also takes probes from the shared queue, so the single-vantage probes above run
    // before it starts (from the clean path, the blackhole would answer).
    it('compares vantages side by side: reset behind the filter, answered on the clean path, localized', async () => {
      // A second vantage on the lab's clean path, which the router's filter rules do not touch.
      cleanVantage = new LabProcess(
        'reach worker --vantage clean',
        cleanNamespace,
        ['worker', '--vantage', 'clean'],
        common,
      );
      await cleanVantage.start(['vantage advertised']);
      await diagnose(page, 'http://blocked.site-a.test/', { vantages: 'local, clean' });
      const verdict = await verdictOf(page);
      expect(verdict).toMatchObject({ cause: 'filtered_path', code: 'filter.keyword_reset' });
      expect(verdict.summary).toMatch(/^Reachable from clean; from local: /);
      const lanes = page.locator('.lanes .lane');
      expect(
        await lanes
          .evaluateAll((nodes: BrowserElement[]) => nodes.map((node) => node.getAttribute('data-lane')))
          .then((names) => names.sort()),
      ).toEqual(['clean', 'local']);
      const laneCause = (name: string) =>
        page.locator(`.lane[data-lane="${name}"] .verdict`).getAttribute('data-cause');
      expect(await laneCause('clean')).toBe('ok');
      expect(await laneCause('local')).toBe('filtered_path');
      expect(
        await page
          .locator('.lane[data-lane="local"] svg.waterfall g.row[data-section="http"] [data-end]')
          .getAttribute('data-end'),
      ).toBe('rst');
      expect(await page.locator('.lane[data-lane="clean"] svg.waterfall [data-end]').count()).toBe(0);
      await expectAccessible(page, 'two vantages');
      await page.screenshot({ path: artifactPath('netlab-diagnose-vantages.png'), fullPage: true });
      expect(consoleErrors).toEqual([]);
    });
  },
);
