// Extended DNS Errors (RFC 8914): the reason a resolver attaches to its reply, read from the reply's EDNS option.
import type { DecodedPacket } from 'dns-packet';
import type { DnsExtendedError } from '../types.js';

/** The EDNS option code of an Extended DNS Error. */
const extendedErrorOption = 15;

/** What a resolver writes as EXTRA-TEXT is its own: kept short in a report. */
const maxTextChars = 200;

/** The names of the IANA registry's INFO-CODEs ("Extended DNS Error Codes"). */
const registry: readonly string[] = [
  'Other Error',
  'Unsupported DNSKEY Algorithm',
  'Unsupported DS Digest Type',
  'Stale Answer',
  'Forged Answer',
  'DNSSEC Indeterminate',
  'DNSSEC Bogus',
  'Signature Expired',
  'Signature Not Yet Valid',
  'DNSKEY Missing',
  'RRSIGs Missing',
  'No Zone Key Bit Set',
  'NSEC Missing',
  'Cached Error',
  'Not Ready',
  'Blocked',
  'Censored',
  'Filtered',
  'Prohibited',
  'Stale NXDomain Answer',
  'Not Authoritative',
  'Not Supported',
  'No Reachable Authority',
  'Network Error',
  'Invalid Data',
  'Signature Expired before Valid',
  'Too Early',
  'Unsupported NSEC3 Iterations Value',
  'Unable to conform to policy',
  'Synthesized',
  'Invalid Query Type',
];

type Additional = { type?: string; options?: { code?: number; data?: Buffer }[] };

/** The Extended DNS Errors in a reply's OPT record, in the order sent; none without EDNS. */
export function extendedErrorsOf(packet: DecodedPacket): DnsExtendedError[] {
  const errors: DnsExtendedError[] = [];
  for (const record of (packet.additionals ?? []) as Additional[]) {
    if (record.type !== 'OPT') continue;
    for (const option of record.options ?? []) {
      const data = option.data;
      if (option.code !== extendedErrorOption || !data || data.length < 2) continue;
      const code = data.readUInt16BE(0);
      const error: DnsExtendedError = { code };
      const name = registry[code];
      if (name !== undefined) error.name = name;
      // EXTRA-TEXT is UTF-8 and may end in a NUL some servers add; control characters are not for a report.
      const text = data
        .subarray(2)
        .toString('utf8')
        .replace(/\p{Cc}/gu, ' ')
        .trim()
        .slice(0, maxTextChars);
      if (text !== '') error.text = text;
      errors.push(error);
    }
  }
  return errors;
}
