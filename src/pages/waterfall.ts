// A probe report as a waterfall: one row per DNS query, TCP attempt, TLS handshake, HTTP exchange, redirect
// hop, differential request and control, on one time axis from the probe's start, with how each ended.
import { escapeHtml } from '../monitor/status/text.js';
import {
  type ConnectOutcome,
  type DnsQueryResult,
  type HttpExchange,
  policyBlockCodes,
  type Report,
  type TargetObservation,
  type TlsObservation,
} from '../types.js';

export type SegmentKind = 'dns' | 'connect' | 'tls' | 'wait' | 'receive' | 'failed';
export type Section = 'dns' | 'tcp' | 'tls' | 'http' | 'redirect' | 'differential' | 'control';
/** How a row ended, when it did not end with an answer: the marks drawn at its end. */
export type EndKind = 'fin' | 'rst' | 'timeout' | 'refused' | 'unreachable' | 'rcode' | 'error';

export interface Segment {
  kind: SegmentKind;
  fromMs: number;
  toMs: number;
}

export interface WaterfallRow {
  section: Section;
  label: string;
  /** What happened, in words: shown under the label and in the table. */
  outcome: string;
  segments: Segment[];
  /** `mark` is the word drawn beside the mark when the kind's own word says too little (a DNS rcode). */
  end?: { atMs: number; kind: EndKind; words: string; mark?: string };
}

const sectionWords: Record<Section, string> = {
  dns: 'DNS',
  tcp: 'TCP',
  tls: 'TLS',
  http: 'HTTP',
  redirect: 'Redirect',
  differential: 'Differential',
  control: 'Control',
};

const endWords: Record<EndKind, string> = {
  fin: 'FIN',
  rst: 'RST',
  timeout: 'timeout',
  refused: 'refused',
  unreachable: 'unreachable',
  rcode: 'error code',
  error: 'error',
};

export function sectionName(section: Section): string {
  return sectionWords[section];
}

/** Where a row's bar ends: its end mark, else its last segment. */
export function rowEndMs(row: WaterfallRow): number {
  return Math.max(row.end?.atMs ?? 0, ...row.segments.map((segment) => segment.toMs));
}

function connectEnd(outcome: ConnectOutcome, atMs: number): WaterfallRow['end'] {
  const at = atMs + (outcome.kind === 'connected' ? outcome.connectMs : outcome.elapsedMs);
  switch (outcome.kind) {
    case 'connected':
    case 'not_attempted':
      return undefined;
    case 'reset':
      return { atMs: at, kind: 'rst', words: 'RST during the handshake' };
    case 'refused':
      return { atMs: at, kind: 'refused', words: 'RST to the SYN (refused)' };
    case 'timeout':
      return { atMs: at, kind: 'timeout', words: 'no answer to the SYN (timeout)' };
    case 'host_unreachable':
    case 'net_unreachable':
      return { atMs: at, kind: 'unreachable', words: outcome.kind.replace('_', ' ') };
    default:
      return { atMs: at, kind: 'error', words: outcome.errno ?? outcome.kind.replaceAll('_', ' ') };
  }
}

/** A query the resolver answered with an error code, or never answered: its rcode, or the timeout, marked. */
function dnsEnd(query: DnsQueryResult): WaterfallRow['end'] {
  const atMs = query.latencyMs;
  // A resolver that says it blocks the name (an Extended DNS Error): its NXDOMAIN or 0.0.0.0 is its policy.
  const block = query.extendedErrors?.find((error) => policyBlockCodes.has(error.code));
  if (block) {
    const answer =
      query.outcome === 'answer' ? query.addresses.join(', ') : (query.rcode ?? query.outcome).toUpperCase();
    return {
      atMs,
      kind: 'rcode',
      mark: 'BLOCKED',
      words: `${answer}: the resolver says it blocks the name (EDE ${block.code} ${block.name ?? ''}${block.text ? `: ${block.text}` : ''})`,
    };
  }
  switch (query.outcome) {
    case 'answer':
    case 'nodata':
      return undefined;
    case 'timeout':
      return { atMs, kind: 'timeout', words: 'no reply (timeout)' };
    case 'error':
      return { atMs, kind: 'error', words: `no answer (${query.errno ?? 'error'})` };
    default: {
      const rcode = (query.rcode ?? query.outcome).toUpperCase();
      return {
        atMs,
        kind: 'rcode',
        mark: rcode,
        words:
          query.outcome === 'nxdomain'
            ? 'NXDOMAIN: the name does not exist'
            : `the resolver answered ${rcode}`,
      };
    }
  }
}

