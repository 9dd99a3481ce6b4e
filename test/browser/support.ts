// What the browser suites share: Debian's Chromium driven by playwright-core, axe-core run inside a page, and
// where screenshots go.
import { existsSync } from 'node:fs';
import { mkdir, readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { type Browser, chromium, type Page } from 'playwright-core';
import { sendJson } from '../integration/monitor/support.js';

export const chromiumPath = '/usr/bin/chromium';
export const hasChromium = existsSync(chromiumPath);
export const artifacts = new URL('../../test-artifacts/', import.meta.url);

/** `executablePath`: a wrapper that runs Chromium elsewhere (inside a lab namespace), Debian's by default. */
export async function launchChromium(executablePath = chromiumPath): Promise<Browser> {
  await mkdir(artifacts, { recursive: true });
  return chromium.launch({
    executablePath,
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
}

export function artifactPath(name: string): string {
  return new URL(name, artifacts).pathname;
}

const axeSource = readFile(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');

export interface AxeViolation {
  id: string;
  impact: string | null;
  help: string;
  nodes: Array<{ target: unknown[] }>;
}

/**
 * axe-core's WCAG 2 A/AA rules on the page as it is now; the serious and critical violations. The engine is
 * evaluated through the DevTools protocol, which the page's CSP (scripts from self only) does not govern.
 */
export async function seriousViolations(page: Page): Promise<AxeViolation[]> {
  await page.evaluate(await axeSource);
  const violations = (await page.evaluate(
    `axe.run(document, { runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21aa'] } }).then((result) => result.violations.map((v) => ({ id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.map((n) => ({ target: n.target })) })))`,
  )) as AxeViolation[];
  return violations.filter((violation) => violation.impact === 'serious' || violation.impact === 'critical');
}

/** Waits for a monitor's run in the service's worker to leave it `wanted`, read through the API (300 reads at most). */
export async function waitForMonitorState(apiUrl: string, apiKey: string, id: string, wanted: string) {
  const read = () =>
    sendJson('GET', `${apiUrl}/monitors/${id}`, undefined, { authorization: `Bearer ${apiKey}` });
  for (let attempt = 0; attempt < 300; attempt += 1) {
    if ((await read()).body.state === wanted) return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`monitor ${id} never reached ${wanted}: ${JSON.stringify((await read()).body)}`);
}
