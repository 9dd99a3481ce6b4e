// The fixed-width record of one monitor run in the history ring: what stays exact for every run kept.
import type { HistoryEntry } from '../records.js';

/**
 * Bytes per run. Layout, big-endian: 0–5 start (ms since the epoch), 6–8 schedule lag (start − scheduled, ms,
 * biased by 2^23; 0: not scheduled), 9 flags, 10 cause id, 11 code id, 12–15 the final HTTP status (top 10
 * bits, 0: none) and the duration (low 22 bits, ms), 16 fingerprint of the details (warnings, vantages,
 * certificate), 17–18 sequence number (written by the store's script: it names the run's full entry when one is
 * kept). 19 bytes: 1440 runs and the header fit jemalloc's 28 KiB size class.
 */
export const recordBytes = 19;
export const ringHeaderBytes = 16;

export const flagBits = {
  /** Health: bits 0–1 (0 up, 1 degraded, 2 down); trigger: bits 2–3 (0 schedule, 1 recheck, 2 manual). */
  maintenance: 0x10,
  /** The run's full entry is kept beside the ring (a change of state, or a run the record cannot hold). */
  hasDetail: 0x20,
  /** The record cannot hold this run exactly (an unknown code, an out-of-range value): its entry is never dropped. */
  mustKeep: 0x40,
  /** What a change of state compares: health and maintenance. */
  stateMask: 0x13,
} as const;

// Persisted ids: append only, never reorder or remove (records written today are read by every later version).
// Id 0 is "not in the table": such a run is kept as its full entry. A test checks every verdict code is here.
const storedCauses = [
  '',
  'ok',
  'dns_failure',
  'server_fault',
  'local_network',
  'overload',
  'domain_migration',
  'filtered_path',
  'refused',
];
const storedCodes = [
  '',
  'local.no_route',
  'local.controls_unreachable',
  'local.dns_unreachable',
  'local.captive_portal',
  'dns.tampered',
  'dns.nxdomain_rewritten',
  'dns.nxdomain_disagreement',
  'dns.nxdomain',
  'dns.servfail',
  'dns.refused',
  'dns.nodata',
  'dns.timeout',
  'dns.redirect_target',
  'tcp.refused',
  'tcp.unreachable',
  'tcp.timeout',
  'tcp.error',
  'tcp.redirect_target',
  'filter.blackhole',
  'filter.sni_reset',
  'filter.sni_drop',
  'filter.keyword_reset',
  'filter.keyword_drop',
  'filter.block_page',
  'filter.http_451',
  'filter.injected_response',
  'filter.forged_page',
  'tls.handshake_failed',
  'tls.cert_expired',
  'tls.cert_not_yet_valid',
  'tls.cert_name_mismatch',
  'tls.untrusted',
  'http.redirect_loop',
  'http.redirect_invalid',
  'http.gone',
  'http.redirect_offsite',
  'http.reset',
  'http.empty_reply',
  'http.timeout',
  'http.body_timeout',
  'http.protocol_error',
  'path.mtu_blackhole',
  'http.challenge',
  'http.auth_required',
  'http.forbidden',
  'http.unavailable',
  'http.rate_limited',
  'http.server_error',
  'http.slow_first_byte',
  'http.client_error',
  'http.ok',
  'probe.incomplete',
  'vantage.all_local_networks_failed',
  'vantage.none_completed',
  'vantage.undetermined',
  'vantage.below_quorum',
  'vantage.none_live',
  'policy.refused',
  'input.invalid',
  'content.status_unexpected',
  'content.body_missing',
  'content.body_forbidden',
  'content.json_mismatch',
  'content.too_slow',
  'tls.cert_chain_incomplete',
  'tls.version_or_cipher_mismatch',
  'tls.unrecognized_name',
  'tls.not_tls',
  'tls.client_cert_required',
  'local.resources_exhausted',
  'http.body_cut',
  'dns.truncated_tcp_failed',
  'dns.dangling_cname',
  'local.no_ipv6_route',
  'filter.dns_blocked',
  'dns.dnssec_invalid',
];
export const storedCodeTable: readonly string[] = storedCodes;
export const storedCauseTable: readonly string[] = storedCauses;

const causeIds = new Map(storedCauses.map((cause, id) => [cause, id]));
const codeIds = new Map(storedCodes.map((code, id) => [code, id]));
const healths = ['up', 'degraded', 'down'] as const;
const triggers = ['schedule', 'recheck', 'manual'] as const;
const lagBias = 2 ** 23;
const maxUint24 = 2 ** 24 - 1;
const maxStatus = 2 ** 10 - 1;
const maxDurationMs = 2 ** 22 - 1;

/** A decoded record: every field the ring keeps for a run. */
export interface RunRecord {
  atMs: number;
  scheduledAtMs?: number;
  trigger: HistoryEntry['trigger'];
  health: HistoryEntry['health'];
  isMaintenance: boolean;
  hasDetail: boolean;
  mustKeep: boolean;
  cause: string;
  code: string;
  status?: number;
  durationMs: number;
  sequence: number;
}

function isUint(value: number, max: number): boolean {
  return Number.isInteger(value) && value >= 0 && value <= max;
}

