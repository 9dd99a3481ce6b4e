// The engine: runs the target and its controls in parallel under one deadline and returns the report.
import { setMaxListeners } from 'node:events';
import net from 'node:net';
import { classify } from './diagnosis/classify.js';
import { checkContent, expectationProblems, needsBody } from './diagnosis/expectations.js';
import { warningsOf } from './diagnosis/warnings.js';
import { formatResolver, systemResolvers } from './probes/dns.js';
import { capturedBodyOf } from './probes/http.js';
import { probeTarget, type TargetProbeOptions, TargetRefusedError } from './probes/target.js';
import { targetUrlProblem } from './probes/target-url-text.js';
import { parseResolverText } from './resolver-text.js';
import type {
  ContentExpectations,
  ControlResult,
  Report,
  ResolverSpec,
  TargetObservation,
  Thresholds,
} from './types.js';
import { defaultThresholds } from './types.js';

export { TargetRefusedError };

export interface ProbeOptions {
  url: string;
  /** Resolvers to query; default: the nameservers of /etc/resolv.conf. */
  resolvers?: ResolverSpec[];
  /** Known-good URLs probed in parallel, to tell the prober's network from the target's. */
  controls?: string[];
  /**
   * Controls already probed (a batch probes them once for all its URLs): used as they are, and `controls` is
   * then not probed.
   */
  controlResults?: ControlResult[];
  /** The deadline for the whole probe, controls included. */
  timeoutMs?: number;
  /** Extra trusted CA certificates (PEM text). */
  ca?: string[];
  thresholds?: Partial<Thresholds>;
  maxRedirects?: number;
  maxBodyBytes?: number;
  dnsInjectionWindowMs?: number;
  /**
   * Content checks on the final answer (a monitor's `expect`): failing one is a verdict of its own. The body is
   * kept (up to maxBodyBytes) only when a check reads it.
   */
  expect?: ContentExpectations;
  /** Returns a reason to refuse an address; checked on every address connected to, redirect hops too. */
  isAddressAllowed?: (address: string) => string | undefined;
  signal?: AbortSignal;
  /**
   * Stops the probe like `signal`, for a caller with thousands of probes in flight (a batch): called once with
   * the probe's abort, it returns what to call when the probe ends. A batch's probes then share one listener on
   * the batch's signal instead of an AbortController each, linked to the engine's own by a listener.
   */
  registerStop?: (abort: (reason: unknown) => void) => () => void;
}

export const limits = {
  timeoutMs: { min: 100, max: 120_000, default: 10_000 },
  maxRedirects: { min: 0, max: 20, default: 5 },
  maxBodyBytes: { min: 0, max: 16 * 1024 * 1024, default: 256 * 1024 },
  controls: { max: 8 },
  resolvers: { max: 8 },
  urlLength: { max: 2048 },
} as const;

/** Bad input from the user: a message that says what is wrong, one line. */
export class InputError extends Error {
  readonly field: string;
  constructor(field: string, message: string) {
    super(message);
    this.name = 'InputError';
    this.field = field;
  }
}

export function parseTargetUrl(text: string, field = 'url'): URL {
  if (text.length > limits.urlLength.max) {
    throw new InputError(field, `${field} is longer than ${limits.urlLength.max} characters`);
  }
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new InputError(field, `${field} is not a valid URL: ${JSON.stringify(text.slice(0, 200))}`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new InputError(field, `${field} must use http or https, not ${url.protocol.replace(/:$/, '')}`);
  }
  if (!url.hostname) throw new InputError(field, `${field} has no host`);
  if (url.username || url.password) throw new InputError(field, `${field} must not carry credentials`);
  const problem = targetUrlProblem(url);
  if (problem !== undefined) throw new InputError(field, `${field} ${problem}`);
  return url;
}

/** "IP", "IP:PORT" or "[IPv6]:PORT". */
export function parseResolver(text: string): ResolverSpec {
  return parseResolverText(text.trim(), (message) => new InputError('resolvers', message));
}

function checkRange(field: string, value: number | undefined, range: { min: number; max: number }) {
  if (value === undefined) return;
  if (!Number.isFinite(value) || value < range.min || value > range.max) {
    throw new InputError(field, `${field} must be between ${range.min} and ${range.max}, got ${value}`);
  }
}

