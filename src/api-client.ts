// A client of a running reach service for the CLI: submit a probe and wait for its report, list the vantages.
import type { MultiVantageReport, Report } from './types.js';

/** What `POST /probe` takes (docs/api.md); the service validates it again. */
export interface ApiProbeRequest {
  url: string;
  resolvers?: string[];
  controls?: string[];
  timeoutMs?: number;
  vantages?: 'all' | string[];
}

/** What `POST /batches` takes as JSON (docs/api.md). */
export interface ApiBatchRequest {
  urls: string[];
  resolvers?: string[];
  controls?: string[];
  timeoutMs?: number;
  vantages?: ApiProbeRequest['vantages'];
}

export interface ApiVantage {
  name: string;
  labels: Record<string, string>;
  version: string;
  concurrency: number;
  lastSeenAt: string;
}

/**
 * How asking the service ended, other than with an answer. `problem`: the service refused the request (a 4xx
 * problem answer, or a probe it would not run), so the request is at fault. `unavailable`: the service could
 * not be reached, answered 5xx or something that is not reach's JSON, or the result did not come in time.
 */
export class ApiError extends Error {
  override name = 'ApiError';
  constructor(
    readonly kind: 'problem' | 'unavailable',
    message: string,
    readonly status?: number,
  ) {
    super(message);
  }
}

export interface ApiClientOptions {
  /** The service's base URL, http(s), without a trailing path of its own routes. */
  baseUrl: string;
  /** Sent as `Authorization: Bearer`, when given. */
  apiKey?: string;
  /** Injected by tests; Node's fetch otherwise. */
  fetch?: typeof fetch;
  /** Seconds `POST /probe?wait=` holds the answer (at most 60, the service's limit). */
  waitSeconds?: number;
  /** After a 202: how often and how many times `GET /probe/:id` is asked before giving up. */
  pollIntervalMs?: number;
  pollAttempts?: number;
}

export interface ApiClient {
  probe(request: ApiProbeRequest): Promise<Report | MultiVantageReport>;
  vantages(): Promise<ApiVantage[]>;
  submitBatch(request: ApiBatchRequest): Promise<{ id: string; total: number }>;
  cancelBatch(id: string): Promise<void>;
  /**
   * The batch's results from `offset` on, one NDJSON line at a time, as they end (follow mode) until every URL has
   * one. The stream may end early (the service restarting): the caller resumes from the lines it has seen.
   */
  batchResultLines(id: string, offset: number, signal: AbortSignal): AsyncGenerator<string>;
}

/** Beyond the wait: a probe's deadline is at most 120 s, plus 3 s of fan-out grace and queueing. */
const defaultPollAttempts = 90;
const defaultPollIntervalMs = 1000;
/** One HTTP exchange may take this much longer than the wait it asked for. */
const exchangeSlackMs = 10_000;