/** A byte that changes when the run's details (warnings, vantages, certificate) change: such a run is kept whole. */
export function detailFingerprint(entry: HistoryEntry): number {
  const text = JSON.stringify([entry.warnings ?? [], entry.vantages ?? [], entry.certificateNotAfter ?? '']);
  let hash = 0x811c9dc5;
  for (let index = 0; index < text.length; index += 1) {
    hash = Math.imul(hash ^ text.charCodeAt(index), 0x01000193) >>> 0;
  }
  return (hash ^ (hash >>> 8) ^ (hash >>> 16) ^ (hash >>> 24)) & 0xff;
}

/**
 * The record of a run (its sequence number left 0 for the store's script to fill). A value the record cannot
 * hold exactly is written as 0 and the record marked mustKeep: the run's full entry is then kept beside it.
 */
export function encodeRun(entry: HistoryEntry): Buffer {
  const record = Buffer.alloc(recordBytes);
  const atMs = Date.parse(entry.at);
  let isExact = isUint(atMs, 2 ** 48 - 1) && new Date(atMs).toISOString() === entry.at;
  if (isExact) record.writeUIntBE(atMs, 0, 6);
  if (entry.scheduledAt !== undefined) {
    const scheduledAtMs = Date.parse(entry.scheduledAt);
    const biased = atMs - scheduledAtMs + lagBias;
    const fits =
      isUint(biased, maxUint24) && biased > 0 && new Date(scheduledAtMs).toISOString() === entry.scheduledAt;
    if (fits) record.writeUIntBE(biased, 6, 3);
    isExact &&= fits;
  }
  const causeId = causeIds.get(entry.cause) ?? 0;
  const codeId = codeIds.get(entry.code) ?? 0;
  record[10] = causeId;
  record[11] = codeId;
  const status = entry.status ?? 0;
  const isStatusKept = isUint(status, maxStatus) && (entry.status === undefined || status > 0);
  const isDurationKept = isUint(entry.durationMs, maxDurationMs);
  record.writeUInt32BE((isStatusKept ? status : 0) * 2 ** 22 + (isDurationKept ? entry.durationMs : 0), 12);
  isExact &&= causeId > 0 && codeId > 0 && isStatusKept && isDurationKept;
  record[9] =
    healths.indexOf(entry.health) |
    (triggers.indexOf(entry.trigger) << 2) |
    (entry.isMaintenance ? flagBits.maintenance : 0) |
    (isExact ? 0 : flagBits.mustKeep);
  record[16] = detailFingerprint(entry);
  return record;
}

export function decodeRecord(ring: Buffer, offset: number): RunRecord {
  const flags = ring[offset + 9] ?? 0;
  const atMs = ring.readUIntBE(offset, 6);
  const biasedLag = ring.readUIntBE(offset + 6, 3);
  const statusAndDuration = ring.readUInt32BE(offset + 12);
  const status = Math.floor(statusAndDuration / 2 ** 22);
  return {
    atMs,
    ...(biasedLag > 0 ? { scheduledAtMs: atMs - (biasedLag - lagBias) } : {}),
    health: healths[flags & 0x03] ?? 'down',
    trigger: triggers[(flags >> 2) & 0x03] ?? 'schedule',
    isMaintenance: (flags & flagBits.maintenance) !== 0,
    hasDetail: (flags & flagBits.hasDetail) !== 0,
    mustKeep: (flags & flagBits.mustKeep) !== 0,
    cause: storedCauses[ring[offset + 10] ?? 0] ?? '',
    code: storedCodes[ring[offset + 11] ?? 0] ?? '',
    ...(status > 0 ? { status } : {}),
    durationMs: statusAndDuration % 2 ** 22,
    sequence: ring.readUInt16BE(offset + 17),
  };
}

/** The history entry a record stands for when no full entry is kept: no phases, warnings or vantages. */
export function entryOfRecord(record: RunRecord): HistoryEntry {
  return {
    at: new Date(record.atMs).toISOString(),
    ...(record.scheduledAtMs !== undefined
      ? { scheduledAt: new Date(record.scheduledAtMs).toISOString() }
      : {}),
    trigger: record.trigger,
    health: record.health,
    isMaintenance: record.isMaintenance,
    cause: record.cause,
    code: record.code,
    ...(record.status !== undefined ? { status: record.status } : {}),
    durationMs: record.durationMs,
    phasesMs: {},
  };
}

/** The records of a ring (header and slots) in the order they were written, oldest first. */
export function recordsOfRing(ring: Buffer): RunRecord[] {
  if (ring.length < ringHeaderBytes) return [];
  const width = ring[2] ?? recordBytes;
  const nextSlot = ring.readUInt32BE(4);
  const count = ring.readUInt32BE(8);
  const capacity = Math.floor((ring.length - ringHeaderBytes) / width);
  const first = count >= capacity ? nextSlot : 0;
  const records: RunRecord[] = [];
  for (let index = 0; index < Math.min(count, capacity); index += 1) {
    const slot = (first + index) % capacity;
    records.push(decodeRecord(ring, ringHeaderBytes + slot * width));
  }
  return records;
}