/** Validates everything up front, so a probe never starts on bad input. */
export function validateOptions(options: ProbeOptions): {
  url: URL;
  controls: URL[];
  resolvers: ResolverSpec[];
} {
  const url = parseTargetUrl(options.url);
  checkRange('timeoutMs', options.timeoutMs, limits.timeoutMs);
  checkRange('maxRedirects', options.maxRedirects, limits.maxRedirects);
  checkRange('maxBodyBytes', options.maxBodyBytes, limits.maxBodyBytes);
  const controlTexts = options.controls ?? [];
  if (controlTexts.length > limits.controls.max) {
    throw new InputError('controls', `at most ${limits.controls.max} controls`);
  }
  const controls = controlTexts.map((text) => parseTargetUrl(text, 'control'));
  const [expectProblem] = options.expect ? expectationProblems(options.expect) : [];
  if (expectProblem) {
    throw new InputError(
      `expect.${expectProblem.field}`,
      `expect.${expectProblem.field}: ${expectProblem.message}`,
    );
  }
  if ((options.resolvers?.length ?? 0) > limits.resolvers.max) {
    throw new InputError('resolvers', `at most ${limits.resolvers.max} resolvers`);
  }
  // The system's resolvers matter only when some URL names a host; IP literals need none.
  const needsResolvers = [url, ...controls].some(
    (target) => net.isIP(target.hostname.replace(/^\[|\]$/g, '')) === 0,
  );
  const resolvers =
    options.resolvers && options.resolvers.length > 0
      ? options.resolvers
      : needsResolvers
        ? systemResolvers()
        : [];
  return { url, controls, resolvers };
}

/** Probes a URL through DNS, TCP, TLS and HTTP and diagnoses it. Never throws for the target's failure. */
export async function probe(options: ProbeOptions): Promise<Report> {
  const { url, controls, resolvers } = validateOptions(options);
  const timeoutMs = options.timeoutMs ?? limits.timeoutMs.default;
  const thresholds = options.thresholds ? { ...defaultThresholds, ...options.thresholds } : defaultThresholds;
  const startedAt = isoTimestamp(Date.now());
  const probeStartedMs = performance.now();
  const deadlineMs = probeStartedMs + timeoutMs;
  // One controller owns the deadline; its timer is cleared when the probe ends, so none outlives it.
  const deadline = new AbortController();
  // Every connect, handshake and exchange listens on it (Happy Eyeballs races, the differential's side requests):
  // more than Node's default of 10 at once is expected, not a leak.
  setMaxListeners(64, deadline.signal);
  const timer = setTimeout(() => deadline.abort(new Error('probe deadline reached')), timeoutMs);
  const onCallerAbort = () => deadline.abort(options.signal?.reason);
  options.signal?.addEventListener('abort', onCallerAbort, { once: true });
  if (options.signal?.aborted) onCallerAbort();
  const unregisterStop = options.registerStop?.((reason) => deadline.abort(reason));
  const signal = deadline.signal;
  const common: EveryField<SharedProbeOptions> = {
    resolvers,
    ca: options.ca,
    maxRedirects: options.maxRedirects ?? limits.maxRedirects.default,
    maxBodyBytes: options.maxBodyBytes ?? limits.maxBodyBytes.default,
    dnsInjectionWindowMs: options.dnsInjectionWindowMs ?? 500,
    isAddressAllowed: options.isAddressAllowed,
    deadlineMs,
    probeStartedMs,
    signal,
  };

  const controlsToProbe = options.controlResults ? [] : controls;
  let observations: TargetObservation[];
  try {
    // Written out field by field rather than `{ ...common, url, isBodyKept }`: the spread was a runtime copy per
    // probe, a measured CPU cost (bench/RESULTS.md, "The engine's own CPU per probe"). EveryField makes the type
    // check fail when a field of `common` (of SharedProbeOptions) is not carried over here.
    const targetOptions: EveryField<TargetProbeOptions> = {
      url,
      resolvers,
      ca: options.ca,
      maxRedirects: common.maxRedirects,
      maxBodyBytes: common.maxBodyBytes,
      isBodyKept: options.expect !== undefined && needsBody(options.expect),
      dnsInjectionWindowMs: common.dnsInjectionWindowMs,
      isAddressAllowed: options.isAddressAllowed,
      deadlineMs,
      probeStartedMs,
      signal,
    };
    // Most probes (a batch's, whose controls were probed once for all) have no control to run beside.
    observations =
      controlsToProbe.length === 0
        ? [await probeTarget(targetOptions)]
        : await Promise.all([
            probeTarget(targetOptions),
            ...controlsToProbe.map((control) => probeControl(control, common)),
          ]);
  } finally {
    clearTimeout(timer);
    options.signal?.removeEventListener('abort', onCallerAbort);
    unregisterStop?.();
  }
  const [target, ...controlTargets] = observations as [TargetObservation, ...TargetObservation[]];
  if (options.expect) judgeContent(target, options.expect);
  const controlResults: ControlResult[] =
    options.controlResults ?? controlTargets.map((observation) => controlResultOf(observation, thresholds));
  const verdict = classify({ target, controls: controlResults, thresholds });
  return {
    schemaVersion: 1,
    url: url.href,
    startedAt,
    durationMs: Math.round(performance.now() - probeStartedMs),
    timeoutMs,
    resolvers: resolvers.map(formatResolver),
    target,
    controls: controlResults,
    verdict,
    warnings: warningsOf(target),
  };
}

