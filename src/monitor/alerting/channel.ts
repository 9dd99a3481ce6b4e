// The one interface every notification provider implements, and the HTTP sending most of them share: a POST
// through an agent whose lookup obeys the address policy, its answer read into a delivery outcome.
import { createRequire } from 'node:module';
import { isIP } from 'node:net';
import type { AddressPolicy } from '../../safety/address-policy.js';
import type { AlertPayload } from './alerts.js';
import { destinationOf } from './delivery-lanes.js';
import { isRefusedByPolicy, policyLookup } from './destination-policy.js';

// CommonJS, loaded with require rather than import: no export lexing at start-up (docs/architecture.md).
const { Agent, request } = createRequire(import.meta.url)('undici') as typeof import('undici');

/**
 * What became of one attempt. `retry` may succeed later (network, 5xx, 429: `retryAfterMs` when the provider
 * said how long to wait); `rejected` is the provider refusing the message for good (a revoked token, an
 * unknown chat); `refused` is our address policy refusing the destination. Only `retry` is tried again.
 */
export type SendOutcome =
  | { kind: 'delivered'; status: number }
  | { kind: 'retry'; reason: string; retryAfterMs?: number }
  | { kind: 'rejected'; reason: string }
  | { kind: 'refused'; reason: string };

export interface ChannelSender {
  /** Scheme, host and port the sender talks to: the delivery lane key, and the only place named in errors. */
  readonly destination: string;
  send(message: AlertPayload): Promise<SendOutcome>;
}

export interface HttpAnswer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  /** The first 4 KiB of the answer's body, for the provider's error text. */
  text: string;
}

export interface HttpSending {
  /** POSTs and reads the answer; a network failure or a refused address comes back as an outcome, never thrown. */
  post(
    url: string,
    options: { headers: Record<string, string>; body: string },
  ): Promise<{ answer: HttpAnswer } | { outcome: SendOutcome }>;
  close(): Promise<void>;
}

const answerTextMaxBytes = 4096;
/** The longest wait a provider's Retry-After can ask for; longer asks wait this long. */
export const maxRetryAfterMs = 15 * 60_000;

export function createHttpSending(options: { policy: AddressPolicy; timeoutMs: number }): HttpSending {
  const agent = new Agent({
    connect: { lookup: policyLookup(options.policy) as never, timeout: options.timeoutMs },
    headersTimeout: options.timeoutMs,
    bodyTimeout: options.timeoutMs,
  });
  return {
    async post(url, { headers, body }) {
      // Errors name the destination only: a provider's path and query often carry its token.
      const destination = destinationOf(url);
      const host = new URL(url).hostname.replace(/^\[|\]$/g, '');
      if (isIP(host) !== 0) {
        const reason = options.policy(host);
        if (reason) return { outcome: { kind: 'refused', reason: `${destination} refused: ${reason}` } };
      }
      try {
        const response = await request(url, {
          method: 'POST',
          dispatcher: agent,
          body,
          headers: { 'user-agent': 'reach-monitor', ...headers },
          signal: AbortSignal.timeout(options.timeoutMs),
        });
        return {
          answer: {
            status: response.statusCode,
            headers: response.headers,
            text: await boundedText(response.body),
          },
        };
      } catch (error) {
        if (isRefusedByPolicy(error)) {
          return {
            outcome: { kind: 'refused', reason: `${destination} refused: ${(error as Error).message}` },
          };
        }
        return { outcome: { kind: 'retry', reason: `${destination} failed: ${(error as Error).message}` } };
      }
    },
    close: () => agent.close(),
  };
}

async function boundedText(body: AsyncIterable<Buffer> & { destroy(): unknown }): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body) {
    chunks.push(chunk);
    size += chunk.length;
    if (size >= answerTextMaxBytes) {
      body.destroy();
      break;
    }
  }
  return Buffer.concat(chunks).subarray(0, answerTextMaxBytes).toString('utf8');
}

/** Retry-After in seconds or as an HTTP date, in milliseconds from now (bounded), or undefined. */
export function retryAfterMsOf(value: string | string[] | undefined, nowMs = Date.now()): number | undefined {
  const text = Array.isArray(value) ? value[0] : value;
  if (text === undefined || text.trim() === '') return undefined;
  const seconds = Number(text.trim());
  const ms = Number.isFinite(seconds) ? seconds * 1000 : Date.parse(text) - nowMs;
  if (!Number.isFinite(ms)) return undefined;
  return Math.min(Math.max(0, Math.ceil(ms)), maxRetryAfterMs);
}

/**
 * The usual reading of an HTTP answer: 2xx delivered; 429 and 503 retried after Retry-After; 408, 425 and 5xx
 * retried; any other 4xx rejected (the provider will not take this message however often it is sent).
 * `retryAfterMs` overrides the header (Discord and Telegram say it in the body).
 */
export function outcomeOfAnswer(
  provider: string,
  destination: string,
  answer: HttpAnswer,
  retryAfterMs?: number,
): SendOutcome {
  const { status } = answer;
  if (status >= 200 && status < 300) return { kind: 'delivered', status };
  const reason = `${provider} at ${destination} answered ${status}${excerptOf(answer.text)}`;
  if (status === 429 || status === 503 || status === 408 || status === 425 || status >= 500) {
    const wait = retryAfterMs ?? retryAfterMsOf(answer.headers['retry-after']);
    return { kind: 'retry', reason, ...(wait !== undefined ? { retryAfterMs: wait } : {}) };
  }
  return { kind: 'rejected', reason };
}

/** A short, single-line excerpt of the provider's answer: its error text helps the operator. */
function excerptOf(text: string): string {
  const line = text.replace(/\s+/g, ' ').trim();
  if (line === '') return '';
  return `: ${line.length > 200 ? `${line.slice(0, 199)}…` : line}`;
}

/** Sends a JSON body and reads the answer the usual way. */
export async function postJson(
  http: HttpSending,
  provider: string,
  url: string,
  body: unknown,
  headers: Record<string, string> = {},
  readRetryAfter?: (answer: HttpAnswer) => number | undefined,
): Promise<SendOutcome> {
  const sent = await http.post(url, {
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify(body),
  });
  if ('outcome' in sent) return sent.outcome;
  return outcomeOfAnswer(provider, destinationOf(url), sent.answer, readRetryAfter?.(sent.answer));
}

/** A JSON body's number at `key` in seconds (Discord's and Telegram's retry_after), in milliseconds. */
export function bodySecondsOf(text: string, path: string[]): number | undefined {
  try {
    let value: unknown = JSON.parse(text);
    for (const key of path) value = (value as Record<string, unknown> | null)?.[key];
    if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) return undefined;
    return Math.min(Math.ceil(value * 1000), maxRetryAfterMs);
  } catch {
    return undefined;
  }
}

/** A base URL and a path under it, whatever slashes the operator wrote. */
export function joinUrl(baseUrl: string, path: string): string {
  return `${baseUrl.replace(/\/+$/, '')}/${path.replace(/^\/+/, '')}`;
}
