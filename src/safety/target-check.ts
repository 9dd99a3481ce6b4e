// Submit-time checks of what a request asks us to contact, so refusable targets never reach the queue.
import { isIP } from 'node:net';
import { readResolverText, resolverTextFormat } from '../resolver-text.js';
import type { AddressPolicy } from './address-policy.js';

export interface TargetRefusal {
  field: string;
  /** The address (or loopback name) that was refused. */
  address: string;
  reason: string;
}

/** What a request names that we would send packets to: the target, its controls, its resolvers, webhooks. */
export interface RequestedTargets {
  url?: string | undefined;
  controls?: readonly string[] | undefined;
  resolvers?: readonly string[] | undefined;
  webhookUrls?: readonly string[] | undefined;
}

/**
 * The first thing in a request the policy refuses, in the order a person reads the request. The API calls it
 * at submit and every worker calls it again before acting on a job, because job data can be written by more
 * than the API (the queue dashboard, anything holding the Redis password).
 */
export function refuseTargets(targets: RequestedTargets, policy: AddressPolicy): TargetRefusal | undefined {
  const checks: Array<() => TargetRefusal | undefined> = [
    ...(targets.url === undefined ? [] : [() => checkTargetUrl(targets.url as string, policy, 'url')]),
    ...(targets.controls ?? []).map(
      (control, index) => () => checkTargetUrl(control, policy, `controls.${index}`),
    ),
    ...(targets.resolvers ?? []).map(
      (resolver, index) => () => checkResolver(resolver, policy, `resolvers.${index}`),
    ),
    ...(targets.webhookUrls ?? []).map(
      (url, index) => () => checkTargetUrl(url, policy, `webhooks.${index}.url`),
    ),
  ];
  for (const check of checks) {
    const refusal = check();
    if (refusal) return refusal;
  }
  return undefined;
}

/**
 * Checks a URL whose host is an IP literal (in any spelling WHATWG URL parsing accepts: decimal, octal, hex,
 * short forms, bracketed IPv6) or a name that is loopback by definition (localhost, *.localhost).
 * Names that resolve elsewhere are judged by the engine on every address it connects to.
 */
export function checkTargetUrl(
  text: string,
  policy: AddressPolicy,
  field: string,
): TargetRefusal | undefined {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return undefined; // not a URL at all: the request schema reports that
  }
  // WHATWG parsing has already rewritten 0x7f.1, 2130706433 and 0177.0.0.1 to 127.0.0.1.
  const host = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
  if (isIP(host) !== 0) {
    const reason = policy(host);
    return reason === undefined ? undefined : { field, address: host, reason: `${text}: ${reason}` };
  }
  const name = host.toLowerCase().replace(/\.$/, '');
  if (name === 'localhost' || name.endsWith('.localhost')) {
    const reason = policy('127.0.0.1');
    return reason === undefined
      ? undefined
      : { field, address: name, reason: `${text}: ${name} is a loopback name` };
  }
  return undefined;
}

/** A resolver given in a request is an address we would send packets to, so the same policy applies. */
export function checkResolver(text: string, policy: AddressPolicy, field: string): TargetRefusal | undefined {
  const reading = readResolverText(text);
  // Not a resolver at all: nothing to send packets to, and refused rather than guessed at.
  if (!reading.isResolver)
    return { field, address: text, reason: `resolver ${text} is not ${resolverTextFormat}` };
  const { host } = reading.resolver;
  const reason = policy(host);
  return reason === undefined ? undefined : { field, address: host, reason: `resolver ${text}: ${reason}` };
}
