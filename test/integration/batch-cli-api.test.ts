// `reach probe --file LIST --api URL`: the list as one batch of a running service, written back as a local run
// writes it; the batch's controls probed once, not once per URL.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHttpServer, type TestServer } from '../support/http-servers.js';
import { runCli, runCliClosingOutput, runCliWith } from '../support/process.js';
import { startRedis, type TestRedis } from '../support/redis.js';
import {
  finishedBatch,
  type MixedTargets,
  mixedTimeoutMs,
  onlyLoopbackOne,
  startMixedTargets,
} from './service/batch-support.js';
import { eventually, getJson, startTestService } from './service/support.js';

let redis: TestRedis;
let service: Awaited<ReturnType<typeof startTestService>>;
let targets: MixedTargets;
let directory: string;

beforeAll(async () => {
  redis = await startRedis();
  targets = await startMixedTargets();
  service = await startTestService({
    redisUrl: redis.url,
    policy: onlyLoopbackOne,
    env: { QUEUE_NAME: 'cli-batches', BATCH_WORKER_CONCURRENCY: '8' },
  });
  directory = mkdtempSync(join(tmpdir(), 'reach-batch-api-'));
});

afterAll(async () => {
  await service?.close();
  await targets?.close();
  await redis?.dispose();
  rmSync(directory, { recursive: true, force: true });
});

function listFile(name: string, lines: string[]): string {
  const path = join(directory, name);
  writeFileSync(path, `${lines.join('\n')}\n`);
  return path;
}

const common = () => [
  '--api',
  service.apiUrl,
  '--resolver',
  targets.resolver,
  '--timeout',
  String(mixedTimeoutMs),
];

