// Which addresses a public prober may connect to: global unicast only, unless private targets are allowed.
import { createRequire } from 'node:module';
import type { IPv4, IPv6 } from 'ipaddr.js';

// CommonJS, loaded with require rather than import: no export lexing at start-up (docs/architecture.md).
const ipaddr = createRequire(import.meta.url)('ipaddr.js') as typeof import('ipaddr.js');

/** Returns a reason to refuse the address, or undefined when it may be connected to. */
export type AddressPolicy = (address: string) => string | undefined;

const refusedIpv4Ranges: Record<string, string> = {
  unspecified: 'an unspecified address (0.0.0.0/8)',
  broadcast: 'the broadcast address',
  multicast: 'a multicast address',
  linkLocal: 'a link-local address (169.254.0.0/16, cloud metadata lives here)',
  loopback: 'a loopback address',
  carrierGradeNat: 'a carrier-grade NAT address (100.64.0.0/10)',
  private: 'a private address (RFC 1918)',
  reserved: 'a reserved or documentation address',
  as112: 'an AS112 address',
  amt: 'an AMT relay address',
};

const refusedIpv6Ranges: Record<string, string> = {
  unspecified: 'the unspecified address (::)',
  linkLocal: 'a link-local address (fe80::/10)',
  multicast: 'a multicast address',
  loopback: 'the loopback address (::1)',
  uniqueLocal: 'a unique-local address (fc00::/7)',
  deprecatedSiteLocal: 'a site-local address (fec0::/10)',
  discard: 'a discard-only address (100::/64)',
  rfc6145: 'an IPv4-translated address',
  teredo: 'a Teredo tunnel address',
  benchmarking: 'a benchmarking address',
  amt: 'an AMT address',
  as112v6: 'an AS112 address',
  deprecatedOrchid: 'an ORCHID address',
  orchid2: 'an ORCHIDv2 address',
  droneRemoteIdProtocolEntityTags: 'a DRIP address',
  segmentRouting: 'a segment-routing address',
  reserved: 'a reserved or documentation address',
};

/** Why the address must not be connected to by a public prober, or undefined when it is global unicast. */
export function refusalReason(address: string): string | undefined {
  const text = address.trim();
  if (!ipaddr.isValid(text)) return `"${address}" is not an IP address`;
  const parsed = ipaddr.parse(text);
  if (parsed.kind() === 'ipv4') return ipv4Reason(parsed as IPv4, address);
  return ipv6Reason(parsed as IPv6, address);
}

function ipv4Reason(ip: IPv4, original: string): string | undefined {
  const range = ip.range();
  if (range === 'unicast') return undefined;
  const spelled = original === ip.toString() ? original : `${original} (${ip.toString()})`;
  return `${spelled} is ${refusedIpv4Ranges[range] ?? `in the ${range} range`}`;
}

function ipv6Reason(ip: IPv6, original: string): string | undefined {
  const range = ip.range();
  // Forms that carry an IPv4 address are judged by that address: ::ffff:a.b.c.d, 64:ff9b::/96, 2002::/16.
  if (range === 'ipv4Mapped') return embeddedReason(ip.toIPv4Address(), original);
  if (range === 'rfc6052') return embeddedReason(ipv4FromLastBits(ip), original);
  if (range === '6to4') {
    const parts = ip.parts;
    const embedded = new ipaddr.IPv4([
      (parts[1] ?? 0) >> 8,
      (parts[1] ?? 0) & 0xff,
      (parts[2] ?? 0) >> 8,
      (parts[2] ?? 0) & 0xff,
    ]);
    return embeddedReason(embedded, original);
  }
  const reason = refusedIpv6Ranges[range];
  if (reason !== undefined) return `${original} is ${reason}`;
  if (ip.parts.slice(0, 6).every((part) => part === 0)) {
    return `${original} is an IPv4-compatible IPv6 address (::/96)`;
  }
  if (range !== 'unicast') return `${original} is in the ${range} range`;
  // Only 2000::/3 is allocated as global unicast; anything else is not a public host.
  if (!ip.match(ipaddr.IPv6.parse('2000::'), 3)) return `${original} is outside global unicast (2000::/3)`;
  return undefined;
}

function embeddedReason(embedded: IPv4, original: string): string | undefined {
  const reason = ipv4Reason(embedded, embedded.toString());
  return reason === undefined ? undefined : `${original} embeds ${reason}`;
}

function ipv4FromLastBits(ip: IPv6): IPv4 {
  const high = ip.parts[6] ?? 0;
  const low = ip.parts[7] ?? 0;
  return new ipaddr.IPv4([high >> 8, high & 0xff, low >> 8, low & 0xff]);
}

/** The policy handed to the engine as `isAddressAllowed`. */
export function createAddressPolicy(options: { isPrivateAllowed: boolean }): AddressPolicy {
  if (options.isPrivateAllowed) return () => undefined;
  return refusalReason;
}
