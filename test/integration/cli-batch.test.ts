import { execFile, execFileSync } from 'node:child_process';
import { closeSync, constants, mkdtempSync, openSync, rmSync, writeFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type DnsTestServer, startDnsServer } from '../support/dns-server.js';
import {
  freeClosedPort,
  listenOnLoopback,
  startHttpServer,
  startResettingServer,
  startSilentCloseServer,
  type TestServer,
} from '../support/http-servers.js';
import { cliPath, runCli, runCliWith } from '../support/process.js';

let healthy: TestServer;
let resetting: TestServer;
let silentClose: TestServer;
let silent: TestServer;
let silentConnections = 0;
let onSilentConnection: () => void = () => {};
let closedPort: number;
let dns: DnsTestServer;
let directory: string;

beforeAll(async () => {
  healthy = await startHttpServer((_request, response) => response.end('ok'));
  resetting = await startResettingServer();
  silentClose = await startSilentCloseServer();
  // Accepts and never answers: a probe of it lasts until its deadline or until it is aborted.
  const silentServer = net.createServer((socket) => {
    socket.on('error', () => {});
    silentConnections++;
    onSilentConnection();
  });
  silent = await listenOnLoopback(silentServer);
  closedPort = await freeClosedPort();
  dns = await startDnsServer({ 'www.site-a.test': { a: ['127.0.0.1'] } });
  directory = mkdtempSync(join(tmpdir(), 'reach-batch-'));
});

afterAll(async () => {
  await Promise.all([healthy, resetting, silentClose, silent, dns].map((server) => server?.close()));
  rmSync(directory, { recursive: true, force: true });
});

function listFile(name: string, lines: string[]): string {
  const path = join(directory, name);
  writeFileSync(path, `${lines.join('\n')}\n`);
  return path;
}

/** One target per way a site fails, and one that works. */
function mixedList(): string[] {
  return [
    '# a list mixing every failure',
    healthy.url('/', 'www.site-a.test'),
    '',
    `http://127.0.0.1:${closedPort}/`,
    resetting.url('/'),
    silentClose.url('/'),
    `http://${'missing.site-a.test'}:${healthy.port}/`,
  ];
}

const common = () => ['--resolver', dns.resolver, '--timeout', '5000'];

