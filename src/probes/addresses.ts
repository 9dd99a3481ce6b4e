// Address facts: bogon ranges (via ipaddr.js) and names that are local by design.
import { createRequire } from 'node:module';
import type { IPv4 } from 'ipaddr.js';

// CommonJS, loaded with require rather than import: no export lexing at start-up (docs/architecture.md).
const ipaddr = createRequire(import.meta.url)('ipaddr.js') as typeof import('ipaddr.js');

/** ipaddr.js range names that are not globally routable unicast space. */
const bogonRanges = new Set([
  'unspecified',
  'broadcast',
  'multicast',
  'linkLocal',
  'loopback',
  'carrierGradeNat',
  'private',
  'reserved',
  'uniqueLocal',
  'benchmarking',
  'amt',
  'as112',
  'deprecated',
  'orchid2',
  'droneRemoteIdProtocolEntityTags',
]);

/** Documentation ranges are bogons on the Internet, but our own test labs live in them. */
const documentationRanges = new Set(['192.0.2.0/24', '198.51.100.0/24', '203.0.113.0/24']);

/**
 * A bogon is an address no public name should resolve to: private, loopback, link-local, CGNAT,
 * multicast, reserved, unspecified (RFC 6890). The IPv4 documentation ranges are left out on purpose
 * (they are what test networks, ours included, use).
 */
export function isBogon(address: string): boolean {
  if (!ipaddr.isValid(address)) return false;
  const parsed = ipaddr.process(address);
  if (parsed.kind() === 'ipv4') {
    for (const cidr of documentationRanges) {
      if (parsed.match(ipaddr.parseCIDR(cidr) as [IPv4, number])) return false;
    }
  }
  return bogonRanges.has(parsed.range());
}

/** Names for which a private or loopback answer is expected, not suspicious. */
export function isLocalName(name: string): boolean {
  const lower = name.toLowerCase().replace(/\.$/, '');
  return (
    lower === 'localhost' ||
    /\.(localhost|local|internal|lan|home\.arpa|intranet|corp|private)$/.test(lower) ||
    !lower.includes('.')
  );
}
