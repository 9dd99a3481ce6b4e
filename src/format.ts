// Human-readable rendering of reports: the verdict first, then a phase-by-phase table (one column per vantage
// for a probe from several).
import { describeConnect, describeDns, describeExchange, describeTls } from './diagnosis/describe.js';
import type { MultiVantageReport, Report, VantageResult, Verdict } from './types.js';

const colours = { red: 31, green: 32, yellow: 33, dim: 2, bold: 1 } as const;
type Paint = (colour: keyof typeof colours, text: string) => string;

function painter(useColour: boolean): Paint {
  return (colour, text) => (useColour ? `\u001b[${colours[colour]}m${text}\u001b[0m` : text);
}

function toneOf(verdict: Verdict): keyof typeof colours {
  return verdict.cause === 'ok' ? 'green' : verdict.confidence < 0.5 ? 'yellow' : 'red';
}

function verdictLine(verdict: Verdict, paint: Paint): string {
  return `${paint(toneOf(verdict), paint('bold', verdict.cause.toUpperCase()))} ${verdict.code} (confidence ${verdict.confidence.toFixed(2)}): ${verdict.summary}`;
}

export function renderReport(report: Report, useColour: boolean): string {
  const paint = painter(useColour);
  const { target } = report;
  const lines = [verdictLine(report.verdict, paint), ''];
  // Reports stored before warnings existed have none.
  for (const warning of report.warnings ?? []) lines.push(paint('yellow', `warning: ${warning.summary}`));
  if (report.warnings?.length) lines.push('');
  const rows: [string, string, string][] = [];
  if (target.dns) {
    const latencies = target.dns.resolvers.flatMap((resolver) => resolver.queries.map((q) => q.latencyMs));
    describeDns(target.dns).forEach((line, index) => {
      rows.push(['dns', `${latencies[index] ?? ''} ms`, line.replace(/^dns: /, '')]);
    });
  }
  for (const outcome of target.tcp) {
    const time = outcome.kind === 'connected' ? outcome.connectMs : outcome.elapsedMs;
    rows.push(['tcp', `${time} ms`, describeConnect(outcome).replace(/^tcp: /, '')]);
  }
  if (target.tls)
    rows.push(['tls', `${target.tls.handshakeMs} ms`, describeTls(target.tls).replace(/^tls: /, '')]);
  target.http?.hops.forEach((hop, index) => {
    rows.push([
      index === 0 ? 'http' : `hop ${index}`,
      `${hop.exchange.timings.totalMs} ms`,
      describeExchange(hop.exchange).replace(/^http: /, ''),
    ]);
  });
  for (const step of target.differential?.steps ?? []) rows.push(['retry', '', step]);
  for (const control of report.controls) {
    rows.push(['control', '', `${control.url}: ${control.isReachable ? 'reachable' : control.verdict.code}`]);
  }
  for (const note of target.notes) rows.push(['note', '', note]);
  const phaseWidth = Math.max(...rows.map((row) => row[0].length), 5);
  const timeWidth = Math.max(...rows.map((row) => row[1].length), 4);
  lines.push(paint('dim', `${'phase'.padEnd(phaseWidth)}  ${'time'.padStart(timeWidth)}  outcome`));
  for (const [phase, time, text] of rows) {
    lines.push(`${phase.padEnd(phaseWidth)}  ${time.padStart(timeWidth)}  ${text}`);
  }
  lines.push(
    '',
    paint('dim', `total ${report.durationMs} ms · resolvers ${report.resolvers.join(', ') || 'none'}`),
  );
  return lines.join('\n');
}

/** Cells wider than this are cut, so that several vantages fit side by side. */
const cellWidth = 40;

/**
 * A probe from several vantages: one column per vantage (its status, verdict and what each phase saw), then the
 * verdict that compares them, with its evidence.
 */