describe('reach probe --file --api', () => {
  it('writes one report per URL with --json, the refused URL as its item, and exits 1', async () => {
    const list = listFile('mixed.txt', ['# mixed', ...targets.list.map((target) => target.url)]);
    const result = await runCli(['probe', '--file', list, '--json', ...common()], 60_000);
    expect(result.code).toBe(1);
    const lines = result.stdout
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line));
    expect(lines).toHaveLength(targets.list.length);
    for (const target of targets.list) {
      const line = lines.find((candidate) => candidate.url === new URL(target.url).href);
      if (target.cause === 'refused') expect(line, target.url).toMatchObject({ status: 'refused' });
      else if (target.isTimed) expect(line, target.url).toMatchObject({ schemaVersion: 1 });
      else {
        expect(line, target.url).toMatchObject({ schemaVersion: 1, verdict: { cause: target.cause } });
        if (target.code) expect(line.verdict.code, target.url).toMatch(target.code);
      }
    }
  });

  it('probes each URL from the named vantages with --vantages and writes their comparison per URL', async () => {
    const healthy = targets.list[0]?.url as string;
    const list = listFile('vantages.txt', [healthy, `${healthy}again`]);
    const result = await runCli(
      ['probe', '--file', list, '--json', '--vantages', 'local', ...common()],
      60_000,
    );
    expect(result.code, result.stderr).toBe(0);
    const lines = result.stdout
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line));
    expect(lines).toHaveLength(2);
    for (const line of lines) {
      expect(line.vantages).toEqual([expect.objectContaining({ name: 'local', status: 'completed' })]);
      expect(line.verdict).toMatchObject({ cause: 'ok' });
    }
  }, 90_000);

  it('writes each vantage’s cause in a last CSV column with --vantages, and sums up by the compared verdict', async () => {
    const healthy = targets.list[0]?.url as string;
    const list = listFile('vantages-csv.txt', [healthy, `${healthy}csv`]);
    const csv = await runCli(['probe', '--file', list, '--csv', '--vantages', 'local', ...common()], 60_000);
    expect(csv.code, csv.stderr).toBe(0);
    const [header, ...rows] = csv.stdout.trim().split('\n');
    expect(header).toBe(
      'url,cause,code,confidence,summary,dns_ms,connect_ms,tls_ms,first_byte_ms,total_ms,vantages',
    );
    expect(rows).toHaveLength(2);
    for (const row of rows) expect(row).toMatch(/^[^,]+,ok,http\.ok,.*,local=ok$/);
    const summary = await runCli(['probe', '--file', list, '--vantages', 'local', ...common()], 60_000);
    expect(summary.code, summary.stderr).toBe(0);
    expect(summary.stdout).toMatch(/^ok\s+http\.ok\s+2$/m);
    expect(summary.stdout).toMatch(/^2 URLs probed$/m);
  }, 120_000);

  it('writes the CLI’s CSV columns with --csv', async () => {
    const list = listFile(
      'csv.txt',
      targets.list.map((target) => target.url),
    );
    const result = await runCli(['probe', '--file', list, '--csv', ...common()], 60_000);
    expect(result.code).toBe(1);
    const [header, ...rows] = result.stdout.trim().split('\n');
    expect(header).toBe('url,cause,code,confidence,summary,dns_ms,connect_ms,tls_ms,first_byte_ms,total_ms');
    expect(rows).toHaveLength(targets.list.length);
    expect(rows.find((row) => row.startsWith('http://127.0.0.2:'))).toMatch(/^[^,]+,refused,/);
  });

  it('prints the summary by cause and code, reports bad lines by number, and exits 0 when all is ok', async () => {
    const list = listFile('summary.txt', [
      targets.healthy.url('/s1'),
      'gopher://x/',
      targets.healthy.url('/s2'),
    ]);
    const result = await runCli(['probe', '--file', list, ...common()], 60_000);
    expect(result.stderr).toMatch(/^reach: line 2: url must use http or https, not gopher; skipped$/m);
    expect(result.stdout).toMatch(/^ok\s+http\.ok\s+2$/m);
    expect(result.stdout).toMatch(/^2 URLs probed, 1 lines skipped$/m);
    expect(result.code).toBe(1);
    const clean = listFile('clean.txt', [targets.healthy.url('/c1')]);
    expect((await runCli(['probe', '--file', clean, ...common()], 60_000)).code).toBe(0);
  });

  it('exits 2 with one line for a list file that does not exist', async () => {
    const result = await runCli(['probe', '--file', join(directory, 'missing.txt'), ...common()], 60_000);
    expect(result.code).toBe(2);
    expect(result.stderr.trim()).toMatch(/^reach: cannot read --file .*missing\.txt: ENOENT$/);
  });

  it('exits 2 with --strict on a bad line, submitting nothing', async () => {
    const list = listFile('strict.txt', [targets.healthy.url('/x'), 'not a url']);
    const result = await runCli(['probe', '--file', list, '--strict', ...common()], 60_000);
    expect(result.code).toBe(2);
    expect(result.stderr.trim()).toBe('reach: line 2: url is not a valid URL: "not a url"');
  });

  it('probes a batch’s control once on the service, not once per URL, and hands it to every report', async () => {
    let controlRequests = 0;
    const control: TestServer = await startHttpServer((_request, response) => {
      controlRequests++;
      response.end('ok');
    });
    try {
      const urls = [1, 2, 3, 4, 5].map((index) => targets.healthy.url(`/controlled-${index}`));
      const result = await runCli(
        [
          'probe',
          '--file',
          listFile('controlled.txt', urls),
          '--json',
          '--control',
          control.url(),
          ...common(),
        ],
        60_000,
      );
      expect(result.code).toBe(0);
      const reports = result.stdout
        .trim()
        .split('\n')
        .map((line) => JSON.parse(line));
      expect(reports).toHaveLength(5);
      for (const report of reports)
        expect(report.controls).toMatchObject([{ url: control.url(), isReachable: true }]);
      expect(controlRequests).toBe(1);
    } finally {
      await control.close();
    }
  });

  const batchCount = async (event: 'submitted' | 'cancelled') => {
    const metrics = String((await getJson(`${service.apiUrl}/metrics`)).body);
    return Number(
      new RegExp(`^reach_batches_total\\{event="${event}"\\} (\\d+)`, 'm').exec(metrics)?.[1] ?? 0,
    );
  };
  const submittedCount = () => batchCount('submitted');

  /**
   * The deadline of the probes of an interrupted batch. The probes in flight on the service when it is cancelled
   * run to it (they are not aborted), and the tests wait for them (finishedBatch): at 20 s it was most of each
   * test's time, near vitest's 30 s under load. Five seconds still leaves the batch running long after the
   * Ctrl-C: its 30 or 40 URLs take four or five rounds of BATCH_WORKER_CONCURRENCY (8), 20 s or more.
   */
  const interruptedProbeTimeoutMs = 5000;

  /** `reach probe --file` on `count` URLs that never answer, against the service, with Ctrl-C once it has the batch. */
  const interruptedBatch = async (name: string, count: number, extraArgs: string[]) => {
    const before = await submittedCount();
    const urls = Array.from({ length: count }, (_, index) => targets.silent.url(`/${name}-${index}`));
    return runCliWith(
      [
        'probe',
        '--file',
        listFile(`${name}.txt`, urls),
        ...extraArgs,
        '--api',
        service.apiUrl,
        '--timeout',
        String(interruptedProbeTimeoutMs),
      ],
      {
        interruptWhen: eventually(async () => ((await submittedCount()) > before ? true : undefined), {
          what: 'the batch to be submitted',
          intervalMs: 100,
        }),
        timeoutMs: 60_000,
      },
    );
  };

  it('cancels the batch on the service when its output is closed (| head), prints nothing, and exits 141', async () => {
    const cancelledBefore = await batchCount('cancelled');
    // Three answer at once; the others only at their 3-s deadline, eight at a time (five rounds): the batch is
    // still running when the fourth line, the first written after the close, fails.
    const urls = [
      ...[0, 1, 2].map((index) => targets.healthy.url(`/closed-${index}`)),
      ...Array.from({ length: 40 }, (_, index) => targets.silent.url(`/closed-${index}`)),
    ];
    const result = await runCliClosingOutput(
      [
        'probe',
        '--file',
        listFile('closed.txt', urls),
        '--json',
        '--api',
        service.apiUrl,
        '--timeout',
        '3000',
      ],
      { afterLines: 3, timeoutMs: 60_000 },
    );
    expect(result.linesBeforeClose).toHaveLength(3);
    expect(result.stderr).toBe('');
    expect({ code: result.code, signal: result.signal }).toEqual({ code: 141, signal: null });
    expect(await batchCount('cancelled')).toBe(cancelledBefore + 1);
  }, 60_000);

  it('cancels the batch on the service on Ctrl-C, says which, and exits 130', async () => {
    const result = await interruptedBatch('ctrl-c', 40, ['--json']);
    expect(result.code).toBe(130);
    const id = /batch ([0-9a-f-]{36}) cancelled on the service/.exec(result.stderr)?.[1];
    expect(id, result.stderr).toBeDefined();
    const status = await finishedBatch(service.apiUrl, id as string);
    expect(status.state).toBe('cancelled');
    expect(status.byStatus.cancelled).toBeGreaterThan(0);
    // A CLI's start, the submission, the cancel and the probes in flight running out on the service.
  }, 60_000);

  it('on Ctrl-C prints the partial summary saying the batch was cancelled on the service, not probes aborted', async () => {
    const result = await interruptedBatch('ctrl-c-summary', 30, []);
    expect(result.code).toBe(130);
    const line =
      /^interrupted: batch ([0-9a-f-]{36}) cancelled on the service; (\d+) of its 30 URLs have no result here \(those in flight there finish and are kept with the batch\)$/m.exec(
        result.stdout,
      );
    expect(line, result.stdout).not.toBeNull();
    expect(result.stdout).not.toMatch(/probes in flight were aborted|the rest of the list not read/);
    expect(result.stdout).toMatch(/^\d+ URLs probed$/m);
    const status = await finishedBatch(service.apiUrl, line?.[1] as string);
    expect(status.state).toBe('cancelled');
    // Those it had seen and those it had not make the whole batch.
    expect(Number(line?.[2])).toBe(30 - Number(/^(\d+) URLs probed$/m.exec(result.stdout)?.[1]));
  }, 60_000);
});
