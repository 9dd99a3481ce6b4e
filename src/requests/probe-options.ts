// A probe request plus the operator's defaults, as the engine's options: the one place the worker and the monitor
// runner turn what they were asked into what the engine runs.
import { type ProbeOptions, parseResolver } from '../engine.js';
import type { ContentExpectations } from '../types.js';

/** The operator's settings for every probe (PROBE_* variables), where a request says nothing. */
export interface ProbeDefaults {
  resolvers: string[];
  controls: string[];
  timeoutMs: number;
  maxRedirects: number;
  maxBodyBytes: number;
  /** Extra trust anchors (PEM), for sites whose certificates a private CA issues. */
  ca?: string[];
}

/** What a request (a probe job, a monitor) may ask of one probe. */
export interface ProbeOptionsRequest {
  url: string;
  resolvers?: readonly string[] | undefined;
  controls?: readonly string[] | undefined;
  timeoutMs?: number | undefined;
  /** Content checks on the final answer (a monitor's `expect`). */
  expect?: ContentExpectations | undefined;
  /** A first byte at least this late is slow, however far the site is (a monitor's setting). */
  slowFirstByteMs?: number | undefined;
}

/**
 * The engine's options for a request: its resolvers (or the defaults' when it names none), its controls and
 * deadline (or the defaults'), and the operator's redirect and body limits. A resolver that is not
 * IP[:PORT] throws the engine's InputError, which callers report as invalid input.
 */
export function probeOptionsFrom(request: ProbeOptionsRequest, defaults: ProbeDefaults): ProbeOptions {
  const resolverTexts =
    request.resolvers && request.resolvers.length > 0 ? request.resolvers : defaults.resolvers;
  return {
    url: request.url,
    ...(resolverTexts.length > 0 ? { resolvers: resolverTexts.map((text) => parseResolver(text)) } : {}),
    controls: [...(request.controls ?? defaults.controls)],
    timeoutMs: request.timeoutMs ?? defaults.timeoutMs,
    maxRedirects: defaults.maxRedirects,
    maxBodyBytes: defaults.maxBodyBytes,
    ...(defaults.ca ? { ca: defaults.ca } : {}),
    ...(request.expect ? { expect: request.expect } : {}),
    // The operator's threshold is an absolute promise: slower is degraded however far away the site is, so the
    // engine's "far above the round trip" condition (meant for its default) is switched off.
    ...(request.slowFirstByteMs !== undefined
      ? { thresholds: { slowFirstByteMs: request.slowFirstByteMs, slowFirstByteRatio: 0 } }
      : {}),
  };
}