function tlsEnd(tls: TlsObservation, atMs: number): WaterfallRow['end'] {
  const at = atMs + tls.handshakeMs;
  const sent = tls.bytesSent > 0 ? ' after the ClientHello' : '';
  switch (tls.outcome) {
    case 'established':
      return undefined;
    case 'reset':
      return { atMs: at, kind: 'rst', words: `RST${sent}` };
    case 'closed':
      return { atMs: at, kind: 'fin', words: `FIN with no reply${sent}` };
    case 'timeout':
      return { atMs: at, kind: 'timeout', words: `timeout${sent}` };
    default:
      return { atMs: at, kind: 'error', words: tls.verifyError ?? tls.errno ?? tls.outcome };
  }
}

/** The mark at the end of an exchange that got no complete answer: FIN, RST or a timeout, and when. */
export function exchangeEnd(exchange: HttpExchange): WaterfallRow['end'] {
  const atMs = exchange.startedAtMs + exchange.timings.totalMs;
  const after = exchange.isRequestSent ? ' after the request' : ' before the request';
  switch (exchange.outcome) {
    case 'response':
      return exchange.isBodyTruncated || exchange.errno
        ? { atMs, kind: exchange.errno === 'ECONNRESET' ? 'rst' : 'error', words: 'the body was cut off' }
        : undefined;
    case 'empty_reply':
      return { atMs, kind: 'fin', words: `FIN with no reply${after}` };
    case 'reset':
      return { atMs, kind: 'rst', words: `RST${after}` };
    case 'headers_timeout':
      return { atMs, kind: 'timeout', words: `timeout waiting for the response${after}` };
    case 'body_timeout':
      return { atMs, kind: 'timeout', words: 'timeout while the body was arriving' };
    case 'body_cut':
      return { atMs, kind: 'fin', words: 'FIN before the end of the body' };
    default:
      return {
        atMs,
        kind: 'error',
        words: `${exchange.outcome.replaceAll('_', ' ')}${exchange.errno ? ` (${exchange.errno})` : ''}`,
      };
  }
}

/**
 * The phases of one exchange. On a connection of its own, its connect and TLS come first (they are part of
 * its time); on the socket the probe already opened (the first hop), they were drawn as the TCP and TLS rows.
 * Waiting runs to the first byte, receiving to the end.
 */
export function exchangeSegments(exchange: HttpExchange, isSocketReused: boolean): Segment[] {
  const start = exchange.startedAtMs;
  const end = start + exchange.timings.totalMs;
  const segments: Segment[] = [];
  let at = start;
  const push = (kind: SegmentKind, lengthMs: number) => {
    const to = Math.min(end, at + Math.max(0, lengthMs));
    if (to > at) segments.push({ kind, fromMs: at, toMs: to });
    at = to;
  };
  if (!isSocketReused) {
    push('connect', exchange.timings.connectMs ?? 0);
    push('tls', exchange.timings.tlsMs ?? 0);
  }
  if (exchange.timings.firstByteMs !== undefined) {
    push('wait', exchange.timings.firstByteMs);
    push('receive', end - at);
  } else {
    push(exchange.outcome === 'response' ? 'wait' : 'failed', end - at);
  }
  return segments;
}

