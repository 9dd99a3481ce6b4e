// `reach probe --file` with its probes on worker threads (--threads N), against real loopback servers.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  freeClosedPort,
  listenOnLoopback,
  startHttpServer,
  startResettingServer,
  type TestServer,
} from '../support/http-servers.js';
import { runCli, runCliWith } from '../support/process.js';

let healthy: TestServer;
let resetting: TestServer;
let silent: TestServer;
let silentConnections = 0;
let onSilentConnection: () => void = () => {};
let closedPort: number;
let directory: string;
const requestsByPath = new Map<string, number>();

beforeAll(async () => {
  healthy = await startHttpServer((request, response) => {
    const path = request.url ?? '';
    requestsByPath.set(path, (requestsByPath.get(path) ?? 0) + 1);
    response.end('ok');
  });
  resetting = await startResettingServer();
  // Accepts and never answers: a probe of it lasts until its deadline or until it is aborted.
  silent = await listenOnLoopback(
    net.createServer((socket) => {
      socket.on('error', () => {});
      silentConnections++;
      onSilentConnection();
    }),
  );
  closedPort = await freeClosedPort();
  directory = mkdtempSync(join(tmpdir(), 'reach-batch-threads-'));
});

afterAll(async () => {
  await Promise.all([healthy, resetting, silent].map((server) => server?.close()));
  rmSync(directory, { recursive: true, force: true });
});

function listFile(name: string, lines: string[]): string {
  const path = join(directory, name);
  writeFileSync(path, `${lines.join('\n')}\n`);
  return path;
}

const common = ['--timeout', '5000'];

function reportsOf(stdout: string): { url: string; verdict: { cause: string; code: string } }[] {
  return stdout
    .trim()
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => JSON.parse(line));
}