let isoSecond = Number.NaN;
let isoSecondPrefix = '';

/**
 * `new Date(ms).toISOString()`, with the date and time up to the second formatted once a second: a batch starts
 * hundreds of probes a second, and a Date and its formatting each time were about 1 % of a probe's CPU.
 */
export function isoTimestamp(ms: number): string {
  const second = Math.floor(ms / 1000);
  if (second !== isoSecond) {
    isoSecond = second;
    isoSecondPrefix = new Date(second * 1000).toISOString().slice(0, -4);
  }
  const millis = ms - second * 1000;
  return `${isoSecondPrefix}${millis < 10 ? '00' : millis < 100 ? '0' : ''}${millis}Z`;
}

/** The content checks, on the final answer when one came (a failed exchange is the network rules' to name). */
function judgeContent(target: TargetObservation, expect: ContentExpectations): void {
  const final = target.http?.hops.at(-1)?.exchange;
  if (final?.outcome !== 'response' || final.status === undefined) return;
  target.content = checkContent(expect, {
    url: final.url,
    status: final.status,
    responseMs: final.startedAtMs + final.timings.totalMs,
    body: capturedBodyOf(final),
    isBodyTruncated: final.isBodyTruncated,
  });
}

/** A control's observation judged on its own: reachable when it ended with an HTTP response. */
export function controlResultOf(
  observation: TargetObservation,
  thresholds: Thresholds = defaultThresholds,
): ControlResult {
  return {
    url: observation.url,
    isReachable: observation.http?.hops.at(-1)?.exchange.outcome === 'response',
    verdict: classify({ target: observation, controls: [], thresholds }),
    target: observation,
  };
}

/** What the target's probe and the controls' share: the target's options but its URL and its body keeping. */
type SharedProbeOptions = Omit<TargetProbeOptions, 'url' | 'isBodyKept'>;

/**
 * `T` with every field written out, the optional ones too (undefined when absent): an object literal of this type
 * cannot leave one out, so a field added to the options fails the type check until each literal carries it.
 */
type EveryField<T> = { [K in keyof Required<T>]: T[K] };

/** A control is probed like the target, but a policy refusal of a control is a failed control, not an error. */
async function probeControl(url: URL, common: SharedProbeOptions): Promise<TargetObservation> {
  try {
    return await probeTarget({ ...common, url });
  } catch (error) {
    if (!(error instanceof TargetRefusedError)) throw error;
    return {
      url: url.href,
      scheme: url.protocol === 'https:' ? 'https' : 'http',
      host: url.hostname,
      port: Number(url.port) || (url.protocol === 'https:' ? 443 : 80),
      isIpLiteral: net.isIP(url.hostname) !== 0,
      dns: null,
      tcp: [],
      tls: null,
      http: null,
      differential: null,
      notes: [error.message],
    };
  }
}
