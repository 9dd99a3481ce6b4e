// Helpers for the batch suites: a list of loopback targets, one per way a site fails, and readers of a batch.
import net from 'node:net';
import { expect } from 'vitest';
import { type DnsTestServer, startDnsServer } from '../../support/dns-server.js';
import {
  freeClosedPort,
  listenOnLoopback,
  startHttpServer,
  startResettingServer,
  startSilentCloseServer,
  type TestServer,
} from '../../support/http-servers.js';
import { eventually, getJson, type JsonBody, postJson } from './support.js';

export interface MixedTargets {
  /** The resolver that knows www.site-a.test (127.0.0.1) and nothing else. */
  resolver: string;
  /**
   * Each URL with the cause its item must end with. The slow one's verdict rests on timings (first byte against
   * ten round trips), which a loaded machine can shift: only its ending with a report is asserted.
   */
  list: Array<{ url: string; cause: string; code?: RegExp; isTimed?: boolean }>;
  healthy: TestServer;
  /** Answers after 2.3 s. */
  slow: TestServer;
  /** Accepts and never answers. */
  silent: TestServer;
  close(): Promise<void>;
}

/** The probe deadline the mixed list is run with: the silent target times out at it. */
export const mixedTimeoutMs = 4000;

/**
 * Healthy (by name), refused by the test policy (127.0.0.2: nothing is sent there), connection refused, reset,
 * empty reply, NXDOMAIN, slow (first byte after 2.3 s, within the deadline) and timing out.
 */
export async function startMixedTargets(): Promise<MixedTargets> {
  const healthy = await startHttpServer((_request, response) => response.end('ok'));
  const slow = await startHttpServer((_request, response) => {
    const timer = setTimeout(() => response.end('ok'), 2300);
    response.on('close', () => clearTimeout(timer));
  });
  const resetting = await startResettingServer();
  const silentClose = await startSilentCloseServer();
  const silent = await listenOnLoopback(net.createServer((socket) => socket.on('error', () => {})));
  const closedPort = await freeClosedPort();
  const dns: DnsTestServer = await startDnsServer({ 'www.site-a.test': { a: ['127.0.0.1'] } });
  return {
    resolver: dns.resolver,
    healthy,
    slow,
    silent,
    list: [
      { url: healthy.url('/', 'www.site-a.test'), cause: 'ok', code: /^http\.ok$/ },
      { url: `http://127.0.0.2:${healthy.port}/`, cause: 'refused' },
      { url: `http://127.0.0.1:${closedPort}/`, cause: 'server_fault', code: /^tcp\.refused$/ },
      { url: resetting.url('/reset'), cause: 'server_fault', code: /reset/ },
      { url: silentClose.url('/empty'), cause: 'server_fault', code: /empty|closed/ },
      { url: `http://missing.site-a.test:${healthy.port}/`, cause: 'dns_failure', code: /^dns\./ },
      { url: slow.url('/slow'), cause: 'overload', code: /^http\.slow_first_byte$/, isTimed: true },
      { url: silent.url('/silent'), cause: 'overload', code: /^http\.timeout$/ },
    ],
    async close() {
      await Promise.all([healthy, slow, resetting, silentClose, silent, dns].map((server) => server.close()));
    },
  };
}

/** A policy standing in for "public" = 127.0.0.1 only: 127.0.0.2 is refused, as a private address would be. */
export const onlyLoopbackOne = (address: string) =>
  address === '127.0.0.1' ? undefined : `${address} is internal (test policy)`;

/** Polls the batch's status until every URL has a result. */
export function finishedBatch(apiUrl: string, id: string, attempts = 150): Promise<JsonBody> {
  return eventually(
    async () => {
      const status = await getJson(`${apiUrl}/batches/${id}`);
      return status.status === 200 && status.body.pending === 0 ? status.body : undefined;
    },
    { what: `batch ${id} to finish`, attempts, intervalMs: 200 },
  );
}

/**
 * POST /batches with `body` (its `urls` a list), then, once every URL has its result, the results: asserts the
 * batch was accepted and that each URL has exactly one result.
 */
export async function completedBatchItems(
  apiUrl: string,
  body: { urls: string[]; [option: string]: unknown },
): Promise<JsonBody[]> {
  const submitted = await postJson(`${apiUrl}/batches`, body);
  expect(submitted.status).toBe(202);
  await finishedBatch(apiUrl, submitted.body.id);
  const items = await resultItems(apiUrl, submitted.body.id);
  expect(indexesOf(items)).toEqual(range(body.urls.length));
  return items;
}

/** GET /batches/:id/results with an Accept and a query; the raw text. */
export async function resultsText(
  apiUrl: string,
  id: string,
  options: { accept?: string; query?: string } = {},
): Promise<{ status: number; contentType: string; text: string }> {
  const response = await fetch(`${apiUrl}/batches/${id}/results${options.query ?? ''}`, {
    headers: { accept: options.accept ?? 'application/x-ndjson' },
  });
  return {
    status: response.status,
    contentType: response.headers.get('content-type') ?? '',
    text: await response.text(),
  };
}

/** The NDJSON results as items. */
export async function resultItems(apiUrl: string, id: string, query = ''): Promise<JsonBody[]> {
  const { text } = await resultsText(apiUrl, id, { query });
  return text
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => JSON.parse(line));
}

/** Every index from 0 to total - 1 exactly once. */
export function indexesOf(items: JsonBody[]): number[] {
  return items.map((item) => item.index as number).sort((a, b) => a - b);
}

export function range(count: number): number[] {
  return Array.from({ length: count }, (_, index) => index);
}
