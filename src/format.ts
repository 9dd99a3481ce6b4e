// Human-readable rendering of a report: the verdict first, then a phase-by-phase table.
import { describeConnect, describeDns, describeExchange, describeTls } from './diagnosis/describe.js';
import type { Report } from './types.js';

const colours = { red: 31, green: 32, yellow: 33, dim: 2, bold: 1 } as const;

export function renderReport(report: Report, useColour: boolean): string {
  const paint = (colour: keyof typeof colours, text: string) =>
    useColour ? `\u001b[${colours[colour]}m${text}\u001b[0m` : text;
  const { verdict, target } = report;
  const tone = verdict.cause === 'ok' ? 'green' : verdict.confidence < 0.5 ? 'yellow' : 'red';
  const lines = [
    `${paint(tone, paint('bold', verdict.cause.toUpperCase()))} ${verdict.code} (confidence ${verdict.confidence.toFixed(2)}): ${verdict.summary}`,
    '',
  ];
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
