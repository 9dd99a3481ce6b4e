// Reading DNS answers: records as observations, addresses of one type, and CNAME chains.
import type dnsPacket from 'dns-packet';
import type { DnsAnswer, DnsRecordType } from '../types.js';

export const maxCnameHops = 8;

export function toAnswer(record: dnsPacket.Answer): DnsAnswer {
  const data = 'data' in record ? record.data : undefined;
  return {
    name: record.name,
    type: record.type,
    ttlSeconds: 'ttl' in record && typeof record.ttl === 'number' ? record.ttl : 0,
    data: typeof data === 'string' ? data : JSON.stringify(data ?? null),
  };
}

/** The answer records with string data (addresses, CNAME targets), the only ones we read. */
interface SimpleRecord {
  name: string;
  type: string;
  data: string;
}

function simpleRecords(packet: dnsPacket.DecodedPacket): SimpleRecord[] {
  return (packet.answers ?? []).flatMap((record) =>
    'data' in record && typeof record.data === 'string'
      ? [{ name: record.name, type: record.type, data: record.data }]
      : [],
  );
}

export function addressesOf(packet: dnsPacket.DecodedPacket, type: DnsRecordType): string[] {
  return simpleRecords(packet)
    .filter((record) => record.type === type)
    .map((record) => record.data);
}

/** Walks the CNAME chain inside one answer section from the queried name. */
export function followCnames(
  packet: dnsPacket.DecodedPacket,
  name: string,
  type: DnsRecordType,
): { addresses: string[]; cnames: string[]; finalName: string } {
  const records = simpleRecords(packet);
  const cnames: string[] = [];
  let current = name.toLowerCase().replace(/\.$/, '');
  for (let hop = 0; hop < maxCnameHops; hop++) {
    const cname = records.find(
      (record) => record.type === 'CNAME' && record.name.toLowerCase().replace(/\.$/, '') === current,
    );
    if (!cname) break;
    current = cname.data.toLowerCase().replace(/\.$/, '');
    cnames.push(current);
  }
  const addresses = records
    .filter((record) => record.type === type && record.name.toLowerCase().replace(/\.$/, '') === current)
    .map((record) => record.data);
  // Some resolvers answer with addresses under a name we did not chase; take them if the chain found none.
  return {
    addresses: addresses.length > 0 ? addresses : addressesOf(packet, type),
    cnames,
    finalName: current,
  };
}