export function createApiClient(options: ApiClientOptions): ApiClient {
  const fetchFunction = options.fetch ?? fetch;
  const base = options.baseUrl.replace(/\/+$/, '');
  const waitSeconds = Math.min(options.waitSeconds ?? 60, 60);
  const pollIntervalMs = options.pollIntervalMs ?? defaultPollIntervalMs;
  const pollAttempts = options.pollAttempts ?? defaultPollAttempts;
  const headers: Record<string, string> = { accept: 'application/json' };
  if (options.apiKey) headers.authorization = `Bearer ${options.apiKey}`;

  const exchange = async (
    path: string,
    init: { method: 'GET' | 'POST' | 'DELETE'; body?: unknown; timeoutMs: number },
  ): Promise<{ status: number; body: unknown }> => {
    let response: Response;
    try {
      response = await fetchFunction(`${base}${path}`, {
        method: init.method,
        headers: init.body === undefined ? headers : { ...headers, 'content-type': 'application/json' },
        ...(init.body === undefined ? {} : { body: JSON.stringify(init.body) }),
        signal: AbortSignal.timeout(init.timeoutMs),
      });
    } catch (error) {
      throw new ApiError('unavailable', `cannot reach the service at ${base}: ${networkReason(error)}`);
    }
    const text = await response.text().catch(() => '');
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch {
      throw new ApiError(
        'unavailable',
        `the service at ${base} answered ${response.status} with something that is not JSON`,
        response.status,
      );
    }
    if (response.status >= 400) {
      const detail = problemDetail(body) ?? `${response.status} ${response.statusText}`.trim();
      const kind = response.status < 500 ? 'problem' : 'unavailable';
      throw new ApiError(kind, `the service answered ${response.status}: ${detail}`, response.status);
    }
    return { status: response.status, body };
  };

  return {
    async probe(request) {
      const submitted = await exchange(`/probe?wait=${waitSeconds}`, {
        method: 'POST',
        body: request,
        timeoutMs: waitSeconds * 1000 + exchangeSlackMs,
      });
      let status = submitted.body as ProbeStatusBody;
      // 202: the wait ran out first; the probe goes on, and its status is asked for a bounded number of times.
      for (let attempt = 1; !isFinished(status); attempt += 1) {
        const { id } = submitted.body as ProbeStatusBody;
        if (typeof id !== 'string')
          throw new ApiError('unavailable', 'the service accepted the probe without an id');
        if (attempt > pollAttempts) {
          throw new ApiError(
            'unavailable',
            `probe ${id} had no result after ${waitSeconds} s of waiting and ${pollAttempts} polls`,
          );
        }
        await new Promise((resolve) => setTimeout(resolve, pollIntervalMs));
        const answer = await exchange(`/probe/${encodeURIComponent(id)}`, {
          method: 'GET',
          timeoutMs: exchangeSlackMs,
        });
        status = answer.body as ProbeStatusBody;
      }
      return reportOf(status);
    },
    async submitBatch(request) {
      const answer = await exchange('/batches', {
        method: 'POST',
        body: request,
        timeoutMs: exchangeSlackMs * 6,
      });
      const { id, total } = answer.body as { id?: unknown; total?: unknown };
      if (typeof id !== 'string' || typeof total !== 'number')
        throw new ApiError('unavailable', 'the service accepted the batch without an id');
      return { id, total };
    },
    async cancelBatch(id) {
      await exchange(`/batches/${encodeURIComponent(id)}`, {
        method: 'DELETE',
        timeoutMs: exchangeSlackMs * 6,
      });
    },
    async *batchResultLines(id, offset, signal) {
      let response: Response;
      try {
        response = await fetchFunction(
          `${base}/batches/${encodeURIComponent(id)}/results?follow=true&offset=${offset}`,
          { headers: { ...headers, accept: 'application/x-ndjson' }, signal },
        );
      } catch (error) {
        if (signal.aborted) return;
        throw new ApiError('unavailable', `cannot reach the service at ${base}: ${networkReason(error)}`);
      }
      if (response.status !== 200 || !response.body) {
        const text = await response.text().catch(() => '');
        let detail: string | undefined;
        try {
          detail = problemDetail(JSON.parse(text));
        } catch {}
        const kind = response.status >= 400 && response.status < 500 ? 'problem' : 'unavailable';
        throw new ApiError(
          kind,
          `the service answered ${response.status}: ${detail ?? 'no results'}`,
          response.status,
        );
      }
      const decoder = new TextDecoder();
      let buffered = '';
      try {
        for await (const chunk of response.body) {
          buffered += decoder.decode(chunk as Uint8Array, { stream: true });
          const lines = buffered.split('\n');
          buffered = lines.pop() ?? '';
          for (const line of lines) if (line !== '') yield line;
        }
      } catch {
        // Cut mid-stream (the service or Redis restarting) or stopped: the lines so far stand; the caller resumes.
      }
    },
    async vantages() {
      const answer = await exchange('/vantages', { method: 'GET', timeoutMs: exchangeSlackMs });
      const vantages = (answer.body as { vantages?: unknown }).vantages;
      if (!Array.isArray(vantages))
        throw new ApiError('unavailable', 'the service answered without a vantage list');
      return vantages as ApiVantage[];
    },
  };
}

interface ProbeStatusBody {
  id?: string;
  status?: string;
  report?: Report | MultiVantageReport;
  error?: { kind: 'refused' | 'invalid' | 'error'; reason: string; address?: string };
}

function isFinished(status: ProbeStatusBody): boolean {
  return status.status === 'completed' || status.status === 'failed';
}

function reportOf(status: ProbeStatusBody): Report | MultiVantageReport {
  if (status.status === 'completed' && status.report) return status.report;
  const error = status.error;
  // A target the policy refuses or a request a worker found invalid is the request's fault, as a 422 would be.
  if (error && error.kind !== 'error')
    throw new ApiError('problem', `the service refused the probe: ${error.reason}`);
  throw new ApiError(
    'unavailable',
    `the probe could not be run: ${error?.reason ?? `status ${status.status}`}`,
  );
}

function problemDetail(body: unknown): string | undefined {
  if (typeof body !== 'object' || body === null) return undefined;
  const { detail } = body as { detail?: unknown };
  return typeof detail === 'string' ? detail : undefined;
}

/** fetch hides the socket's errno in `cause`: ECONNREFUSED says more than "fetch failed". */
function networkReason(error: unknown): string {
  if (error instanceof Error && error.name === 'TimeoutError') return 'no answer in time';
  const cause =
    error instanceof Error ? (error.cause as { code?: string; message?: string } | undefined) : undefined;
  return cause?.code ?? cause?.message ?? (error instanceof Error ? error.message : String(error));
}

/** A report from several vantages carries their parts; a single report does not. */
export function isMultiVantageReport(report: Report | MultiVantageReport): report is MultiVantageReport {
  return Array.isArray((report as MultiVantageReport).vantages);
}
