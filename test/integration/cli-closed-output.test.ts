// `reach probe … | head -3`: the reader closes the pipe early. The CLI stops (no new URL, probes in flight
// aborted), prints nothing, and exits 141 as a tool stopped by SIGPIPE does; never a stack trace.
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import type net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHttpServer, startRawServer, type TestServer } from '../support/http-servers.js';
import { runCliClosingOutput } from '../support/process.js';

let healthy: TestServer;
let slow: TestServer;
/** Takes the request and never answers: a probe to it stays in flight until its deadline. */
let hanging: TestServer;
const hangingSockets: net.Socket[] = [];
let directory: string;

beforeAll(async () => {
  healthy = await startHttpServer((_request, response) => response.end('ok'));
  slow = await startHttpServer((_request, response) => {
    setTimeout(() => response.end('ok'), 300);
  });
  hanging = await startRawServer((_head, socket) => {
    hangingSockets.push(socket);
  });
  directory = mkdtempSync(join(tmpdir(), 'reach-closed-output-'));
});

afterAll(async () => {
  await Promise.all([healthy, slow, hanging].map((server) => server?.close()));
  rmSync(directory, { recursive: true, force: true });
});

function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Resolves once the hanging server holds `count` requests (at most 15 s of 20-ms looks). */
async function hangingHolds(count: number): Promise<void> {
  for (let look = 0; look < 750 && hangingSockets.length < count; look++)
    await new Promise((resolve) => setTimeout(resolve, 20));
}

describe('reach probe with its output closed early', () => {
  it.each([
    ['--json', '1'],
    ['--csv', '2'],
  ])(
    'a list with %s and %s thread(s) stops with exit 141, nothing printed, its probes in flight aborted',
    async (format, threads) => {
      // Three probes that stay in flight (their deadline is 60 s, twice this test's time), then a list long
      // enough that results keep coming after the reader has gone.
      const before = hangingSockets.length;
      const urls = [
        ...[0, 1, 2].map((index) => hanging.url(`/hang${format}-${index}`)),
        ...Array.from({ length: 5000 }, (_, index) => healthy.url(`/page-${index}`)),
      ];
      const list = join(directory, `list${format}.txt`);
      writeFileSync(list, `${urls.join('\n')}\n`);
      const result = await runCliClosingOutput(
        ['probe', '--file', list, format, '--threads', threads, '--concurrency', '4', '--timeout', '60000'],
        // Closed once the three hanging probes are in flight: their server holds their requests.
        { afterLines: 3, closeWhen: () => hangingHolds(before + 3) },
      );
      expect(result.linesBeforeClose).toHaveLength(3);
      expect(hangingSockets.length).toBeGreaterThanOrEqual(before + 3);
      expect(result.stderr).toBe('');
      expect({ code: result.code, signal: result.signal }).toEqual({ code: 141, signal: null });
      expect(isRunning(result.pid)).toBe(false);
      // Their connections are closed: the probes ended, long before their 60-s deadline.
      await Promise.all(
        hangingSockets
          .slice(before, before + 3)
          .map((socket) => (socket.destroyed ? undefined : once(socket, 'close'))),
      );
    },
    30_000,
  );

  it('a single probe whose report meets a closed pipe exits 141 with nothing on stderr', async () => {
    // Closed at once, before the report is written: the answer takes 300 ms.
    const result = await runCliClosingOutput(['probe', slow.url('/report'), '--json', '--timeout', '10000'], {
      afterLines: 0,
    });
    expect(result.stderr).toBe('');
    expect({ code: result.code, signal: result.signal }).toEqual({ code: 141, signal: null });
  });
});
