// `reach probe --file` and its controls: a failed control probed again at most every --control-refresh MS
// (default 30 s), and the controls trusted as the URLs are (--ca).
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPki, type TestPki } from '../support/certificates.js';
import { type DnsTestServer, startDnsServer } from '../support/dns-server.js';
import { listenOnLoopback, startHttpServer, type TestServer } from '../support/http-servers.js';
import { runCli } from '../support/process.js';
import { startHttpsServer } from '../support/tls-servers.js';

let slow: TestServer;
let resettingControl: TestServer;
let controlConnections = 0;
let pki: TestPki;
let dns: DnsTestServer;
let directory: string;

beforeAll(async () => {
  // Each URL answers after 300 ms: a list of four, one at a time, outlasts a short refresh interval.
  slow = await startHttpServer((_request, response) => {
    const timer = setTimeout(() => response.end('ok'), 300);
    response.on('close', () => clearTimeout(timer));
  });
  resettingControl = await listenOnLoopback(
    net.createServer((socket) => {
      controlConnections += 1;
      socket.on('error', () => undefined);
      socket.once('data', () => socket.resetAndDestroy());
    }),
  );
  pki = createPki();
  dns = await startDnsServer({ 'control.site-a.test': { a: ['127.0.0.1'] } });
  directory = mkdtempSync(join(tmpdir(), 'reach-batch-controls-'));
});

afterAll(async () => {
  await Promise.all([slow, resettingControl, dns].map((server) => server?.close()));
  pki?.remove();
  rmSync(directory, { recursive: true, force: true });
});

function listOf(name: string, count: number): string {
  const path = join(directory, name);
  writeFileSync(
    path,
    `${Array.from({ length: count }, (_, index) => slow.url(`/${name}-${index}`)).join('\n')}\n`,
  );
  return path;
}

/** Runs a list of `count` URLs one at a time with the resetting control; answers the control's connections. */
async function controlConnectionsFor(count: number, extra: string[] = []): Promise<number> {
  const before = controlConnections;
  const result = await runCli([
    'probe',
    '--file',
    listOf(`list-${count}-${extra.join('')}`, count),
    '--json',
    '--concurrency',
    '1',
    '--threads',
    '1',
    '--control',
    resettingControl.url('/'),
    '--timeout',
    '5000',
    ...extra,
  ]);
  expect(result.code, result.stderr).toBe(0);
  const reports = result.stdout
    .trim()
    .split('\n')
    .map((line) => JSON.parse(line));
  expect(reports).toHaveLength(count);
  for (const report of reports)
    expect(report.controls).toEqual([expect.objectContaining({ isReachable: false })]);
  return controlConnections - before;
}

describe('reach probe --file with a failed control', () => {
  it('probes it once per run by default (30 s), and again after --control-refresh MS', async () => {
    // One probe of a resetting control may connect more than once (the engine asks again to tell a filter from
    // the server): a list of one URL measures one probe.
    const oneProbe = await controlConnectionsFor(1);
    expect(oneProbe).toBeGreaterThan(0);
    // Four URLs of 300 ms each, well within 30 s: the failed control is not probed again.
    expect(await controlConnectionsFor(4)).toBe(oneProbe);
    // Every URL after the first starts 300 ms or more after the controls were probed: past 100 ms, a refresh.
    expect(await controlConnectionsFor(4, ['--control-refresh', '100'])).toBeGreaterThanOrEqual(2 * oneProbe);
  });

  it('refuses a bad --control-refresh, and one without --file or with --api, with exit 2 and one line', async () => {
    for (const [args, pattern] of [
      [
        ['--file', listOf('bad-refresh', 1), '--control-refresh', 'soon'],
        /--control-refresh must be a whole/,
      ],
      [
        ['--file', listOf('negative-refresh', 1), '--control-refresh', '86400001'],
        /--control-refresh must be .* to 86400000/,
      ],
      [[slow.url('/one'), '--control-refresh', '100'], /--control-refresh goes with --file LIST/],
      [
        ['--file', listOf('api-refresh', 1), '--api', 'http://127.0.0.1:1', '--control-refresh', '100'],
        /--control-refresh is for a local batch/,
      ],
    ] as const) {
      const result = await runCli(['probe', ...args]);
      expect(result.code, args.join(' ')).toBe(2);
      expect(result.stderr).toMatch(pattern);
      expect(result.stdout).toBe('');
    }
  });
});

describe('reach probe --file --ca', () => {
  it('trusts the controls as it trusts the URLs: a control of the private CA is trusted with --ca, not without', async () => {
    const control = await startHttpsServer(pki.issue(['control.site-a.test']));
    const controlUrl = control.url('/', 'control.site-a.test');
    try {
      const run = (extra: string[]) =>
        runCli([
          'probe',
          '--file',
          listOf('trusted', 1),
          '--json',
          '--control',
          controlUrl,
          '--resolver',
          dns.resolver,
          '--timeout',
          '5000',
          ...extra,
        ]);
      /** The control's trust and verdict as the batch's report carries them. */
      const controlSeen = (stdout: string) => {
        const [seen] = JSON.parse(stdout).controls;
        return { url: seen.url, isTrusted: seen.target.tls.isTrusted, cause: seen.verdict.cause };
      };
      const withCa = await run(['--ca', pki.caPath]);
      expect(controlSeen(withCa.stdout)).toEqual({ url: controlUrl, isTrusted: true, cause: 'ok' });
      const withoutCa = await run([]);
      expect(controlSeen(withoutCa.stdout)).toEqual({
        url: controlUrl,
        isTrusted: false,
        cause: 'server_fault',
      });
    } finally {
      await control.close();
    }
  });
});
