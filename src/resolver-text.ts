// The one reading of a resolver as text: "IP", "IPv4:PORT" or "[IPv6]:PORT" (port 1..65535, default 53).
import { isIP } from 'node:net';
import type { ResolverSpec } from './types.js';

export const resolverTextFormat = 'IP, IP:PORT or [IPv6]:PORT';

const defaultDnsPort = 53;

/** Why a text is not a resolver: its shape, its address, or its port. */
export type ResolverTextProblem = 'shape' | 'address' | 'port';

export type ResolverTextReading =
  | { isResolver: true; resolver: ResolverSpec }
  | { isResolver: false; problem: ResolverTextProblem };

/**
 * Reads a resolver written as text. Only the characters of an address are accepted (no zone id such as %eth0,
 * no spaces); brackets hold an IPv6 address only, the way URLs write them.
 */
export function readResolverText(text: string): ResolverTextReading {
  const bracketed = /^\[([^\]]*)\](?::(.*))?$/.exec(text);
  if (bracketed) return readParts(bracketed[1] ?? '', bracketed[2], 6);
  if (isAddressText(text) && isIP(text) === 6) return readParts(text, undefined, 6);
  const [host, port, ...rest] = text.split(':');
  if (rest.length > 0) return { isResolver: false, problem: 'shape' };
  return readParts(host ?? '', port, 4);
}

/** The same reading, for callers that only ask yes or no (the request and settings schemas). */
export function isResolverText(text: string): boolean {
  return readResolverText(text).isResolver;
}

/**
 * The same reading, throwing `fail(message)` when the text is not a resolver. The engine passes its InputError,
 * so a bad --resolver or job resolver is named the way every other bad input is.
 */
export function parseResolverText(
  text: string,
  fail: (message: string) => Error = (message) => new Error(message),
): ResolverSpec {
  const reading = readResolverText(text);
  if (reading.isResolver) return reading.resolver;
  throw fail(resolverProblemMessage(text, reading.problem));
}

export function resolverProblemMessage(text: string, problem: ResolverTextProblem): string {
  const quoted = JSON.stringify(text);
  if (problem === 'shape') return `resolver ${quoted} is not IP[:PORT]`;
  if (problem === 'address') return `resolver ${quoted} must be an IP address, optionally with :PORT`;
  return `resolver ${quoted} has an invalid port`;
}

function readParts(host: string, portText: string | undefined, family: 4 | 6): ResolverTextReading {
  if (!isAddressText(host) || isIP(host) !== family) return { isResolver: false, problem: 'address' };
  if (portText === undefined) return { isResolver: true, resolver: { host, port: defaultDnsPort } };
  const port = Number(portText);
  if (!/^\d{1,5}$/.test(portText) || port < 1 || port > 65535) return { isResolver: false, problem: 'port' };
  return { isResolver: true, resolver: { host, port } };
}

function isAddressText(text: string): boolean {
  return /^[0-9A-Fa-f:.]+$/.test(text);
}