describe('reach probe --file', () => {
  it('prints a summary by cause and code for a mixed list, then the non-ok URLs, and exits 1', async () => {
    const result = await runCli(['probe', '--file', listFile('mixed.txt', mixedList()), ...common()]);
    expect(result.code).toBe(1);
    expect(result.stdout).toMatch(/^ok\s+http\.ok\s+1$/m);
    expect(result.stdout).toMatch(/^server_fault\s+tcp\.refused\s+1$/m);
    expect(result.stdout).toMatch(/^dns_failure\s+dns\.\S+\s+1$/m);
    expect(result.stdout).toMatch(/^5 URLs probed$/m);
    const notOk = result.stdout.split('not ok:\n')[1]?.trim().split('\n') ?? [];
    expect(notOk).toHaveLength(4);
    expect(notOk.join('\n')).not.toContain(healthy.url('/', 'www.site-a.test'));
  });

  it('exits 0 when every URL is ok', async () => {
    const list = listFile('healthy.txt', [healthy.url('/', 'www.site-a.test'), healthy.url('/two')]);
    const result = await runCli(['probe', '--file', list, ...common()]);
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/^ok\s+http\.ok\s+2$/m);
    expect(result.stdout).not.toContain('not ok:');
  });

  it('writes one parseable report per URL line with --json', async () => {
    const lines = mixedList();
    const result = await runCli(['probe', '--file', listFile('json.txt', lines), '--json', ...common()]);
    expect(result.code).toBe(1);
    const reports = result.stdout
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line));
    const urls = lines.filter((line) => line.startsWith('http'));
    expect(reports.map((report) => report.url).sort()).toEqual(urls.map((url) => new URL(url).href).sort());
    const codeOf = (url: string) => reports.find((report) => report.url === url)?.verdict.code;
    expect(codeOf(`http://127.0.0.1:${closedPort}/`)).toBe('tcp.refused');
    expect(reports.every((report) => report.schemaVersion === 1)).toBe(true);
  });

  it('writes a CSV header and one row per URL with --csv', async () => {
    const result = await runCli([
      'probe',
      '--file',
      listFile('csv-out.txt', mixedList()),
      '--csv',
      ...common(),
    ]);
    expect(result.code).toBe(1);
    const [header, ...rows] = result.stdout.trim().split('\n');
    expect(header).toBe('url,cause,code,confidence,summary,dns_ms,connect_ms,tls_ms,first_byte_ms,total_ms');
    expect(rows).toHaveLength(5);
    expect(rows.find((row) => row.startsWith(`http://127.0.0.1:${closedPort}/,`))).toMatch(
      /^[^,]+,server_fault,tcp\.refused,\d\.\d\d,/,
    );
  });

  it('reports a bad line with its line number on stderr, skips it and probes the rest', async () => {
    const list = listFile('bad.txt', [healthy.url('/'), 'ftp://127.0.0.1/', healthy.url('/again')]);
    const result = await runCli(['probe', '--file', list, '--json', ...common()]);
    expect(result.stderr).toMatch(/^reach: line 2: url must use http or https, not ftp; skipped$/m);
    expect(result.stdout.trim().split('\n')).toHaveLength(2);
    // A skipped line means not every line of the list was found ok.
    expect(result.code).toBe(1);
  });

  it('exits 2 with --strict on a bad line before probing anything', async () => {
    let requests = 0;
    const counting = await startHttpServer((_request, response) => {
      requests++;
      response.end('ok');
    });
    try {
      const strictList = listFile('strict2.txt', [counting.url('/'), 'not a url']);
      const result = await runCli(['probe', '--file', strictList, '--strict', ...common()]);
      expect(result.code).toBe(2);
      expect(result.stderr.trim()).toBe('reach: line 2: url is not a valid URL: "not a url"');
      expect(result.stdout).toBe('');
      expect(requests).toBe(0);
    } finally {
      await counting.close();
    }
  });

  it('probes a control once per run, not once per URL, and hands its result to every report', async () => {
    let controlRequests = 0;
    const control = await startHttpServer((_request, response) => {
      controlRequests++;
      response.end('ok');
    });
    try {
      const list = listFile('controlled.txt', [healthy.url('/c1'), healthy.url('/c2'), healthy.url('/c3')]);
      const result = await runCli([
        'probe',
        '--file',
        list,
        '--json',
        '--control',
        control.url(),
        ...common(),
      ]);
      expect(result.code).toBe(0);
      const reports = result.stdout
        .trim()
        .split('\n')
        .map((line) => JSON.parse(line));
      expect(reports).toHaveLength(3);
      for (const report of reports)
        expect(report.controls).toMatchObject([{ url: control.url(), isReachable: true }]);
      expect(controlRequests).toBe(1);
    } finally {
      await control.close();
    }
  });

  it('reads a CSV list by its url column', async () => {
    const list = listFile('sites.csv', [
      'name,url,owner',
      `"Site, A",${healthy.url('/a')},ops`,
      `refused,http://127.0.0.1:${closedPort}/,"the ""b"" team"`,
    ]);
    const result = await runCli(['probe', '--file', list, '--json', ...common()]);
    expect(result.code).toBe(1);
    const reports = result.stdout
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line));
    expect(reports.map((report) => report.verdict.code).sort()).toEqual(['http.ok', 'tcp.refused']);
  });

  it('reads the list from standard input with -', async () => {
    const result = await runCliWith(['probe', '--file', '-', '--json', ...common()], {
      stdin: `${healthy.url('/stdin-1')}\n# comment\n${healthy.url('/stdin-2')}\n`,
    });
    expect(result.code).toBe(0);
    const urls = result.stdout
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line).url);
    expect(urls.sort()).toEqual([healthy.url('/stdin-1'), healthy.url('/stdin-2')]);
  });

  it('skips a line of megabytes on standard input as too long, naming it, and probes the lines around it', async () => {
    // A list with no line break in it (a binary or a dump sent by mistake) is read a chunk at a time and dropped,
    // not held: 300 MB of one line used to exhaust the heap.
    const result = await runCliWith(['probe', '--file', '-', '--json', ...common()], {
      stdin: `${healthy.url('/before')}\n${'x'.repeat(4 * 1024 * 1024)}\r\n${healthy.url('/after')}`,
    });
    expect(result.stderr.trim()).toBe('reach: line 2: line longer than 65536 characters; skipped');
    const urls = result.stdout
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line).url);
    expect(urls.sort()).toEqual([healthy.url('/after'), healthy.url('/before')]);
    expect(result.code).toBe(1);
  });

  it.each([1, 2])(
    'under a low ulimit -n probes fewer at once and every URL again, rather than blame the sites (--threads %i)',
    async (threads) => {
      // 300 probes at once need more sockets than 100 open files allow. Before, the probes past the limit were
      // reported as server_fault / tcp.error (EMFILE), and a probing thread that could not load its modules
      // ended the run as an internal error.
      const urls = Array.from({ length: 600 }, (_, index) => healthy.url(`/limited-${index}`));
      const list = listFile('limited.txt', urls);
      const args = ['probe', '--file', list, '--json', '--concurrency', '300', '--threads', String(threads)];
      const result = await new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
        execFile(
          '/bin/sh',
          ['-c', 'ulimit -n 100 && exec "$@"', 'sh', process.execPath, cliPath, ...args, ...common()],
          { timeout: 60_000, maxBuffer: 64 * 1024 * 1024 },
          (error, stdout, stderr) =>
            resolve({
              code: error ? (typeof error.code === 'number' ? error.code : null) : 0,
              stdout,
              stderr,
            }),
        );
      });
      const reports = result.stdout
        .trim()
        .split('\n')
        .map((line) => JSON.parse(line));
      expect(reports.map((report) => report.url).sort()).toEqual([...urls].sort());
      expect(reports.filter((report) => report.verdict.code !== 'http.ok')).toEqual([]);
      expect(result.code).toBe(0);
      const warnings = result.stderr.split('\n').filter((line) => line.includes('ran out of open files'));
      expect(warnings).toEqual([
        'reach: this machine ran out of open files with 300 probes at once (ulimit -n); probing fewer at once, and those URLs again',
      ]);
    },
  );

  it.each([
    [['--concurrency', '0'], /--concurrency must be a whole number from 1 to 10000/],
    [['--concurrency', '10001'], /--concurrency must be a whole number from 1 to 10000/],
    [['--json', '--csv'], /choose one/],
    [['--timeout', '5'], /timeoutMs must be between/],
  ])('exits 2 with one line for bad batch options %j', async (extra, message) => {
    const result = await runCli(['probe', '--file', listFile('opts.txt', [healthy.url('/')]), ...extra]);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(message);
    expect(result.stderr.trim().split('\n')).toHaveLength(1);
  });

  it('exits 2 for a list file that does not exist, and for --csv without --file', async () => {
    const missing = await runCli(['probe', '--file', join(directory, 'nope.txt')]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/cannot read --file .*ENOENT/);
    const stray = await runCli(['probe', healthy.url('/'), '--csv']);
    expect(stray.code).toBe(2);
    expect(stray.stderr).toMatch(/--csv goes with --file/);
  });

  it('exits 2 for a directory given as the list', async () => {
    const result = await runCli(['probe', '--file', directory]);
    expect(result.code).toBe(2);
    expect(result.stderr.trim()).toBe(`reach: --file ${directory} is a directory`);
  });

  it('reads a named pipe (as a shell gives for <(command)) once, like standard input', async () => {
    const pipe = join(directory, 'list.fifo');
    execFileSync('mkfifo', [pipe]);
    // Opening a pipe for writing waits for its reader: the CLI's open lets this write go through.
    const writing = writeFile(pipe, `${healthy.url('/piped-1')}\n${healthy.url('/piped-2')}\n`);
    const result = await runCli(['probe', '--file', pipe, '--json', ...common()]);
    // Had the CLI not opened the pipe, the writer would wait on it for good: a reader of our own releases it.
    closeSync(openSync(pipe, constants.O_RDONLY | constants.O_NONBLOCK));
    await writing.catch(() => {});
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    const urls = result.stdout
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line).url);
    expect(urls.sort()).toEqual([healthy.url('/piped-1'), healthy.url('/piped-2')]);
  });

  it('stops on Ctrl-C: aborts the probes in flight, prints the partial summary and exits 130', async () => {
    const lines = Array.from({ length: 8 }, (_, index) => silent.url(`/slow-${index}`));
    const before = silentConnections;
    const inFlight = new Promise<void>((resolve) => {
      onSilentConnection = () => {
        if (silentConnections - before >= 2) resolve();
      };
    });
    const result = await runCliWith(
      ['probe', '--file', listFile('slow.txt', lines), '--concurrency', '2', '--timeout', '60000'],
      { interruptWhen: inFlight, timeoutMs: 20_000 },
    );
    expect(result.code).toBe(130);
    expect(result.stdout).toMatch(/^0 URLs probed$/m);
    expect(result.stdout).toMatch(/^interrupted: 2 probes in flight were aborted/m);
    expect(silentConnections - before).toBeLessThan(lines.length);
  });

  it('prints fewer NDJSON results than lines when interrupted, and exits 130', async () => {
    const lines = [
      healthy.url('/first'),
      ...Array.from({ length: 6 }, (_, index) => silent.url(`/j${index}`)),
    ];
    const before = silentConnections;
    const inFlight = new Promise<void>((resolve) => {
      onSilentConnection = () => {
        if (silentConnections - before >= 2) resolve();
      };
    });
    const result = await runCliWith(
      [
        'probe',
        '--file',
        listFile('slow-json.txt', lines),
        '--json',
        '--concurrency',
        '2',
        '--timeout',
        '60000',
      ],
      { interruptWhen: inFlight, timeoutMs: 20_000 },
    );
    expect(result.code).toBe(130);
    const printed = result.stdout.trim() === '' ? [] : result.stdout.trim().split('\n');
    expect(printed.length).toBeLessThan(lines.length);
    for (const line of printed) expect(JSON.parse(line).verdict.code).toBe('http.ok');
    expect(result.stderr).toMatch(/interrupted after \d+ URLs; 2 probes in flight aborted/);
  });
});