function exchangeOutcome(exchange: HttpExchange): string {
  const what = `Host ${exchange.hostHeader} → ${exchange.address}:${exchange.port}${exchange.path}`;
  if (exchange.outcome !== 'response') return `${what}: ${exchange.outcome.replaceAll('_', ' ')}`;
  const location = exchange.headers.location ? ` → ${exchange.headers.location}` : '';
  return `${what}: ${exchange.status ?? ''} ${exchange.statusText ?? ''}${location}`.trim();
}

function exchangeRow(section: Section, label: string, exchange: HttpExchange, isSocketReused = false) {
  const end = exchangeEnd(exchange);
  return {
    section,
    label,
    outcome: exchangeOutcome(exchange),
    segments: exchangeSegments(exchange, isSocketReused),
    ...(end ? { end } : {}),
  };
}

/** The TCP attempts begin when DNS ends (or at once for an IP literal), each after its Happy Eyeballs delay. */
function tcpRows(target: TargetObservation): WaterfallRow[] {
  const base = target.dns?.durationMs ?? 0;
  const used = target.tls?.address ?? target.http?.hops[0]?.exchange.address;
  return target.tcp.map((outcome) => {
    const start = base + (outcome.startedAfterMs ?? 0);
    const isUsed = outcome.kind === 'connected' && outcome.address === used;
    const words =
      outcome.kind === 'connected'
        ? `connected in ${outcome.connectMs} ms${isUsed ? '' : ' (Happy Eyeballs: not used)'}`
        : outcome.kind === 'not_attempted'
          ? 'not attempted'
          : `${outcome.kind.replaceAll('_', ' ')}${outcome.errno ? ` (${outcome.errno})` : ''} after ${outcome.elapsedMs} ms`;
    const length = outcome.kind === 'connected' ? outcome.connectMs : outcome.elapsedMs;
    const end = connectEnd(outcome, start);
    return {
      section: 'tcp' as const,
      label: `${outcome.address}:${outcome.port}`,
      outcome: words,
      segments: length > 0 ? [{ kind: 'connect' as const, fromMs: start, toMs: start + length }] : [],
      ...(end ? { end } : {}),
    };
  });
}

/** The TLS handshake starts when the connection it used was up. */
function tlsStartMs(target: TargetObservation): number {
  const base = target.dns?.durationMs ?? 0;
  const connected = target.tcp.find(
    (outcome) => outcome.kind === 'connected' && outcome.address === target.tls?.address,
  );
  return connected?.kind === 'connected'
    ? base + (connected.startedAfterMs ?? 0) + connected.connectMs
    : base;
}

function tlsRow(section: Section, label: string, tls: TlsObservation, startMs: number): WaterfallRow {
  const end = tlsEnd(tls, startMs);
  return {
    section,
    label,
    outcome:
      tls.outcome === 'established'
        ? `${tls.protocol ?? 'TLS'} in ${tls.handshakeMs} ms${tls.isTrusted ? '' : `, not trusted: ${tls.verifyError ?? '?'}`}`
        : `${tls.outcome}${tls.errno ? ` (${tls.errno})` : ''} after ${tls.handshakeMs} ms`,
    segments: tls.handshakeMs > 0 ? [{ kind: 'tls', fromMs: startMs, toMs: startMs + tls.handshakeMs }] : [],
    ...(end ? { end } : {}),
  };
}

function differentialRows(target: TargetObservation, tlsStart: number): WaterfallRow[] {
  const differential = target.differential;
  if (!differential) return [];
  if (differential.layer === 'http') {
    return [
      exchangeRow('differential', 'neutral request', differential.neutral),
      exchangeRow('differential', 'original again', differential.retry),
      ...(differential.small ? [exchangeRow('differential', 'small HEAD', differential.small)] : []),
    ];
  }
  // A TLS retry keeps no start time: drawn from the end of the handshake it retried (or beside it).
  const original = target.tls;
  const start = differential.isConcurrent || !original ? tlsStart : tlsStart + original.handshakeMs;
  return [
    tlsRow('differential', 'ClientHello without SNI', differential.neutral, start),
    tlsRow('differential', 'ClientHello again', differential.retry, start),
  ];
}