export function renderVantageReport(report: MultiVantageReport, useColour: boolean): string {
  const paint = painter(useColour);
  const cut = (text: string) => (text.length > cellWidth ? `${text.slice(0, cellWidth - 1)}…` : text);
  const rows: Array<[string, string[]]> = [
    ['status', report.vantages.map((vantage) => vantage.status)],
    ['verdict', report.vantages.map(vantageVerdictCell)],
    ['dns', report.vantages.map((vantage) => (vantage.report ? dnsCell(vantage.report) : ''))],
    ['tcp', report.vantages.map((vantage) => (vantage.report ? tcpCell(vantage.report) : ''))],
    ['tls', report.vantages.map((vantage) => (vantage.report ? tlsCell(vantage.report) : ''))],
    ['http', report.vantages.map((vantage) => (vantage.report ? httpCell(vantage.report) : ''))],
    ['time', report.vantages.map((vantage) => (vantage.report ? `${vantage.report.durationMs} ms` : ''))],
  ];
  const header = report.vantages.map((vantage) => cut(vantage.name));
  const cells = rows.map(([phase, values]) => [phase, values.map(cut)] as const);
  const widths = header.map((name, column) =>
    Math.max(name.length, ...cells.map(([, values]) => (values[column] ?? '').length)),
  );
  const phaseWidth = Math.max(...rows.map(([phase]) => phase.length), 'vantage'.length);
  const line = (first: string, values: readonly string[]) =>
    [first.padEnd(phaseWidth), ...values.map((value, column) => value.padEnd(widths[column] ?? 0))]
      .join('  ')
      .trimEnd();
  const lines = [paint('dim', line('vantage', header))];
  for (const [phase, values] of cells) lines.push(line(phase, values));
  lines.push('', verdictLine(report.verdict, paint));
  for (const evidence of report.verdict.evidence) lines.push(paint('dim', `  ${evidence}`));
  lines.push('', paint('dim', `total ${report.durationMs} ms · ${report.vantages.length} vantages`));
  return lines.join('\n');
}

function vantageVerdictCell(vantage: VantageResult): string {
  if (vantage.report) return `${vantage.report.verdict.cause} ${vantage.report.verdict.code}`;
  return vantage.reason ?? '';
}

function dnsCell(report: Report): string {
  const { dns, isIpLiteral } = report.target;
  if (!dns) return isIpLiteral ? 'IP literal' : '-';
  if (dns.addresses.length > 0) return dns.addresses.join(' ');
  const failures = dns.resolvers.flatMap((resolver) => resolver.queries.map((query) => query.outcome));
  return [...new Set(failures)].join(', ') || 'no answer';
}

function tcpCell(report: Report): string {
  const connected = report.target.tcp.find((outcome) => outcome.kind === 'connected');
  if (connected?.kind === 'connected') return `${connected.address} connected ${connected.connectMs} ms`;
  const failed = report.target.tcp[0];
  if (!failed || failed.kind === 'connected') return '-';
  return `${failed.address} ${failed.kind.replace('_', ' ')}${failed.errno ? ` (${failed.errno})` : ''}`;
}

function tlsCell(report: Report): string {
  const { tls } = report.target;
  if (!tls) return '-';
  if (tls.outcome !== 'established') return `${tls.outcome}${tls.errno ? ` (${tls.errno})` : ''}`;
  return `${tls.protocol ?? 'TLS'}, ${tls.isTrusted ? 'trusted' : `not trusted: ${tls.verifyError}`}`;
}

function httpCell(report: Report): string {
  const hops = report.target.http?.hops ?? [];
  const last = hops[hops.length - 1]?.exchange;
  if (!last) return '-';
  const redirects = hops.length > 1 ? `${hops.length - 1} redirects, ` : '';
  if (last.outcome === 'response') return `${redirects}${last.status} ${last.statusText ?? ''}`.trimEnd();
  const errno = last.errno ? ` (${last.errno})` : '';
  const when = last.isRequestSent ? ' after the request' : ' before the request';
  return `${redirects}${last.outcome.replace('_', ' ')}${errno}${when}`;
}

/** The live vantages of `reach vantages`: name, labels, and how long ago each was last heard from. */
export function renderVantageList(
  vantages: Array<{ name: string; labels: Record<string, string>; lastSeenAt: string }>,
  nowMs = Date.now(),
): string {
  if (vantages.length === 0) return 'no live vantages';
  const rows = vantages.map((vantage) => {
    const labels = Object.entries(vantage.labels)
      .map(([key, value]) => `${key}=${value}`)
      .join(',');
    const agoSeconds = Math.max(0, Math.round((nowMs - Date.parse(vantage.lastSeenAt)) / 1000));
    return [vantage.name, labels || '-', `${agoSeconds} s ago (${vantage.lastSeenAt})`] as const;
  });
  const header = ['name', 'labels', 'last seen'] as const;
  const widths = [0, 1].map((column) =>
    Math.max(...[header, ...rows].map((row) => row[column]?.length ?? 0)),
  );
  return [header, ...rows]
    .map(
      ([name, labels, seen]) => `${name.padEnd(widths[0] ?? 0)}  ${labels.padEnd(widths[1] ?? 0)}  ${seen}`,
    )
    .join('\n');
}
