// What makes a parsed http(s) URL one that cannot be probed though it parses: shared by the engine's input check
// and the request schemas, so the API refuses it with a 400 rather than queueing a probe that blames the site.
import { isIP } from 'node:net';

/** The problem, worded to follow the field's name ("url names port 0 …"), or undefined. */
export function targetUrlProblem(url: URL): string | undefined {
  // Connecting to port 0 is refused by this machine's own kernel: the site would be blamed for a typo.
  if (url.port === '0') return 'names port 0, which no server listens on';
  const problem = hostNameProblem(url.hostname);
  return problem === undefined ? undefined : `has a host name ${problem}`;
}

/**
 * What keeps a host name from being asked of DNS (RFC 1035: labels of 1 to 63 octets, 253 in all), or undefined.
 * dns-packet writes a longer label's length modulo 256, so the query would ask for another name; an empty label
 * cannot be written at all. The URL parser has already turned the name to ASCII (punycode).
 */
function hostNameProblem(hostname: string): string | undefined {
  if (hostname.startsWith('[') || isIP(hostname) !== 0) return undefined;
  const name = hostname.endsWith('.') ? hostname.slice(0, -1) : hostname;
  if (name.length > 253) return 'longer than the 253 characters DNS allows';
  for (const label of name.split('.')) {
    if (label.length === 0) return 'with an empty label (two dots in a row)';
    if (label.length > 63) return 'with a label longer than the 63 characters DNS allows';
  }
  return undefined;
}
