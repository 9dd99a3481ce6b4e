// What every phase of a target probe shares: its options, the policy refusal, and URL helpers.
import { createRequire } from 'node:module';
import net from 'node:net';
import type { ResolverSpec } from '../types.js';
import { type DnsProbeResult, probeDns } from './dns.js';
import { remainingMs } from './util.js';

// CommonJS, loaded with require rather than import: no export lexing at start-up (docs/architecture.md).
const { getDomain } = createRequire(import.meta.url)('tldts') as typeof import('tldts');

export interface TargetProbeOptions {
  url: URL;
  resolvers: ResolverSpec[];
  ca?: string[];
  maxRedirects: number;
  maxBodyBytes: number;
  /** Keep the target's bodies for content checks (see ExchangeOptions.isBodyKept). */
  isBodyKept?: boolean;
  dnsInjectionWindowMs: number;
  isAddressAllowed?: (address: string) => string | undefined;
  /** performance.now() value by which everything must be done. */
  deadlineMs: number;
  probeStartedMs: number;
  signal: AbortSignal;
}

export class TargetRefusedError extends Error {
  readonly address: string;
  readonly reason: string;
  constructor(address: string, reason: string) {
    super(`refusing to probe ${address}: ${reason}`);
    this.name = 'TargetRefusedError';
    this.address = address;
    this.reason = reason;
  }
}

export function hostOf(url: URL): string {
  const host = url.hostname;
  return host.startsWith('[') ? host.slice(1, -1) : host;
}

export function defaultPort(url: URL): number {
  return url.port ? Number(url.port) : url.protocol === 'https:' ? 443 : 80;
}

export function registrableDomain(host: string): string | null {
  if (net.isIP(host)) return host;
  return getDomain(host, { allowPrivateDomains: true }) ?? host;
}

export function pathOf(url: URL): string {
  return `${url.pathname || '/'}${url.search}`;
}

/** Checks an address against the policy and throws: a refused target is not probed at all. */
export function enforcePolicy(address: string, options: TargetProbeOptions): void {
  const reason = options.isAddressAllowed?.(address);
  if (reason !== undefined) throw new TargetRefusedError(address, reason);
}

/** Resolves a name with the probe's resolvers, within its share of the budget. */
export async function resolve(host: string, options: TargetProbeOptions): Promise<DnsProbeResult> {
  const budget = remainingMs(options.deadlineMs, 1);
  return probeDns({
    name: host,
    resolvers: options.resolvers,
    // Two attempts per query must fit in about half the budget, leaving the rest for the other layers.
    attemptTimeoutMs: Math.max(50, Math.min(2000, Math.round(budget / 4))),
    injectionWindowMs: Math.min(options.dnsInjectionWindowMs, Math.round(budget / 4)),
    signal: options.signal,
  });
}