/** A control as one row: its DNS, connect, TLS and exchanges in a line, ending the way its last hop ended. */
function controlRow(url: string, target: TargetObservation, isReachable: boolean): WaterfallRow {
  const dnsMs = target.dns?.durationMs ?? 0;
  const segments: Segment[] = dnsMs > 0 ? [{ kind: 'dns', fromMs: 0, toMs: dnsMs }] : [];
  const connected = target.tcp.find((outcome) => outcome.kind === 'connected');
  if (connected?.kind === 'connected') {
    const start = dnsMs + (connected.startedAfterMs ?? 0);
    segments.push({ kind: 'connect', fromMs: start, toMs: start + connected.connectMs });
    if (target.tls) {
      const tlsStart = start + connected.connectMs;
      segments.push({ kind: 'tls', fromMs: tlsStart, toMs: tlsStart + target.tls.handshakeMs });
    }
  }
  const hops = target.http?.hops ?? [];
  for (const [index, hop] of hops.entries()) segments.push(...exchangeSegments(hop.exchange, index === 0));
  const last = hops.at(-1)?.exchange;
  const end = last
    ? exchangeEnd(last)
    : target.tls && target.tls.outcome !== 'established'
      ? tlsEnd(target.tls, tlsStartMs(target))
      : target.tcp[0]
        ? connectEnd(target.tcp[0], dnsMs)
        : undefined;
  return {
    section: 'control',
    label: url,
    outcome: isReachable ? `reachable: ${last?.status ?? ''}`.trim() : 'not reachable',
    segments,
    ...(end ? { end } : {}),
  };
}

/** Every row of a report, in the order the probe went. */
export function waterfallRows(report: Report): WaterfallRow[] {
  const { target } = report;
  const rows: WaterfallRow[] = [];
  for (const resolver of target.dns?.resolvers ?? []) {
    for (const query of resolver.queries) {
      const addresses = query.addresses.length > 0 ? ` ${query.addresses.join(', ')}` : '';
      const end = dnsEnd(query);
      rows.push({
        section: 'dns',
        label: `${resolver.resolver} ${query.type}`,
        outcome: `${query.outcome}${addresses} (${query.latencyMs} ms)`,
        segments: [{ kind: 'dns', fromMs: 0, toMs: query.latencyMs }],
        ...(end ? { end } : {}),
      });
    }
  }
  rows.push(...tcpRows(target));
  const tlsStart = tlsStartMs(target);
  if (target.tls) rows.push(tlsRow('tls', target.tls.servername ?? target.tls.address, target.tls, tlsStart));
  for (const [index, hop] of (target.http?.hops ?? []).entries()) {
    rows.push(exchangeRow(index === 0 ? 'http' : 'redirect', hop.exchange.url, hop.exchange, index === 0));
    const differential = hop.differential;
    if (index > 0 && differential?.layer === 'http') {
      rows.push(exchangeRow('differential', 'neutral request', differential.neutral));
      rows.push(exchangeRow('differential', 'original again', differential.retry));
    }
  }
  rows.push(...differentialRows(target, tlsStart));
  for (const control of report.controls)
    rows.push(controlRow(control.url, control.target, control.isReachable));
  return rows;
}

const width = 640;
const labelHeight = 16;
const barHeight = 12;
const rowHeight = labelHeight + barHeight + 10;
const axisHeight = 24;
const pad = 8;

function clipText(text: string, characters: number): string {
  return text.length > characters ? `${text.slice(0, characters - 1)}…` : text;
}

