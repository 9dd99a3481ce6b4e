// A loopback HTTP server standing in for a notification provider (Slack, PagerDuty, ...): it records every
// request (method, path, query, headers, body) and answers from a script the test sets, as the provider would.
import { once } from 'node:events';
import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface ReceivedRequest {
  method: string;
  path: string;
  query: URLSearchParams;
  headers: IncomingHttpHeaders;
  text: string;
  /** The body parsed as JSON, or undefined when it is not JSON. */
  json: unknown;
  atMs: number;
}

export interface ProviderAnswer {
  status: number;
  headers?: Record<string, string>;
  body?: string | object;
}

export interface ProviderReceiver {
  /** http://127.0.0.1:<port> (no trailing slash). */
  origin: string;
  requests: ReceivedRequest[];
  /** Answers for the next requests, in order; `fallback` once they run out. */
  answers: ProviderAnswer[];
  fallback: ProviderAnswer;
  /** Resolves with the n-th request (1-based) once it has been answered. */
  nth(n: number): Promise<ReceivedRequest>;
  reset(): void;
  close(): Promise<void>;
}

export async function startProviderReceiver(fallback: ProviderAnswer): Promise<ProviderReceiver> {
  const waiters = new Map<number, Array<() => void>>();
  const receiver: ProviderReceiver = {
    origin: '',
    requests: [],
    answers: [],
    fallback,
    nth(n) {
      const seen = receiver.requests[n - 1];
      if (seen) return Promise.resolve(seen);
      return new Promise((resolve) => {
        const list = waiters.get(n) ?? [];
        list.push(() => resolve(receiver.requests[n - 1] as ReceivedRequest));
        waiters.set(n, list);
      });
    },
    reset() {
      receiver.requests.length = 0;
      receiver.answers.length = 0;
      waiters.clear();
    },
    close: () => {
      server.closeAllConnections();
      return new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
  const server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const text = Buffer.concat(chunks).toString('utf8');
      const url = new URL(request.url ?? '/', 'http://receiver');
      let json: unknown;
      try {
        json = JSON.parse(text);
      } catch {
        json = undefined;
      }
      // Recorded before answering, so a sender that has its answer finds its request here.
      receiver.requests.push({
        method: request.method ?? '',
        path: url.pathname,
        query: url.searchParams,
        headers: request.headers,
        text,
        json,
        atMs: Date.now(),
      });
      const count = receiver.requests.length;
      const answer = receiver.answers.shift() ?? receiver.fallback;
      const body = typeof answer.body === 'object' ? JSON.stringify(answer.body) : (answer.body ?? '');
      response.writeHead(answer.status, {
        ...(typeof answer.body === 'object' ? { 'content-type': 'application/json' } : {}),
        ...answer.headers,
      });
      response.end(body, () => {
        for (const resolve of waiters.get(count) ?? []) resolve();
      });
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  receiver.origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return receiver;
}
