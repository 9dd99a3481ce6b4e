// A batch's controls: probed once up front, and again (at most every refreshMs) only while some failed.
import { controlResultOf, probe } from '../engine.js';
import type { ControlResult, ResolverSpec } from '../types.js';

export interface ControlOptions {
  urls: string[];
  resolvers: ResolverSpec[];
  timeoutMs?: number;
  ca: string[];
  signal: AbortSignal;
  refreshMs?: number;
  /** The service's address policy and limits, applied to the controls as to any probe of a worker. */
  isAddressAllowed?: (address: string) => string | undefined;
  maxRedirects?: number;
  maxBodyBytes?: number;
}

export interface BatchControls {
  /** The latest results; a refresh of failed controls runs beside, never in front of, the URL's probe. */
  current(): ControlResult[];
  /** How many times each control URL was probed, for tests and the curious. */
  readonly probeCounts: Map<string, number>;
}

export async function probeBatchControls(options: ControlOptions): Promise<BatchControls> {
  const probeCounts = new Map<string, number>();
  const probeOne = async (url: string): Promise<ControlResult> => {
    probeCounts.set(url, (probeCounts.get(url) ?? 0) + 1);
    const report = await probe({
      url,
      resolvers: options.resolvers,
      timeoutMs: options.timeoutMs,
      ca: options.ca,
      signal: options.signal,
      ...(options.isAddressAllowed ? { isAddressAllowed: options.isAddressAllowed } : {}),
      ...(options.maxRedirects === undefined ? {} : { maxRedirects: options.maxRedirects }),
      ...(options.maxBodyBytes === undefined ? {} : { maxBodyBytes: options.maxBodyBytes }),
    });
    return controlResultOf(report.target);
  };
  let results = await Promise.all(options.urls.map(probeOne));
  let refreshedAtMs = performance.now();
  let refreshing: Promise<void> | undefined;
  const refreshMs = options.refreshMs ?? 30_000;
  return {
    probeCounts,
    current() {
      const hasFailed = results.some((result) => !result.isReachable);
      if (
        hasFailed &&
        !refreshing &&
        !options.signal.aborted &&
        performance.now() - refreshedAtMs >= refreshMs
      ) {
        refreshing = Promise.all(
          results.map((result) => (result.isReachable ? result : probeOne(result.url))),
        ).then(
          (fresh) => {
            results = fresh;
          },
          // A failed refresh keeps the results we had; the next call may try again.
          () => {},
        );
        void refreshing.finally(() => {
          refreshing = undefined;
          refreshedAtMs = performance.now();
        });
      }
      return results;
    },
  };
}