function niceStep(totalMs: number): number {
  const rough = totalMs / 5;
  const power = 10 ** Math.floor(Math.log10(Math.max(rough, 1)));
  return [1, 2, 5, 10].map((factor) => factor * power).find((step) => step >= rough) ?? power * 10;
}

/** The end mark: a cross for RST, a bar for FIN, a diamond for a timeout, a circle otherwise, and its word. */
function endMark(end: NonNullable<WaterfallRow['end']>, x: number, y: number) {
  const middle = y + barHeight / 2;
  const shape =
    end.kind === 'rst'
      ? `<path d="M${x - 5} ${middle - 5}L${x + 5} ${middle + 5}M${x - 5} ${middle + 5}L${x + 5} ${middle - 5}"/>`
      : end.kind === 'fin'
        ? `<path d="M${x} ${y - 2}V${y + barHeight + 2}M${x} ${middle}H${x + 6}"/>`
        : end.kind === 'timeout'
          ? `<path d="M${x} ${middle - 6}L${x + 6} ${middle}L${x} ${middle + 6}L${x - 6} ${middle}Z"/>`
          : `<circle cx="${x}" cy="${middle}" r="5"/>`;
  const isNearRight = x > width - 90;
  const text = `<text x="${isNearRight ? x - 9 : x + 9}" y="${middle + 4}" text-anchor="${isNearRight ? 'end' : 'start'}">${escapeHtml(end.mark ?? endWords[end.kind])}</text>`;
  return `<g class="end end-${end.kind}" data-end="${end.kind}"><title>${escapeHtml(end.words)} at ${Math.round(end.atMs)} ms</title>${shape}${text}</g>`;
}

/**
 * The rows as one SVG on one time axis: each row's label above its bar, the bar's segments coloured by phase
 * (through classes the page's style sheet themes), and the end mark where a row ended without an answer.
 */
export function renderWaterfall(
  rows: WaterfallRow[],
  options: { id: string; title: string; totalMs: number },
): string {
  const totalMs = Math.max(1, options.totalMs, ...rows.map(rowEndMs));
  const plotWidth = width - 2 * pad;
  const xOf = (ms: number) => Math.round((pad + (ms / totalMs) * plotWidth) * 10) / 10;
  const height = axisHeight + rows.length * rowHeight + 4;
  const step = niceStep(totalMs);
  const ticks: string[] = [];
  for (let ms = 0; ms <= totalMs; ms += step) {
    const x = xOf(ms);
    ticks.push(
      `<line class="tick" x1="${x}" y1="${axisHeight - 6}" x2="${x}" y2="${height}"/><text class="tick-label" x="${x}" y="${axisHeight - 10}" text-anchor="${ms === 0 ? 'start' : 'middle'}">${ms} ms</text>`,
    );
  }
  const body = rows.map((row, index) => {
    const y = axisHeight + index * rowHeight;
    const barY = y + labelHeight;
    const label = `${sectionName(row.section)} ${row.label}: ${row.outcome}`;
    const segments = row.segments
      .map(
        (segment) =>
          `<rect class="seg seg-${segment.kind}" x="${xOf(segment.fromMs)}" y="${barY}" width="${Math.max(1, xOf(segment.toMs) - xOf(segment.fromMs))}" height="${barHeight}"/>`,
      )
      .join('');
    const end = row.end ? endMark(row.end, xOf(row.end.atMs), barY) : '';
    return `<g class="row row-${row.section}" data-section="${row.section}"><title>${escapeHtml(label)}</title><text class="row-label" x="${pad}" y="${y + 12}">${escapeHtml(clipText(label, 84))}</text>${segments}${end}</g>`;
  });
  return `<svg class="waterfall" id="${escapeHtml(options.id)}" viewBox="0 0 ${width} ${height}" width="${width}" height="${height}" role="img" aria-labelledby="${escapeHtml(options.id)}-title"><title id="${escapeHtml(options.id)}-title">${escapeHtml(options.title)}</title>${ticks.join('')}${body.join('')}</svg>`;
}