describe('reach probe --file --threads', () => {
  it('gives every URL of a long mixed list exactly one result, spread over three threads', async () => {
    const urls = Array.from({ length: 240 }, (_, index) =>
      index % 40 === 7
        ? `http://127.0.0.1:${closedPort}/closed-${index}`
        : index % 40 === 23
          ? resetting.url(`/reset-${index}`)
          : healthy.url(`/threads-${index}`),
    );
    const result = await runCli(
      [
        'probe',
        '--file',
        listFile('many.txt', urls),
        '--json',
        '--threads',
        '3',
        '--concurrency',
        '30',
        ...common,
      ],
      60_000,
    );
    expect(result.code).toBe(1);
    const reports = reportsOf(result.stdout);
    expect(reports.map((report) => report.url).sort()).toEqual(urls.map((url) => new URL(url).href).sort());
    const codes = new Map<string, number>();
    for (const report of reports) codes.set(report.verdict.code, (codes.get(report.verdict.code) ?? 0) + 1);
    expect(codes.get('tcp.refused')).toBe(6);
    expect(codes.get('http.ok')).toBe(228);
    // Each healthy URL was asked for once: no URL was handed to two threads.
    for (const url of urls.filter((each) => each.includes('/threads-')))
      expect(requestsByPath.get(new URL(url).pathname)).toBe(1);
  });

  it('exits 0 when every URL is ok, with a summary counting them all', async () => {
    const urls = Array.from({ length: 20 }, (_, index) => healthy.url(`/all-ok-${index}`));
    const result = await runCli([
      'probe',
      '--file',
      listFile('ok.txt', urls),
      '--threads',
      '2',
      '--concurrency',
      '4',
      ...common,
    ]);
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/^ok\s+http\.ok\s+20$/m);
    expect(result.stdout).toMatch(/^20 URLs probed$/m);
  });

  it('exits 1 when one URL of many is not ok, and names it under "not ok"', async () => {
    const urls = [
      ...Array.from({ length: 10 }, (_, index) => healthy.url(`/mostly-${index}`)),
      `http://127.0.0.1:${closedPort}/the-one`,
    ];
    const result = await runCli([
      'probe',
      '--file',
      listFile('one-bad.txt', urls),
      '--threads',
      '2',
      '--concurrency',
      '4',
      ...common,
    ]);
    expect(result.code).toBe(1);
    const notOk = result.stdout.split('not ok:\n')[1]?.trim().split('\n') ?? [];
    expect(notOk).toEqual([
      expect.stringMatching(new RegExp(`^http://127\\.0\\.0\\.1:${closedPort}/the-one `)),
    ]);
  });

  it('reports bad lines with their line numbers and probes the rest', async () => {
    const list = listFile('bad-lines.txt', [
      '# header comment',
      healthy.url('/bad-1'),
      'not a url',
      healthy.url('/bad-2'),
      '',
      'ftp://127.0.0.1/',
      healthy.url('/bad-3'),
    ]);
    const result = await runCli([
      'probe',
      '--file',
      list,
      '--json',
      '--threads',
      '2',
      '--concurrency',
      '2',
      ...common,
    ]);
    expect(result.stderr).toMatch(/^reach: line 3: url is not a valid URL: "not a url"; skipped$/m);
    expect(result.stderr).toMatch(/^reach: line 6: url must use http or https, not ftp; skipped$/m);
    expect(
      reportsOf(result.stdout)
        .map((report) => new URL(report.url).pathname)
        .sort(),
    ).toEqual(['/bad-1', '/bad-2', '/bad-3']);
    expect(result.code).toBe(1);
  });

  it('writes the CSV header once and one row per URL', async () => {
    const urls = Array.from({ length: 12 }, (_, index) => healthy.url(`/csv-${index}`));
    const result = await runCli([
      'probe',
      '--file',
      listFile('csv.txt', urls),
      '--csv',
      '--threads',
      '3',
      '--concurrency',
      '6',
      ...common,
    ]);
    expect(result.code).toBe(0);
    const [header, ...rows] = result.stdout.trim().split('\n');
    expect(header).toMatch(/^url,cause,code,/);
    expect(rows).toHaveLength(12);
    expect(rows.map((row) => row.split(',')[0]).sort()).toEqual(urls.sort());
  });

  it('probes a control once in all, not once per thread, and hands its result to every report', async () => {
    let controlRequests = 0;
    const control = await startHttpServer((_request, response) => {
      controlRequests++;
      response.end('ok');
    });
    try {
      const urls = Array.from({ length: 9 }, (_, index) => healthy.url(`/controlled-${index}`));
      const result = await runCli([
        'probe',
        '--file',
        listFile('controlled.txt', urls),
        '--json',
        '--threads',
        '3',
        '--concurrency',
        '3',
        '--control',
        control.url(),
        ...common,
      ]);
      expect(result.code).toBe(0);
      const reports = reportsOf(result.stdout) as unknown as { controls: unknown }[];
      expect(reports).toHaveLength(9);
      for (const report of reports)
        expect(report.controls).toMatchObject([{ url: control.url(), isReachable: true }]);
      expect(controlRequests).toBe(1);
    } finally {
      await control.close();
    }
  });

  it('stops on Ctrl-C: the threads abort their probes, the partial summary is printed, exit 130', async () => {
    const urls = [
      healthy.url('/before-stop'),
      ...Array.from({ length: 12 }, (_, index) => silent.url(`/held-${index}`)),
    ];
    const before = silentConnections;
    const inFlight = new Promise<void>((resolve) => {
      onSilentConnection = () => {
        if (silentConnections - before >= 4) resolve();
      };
    });
    // The probes' own deadline is two minutes and the test kills the process after 90 s (a worker's start
    // on a loaded machine takes seconds): exit 130 means the interrupt, not a deadline or the kill, ended it.
    const result = await runCliWith(
      [
        'probe',
        '--file',
        listFile('held.txt', urls),
        '--threads',
        '2',
        '--concurrency',
        '4',
        '--timeout',
        '120000',
      ],
      { interruptWhen: inFlight, timeoutMs: 90_000 },
    );
    expect(result.code).toBe(130);
    expect(result.stdout).toMatch(
      /^interrupted: 4 probes in flight were aborted, the rest of the list not read$/m,
    );
    expect(result.stdout).toMatch(/^1 URLs probed$/m);
    expect(silentConnections - before).toBe(4);
  }, 120_000);

  it('gives the same results with --threads 1 (the main thread alone)', async () => {
    const urls = [healthy.url('/main-1'), `http://127.0.0.1:${closedPort}/main-2`, healthy.url('/main-3')];
    const result = await runCli([
      'probe',
      '--file',
      listFile('main.txt', urls),
      '--json',
      '--threads',
      '1',
      ...common,
    ]);
    expect(result.code).toBe(1);
    const codes = reportsOf(result.stdout)
      .map((report) => `${new URL(report.url).pathname} ${report.verdict.code}`)
      .sort();
    expect(codes).toEqual(['/main-1 http.ok', '/main-2 tcp.refused', '/main-3 http.ok']);
  });

  it.each([
    [['--threads', '0'], /--threads must be a whole number from 1 to 64/],
    [['--threads', '65'], /--threads must be a whole number from 1 to 64/],
    [['--threads', 'two'], /--threads must be a whole number from 1 to 64/],
    [['--threads', '2', '--api', 'http://127.0.0.1:1'], /--threads is for a local batch/],
  ])('exits 2 with one line for %j', async (extra, message) => {
    const result = await runCli(['probe', '--file', listFile('opts.txt', [healthy.url('/')]), ...extra]);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(message);
    expect(result.stderr.trim().split('\n')).toHaveLength(1);
  });

  it('exits 2 for --threads without --file', async () => {
    const result = await runCli(['probe', healthy.url('/'), '--threads', '2']);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/--threads goes with --file/);
  });
});
