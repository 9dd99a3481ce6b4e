// A probe's result as HTML: the verdict in words, the waterfall (one lane per vantage), the evidence table.

import { causeInPlainWords } from '../monitor/run-result.js';
import { escapeHtml } from '../monitor/status/text.js';
import type { MultiVantageReport, Report, VantageResult, Verdict } from '../types.js';
import { renderWaterfall, rowEndMs, sectionName, waterfallRows } from './waterfall.js';

/** What the page is given for a probe id: the API's view of the job (GET /probe/:id), or nothing. */
export type ProbeLookup =
  | { status: 'queued' | 'active' }
  | { status: 'completed'; report: Report | MultiVantageReport; finishedAt?: string }
  | { status: 'failed'; error: { kind: string; reason: string } };

export function isMultiVantage(report: Report | MultiVantageReport): report is MultiVantageReport {
  return 'vantages' in report && Array.isArray(report.vantages);
}

function renderVerdict(verdict: Verdict, headingLevel: 2 | 3): string {
  const cause = causeInPlainWords[verdict.cause] ?? verdict.cause;
  const tag = `h${headingLevel}`;
  return `<div class="verdict verdict-${escapeHtml(verdict.cause)}" data-cause="${escapeHtml(verdict.cause)}">
      <${tag} class="verdict-cause">${escapeHtml(cause)}</${tag}>
      <p class="verdict-summary">${escapeHtml(verdict.summary)}</p>
      <dl class="verdict-facts">
        <div><dt>Code</dt><dd><code class="verdict-code">${escapeHtml(verdict.code)}</code></dd></div>
        <div><dt>Confidence</dt><dd>${Math.round(verdict.confidence * 100)}%</dd></div>
        <div><dt>Rule</dt><dd><code>${escapeHtml(verdict.rule)}</code></dd></div>
      </dl>
    </div>`;
}

function renderEvidence(evidence: string[], caption: string): string {
  if (evidence.length === 0) return '';
  const rows = evidence.map((line) => {
    const separator = line.indexOf(': ');
    const layer = separator > 0 && separator < 16 ? line.slice(0, separator) : '';
    const text = layer ? line.slice(separator + 2) : line;
    return `<tr><th scope="row">${escapeHtml(layer || '–')}</th><td>${escapeHtml(text)}</td></tr>`;
  });
  return `<div class="table-wrap"><table class="evidence"><caption>${escapeHtml(caption)}</caption><thead><tr><th scope="col">Layer</th><th scope="col">Observation</th></tr></thead><tbody>${rows.join('')}</tbody></table></div>`;
}

/** The waterfall of one report, with the same rows as a table for readers who do not see the picture. */
function renderLane(report: Report, id: string, name: string): string {
  const rows = waterfallRows(report);
  const totalMs = Math.max(report.durationMs, ...rows.map(rowEndMs));
  const svg = renderWaterfall(rows, {
    id,
    title: `Waterfall of the probe of ${report.url}${name ? ` from ${name}` : ''}: ${rows.length} rows over ${Math.round(totalMs)} ms`,
    totalMs,
  });
  const table = rows
    .map(
      (row) =>
        `<tr><th scope="row">${sectionName(row.section)}</th><td>${escapeHtml(row.label)}</td><td>${escapeHtml(row.outcome)}</td><td class="number">${Math.round(Math.min(...row.segments.map((segment) => segment.fromMs), row.end?.atMs ?? Number.POSITIVE_INFINITY)) || 0}</td><td class="number">${Math.round(rowEndMs(row))}</td><td>${escapeHtml(row.end?.words ?? '')}</td></tr>`,
    )
    .join('');
  // Focusable, so a keyboard can scroll the picture sideways where it is wider than its column.
  const region = `Waterfall${name ? ` from ${escapeHtml(name)}` : ''}`;
  return `<div class="lane-scroll" tabindex="0" role="region" aria-label="${region}">${svg}</div>
      <p class="legend" aria-hidden="true"><span class="key key-dns">DNS</span> <span class="key key-connect">connect</span> <span class="key key-tls">TLS</span> <span class="key key-wait">waiting</span> <span class="key key-receive">receiving</span> <span class="key key-failed">no answer</span> · ✕ RST · ⊢ FIN · ◇ timeout · ○ refused, unreachable or a DNS error</p>
      <details><summary>The waterfall as a table</summary><div class="table-wrap"><table class="phases"><thead><tr><th scope="col">Phase</th><th scope="col">What</th><th scope="col">Outcome</th><th scope="col" class="number">From (ms)</th><th scope="col" class="number">To (ms)</th><th scope="col">Ended with</th></tr></thead><tbody>${table}</tbody></table></div></details>`;
}

function renderWarnings(report: Report): string {
  if (report.warnings.length === 0) return '';
  const items = report.warnings
    .map((warning) => `<li><code>${escapeHtml(warning.code)}</code> ${escapeHtml(warning.summary)}</li>`)
    .join('');
  return `<section class="warnings" aria-labelledby="warnings"><h2 id="warnings">Warnings</h2><ul>${items}</ul></section>`;
}

function renderSingle(report: Report): string {
  return `<section class="card" aria-labelledby="verdict-heading"><h2 class="visually-hidden" id="verdict-heading">Verdict</h2>
    ${renderVerdict(report.verdict, 2)}
    <p class="meta">${escapeHtml(report.url)} · started ${escapeHtml(report.startedAt)} · ${Math.round(report.durationMs)} ms</p>
  </section>
  ${renderWarnings(report)}
  <section class="card" aria-labelledby="waterfall-heading">
    <h2 id="waterfall-heading">Waterfall</h2>
    <div class="lanes"><div class="lane" data-lane="${escapeHtml(report.url)}">${renderLane(report, 'waterfall-0', '')}</div></div>
  </section>
  <section class="card" aria-labelledby="evidence-heading">
    <h2 id="evidence-heading">Evidence</h2>
    ${renderEvidence(report.verdict.evidence, 'What the verdict rests on')}
  </section>`;
}

function renderVantageLane(vantage: VantageResult, index: number): string {
  const report = vantage.report;
  const body = report
    ? `${renderVerdict(report.verdict, 3)}${renderLane(report, `waterfall-${index}`, vantage.name)}`
    : `<p class="empty">No report: ${escapeHtml(vantage.status)}${vantage.reason ? ` (${escapeHtml(vantage.reason)})` : ''}.</p>`;
  return `<div class="lane" data-lane="${escapeHtml(vantage.name)}"><h3 class="lane-name">${escapeHtml(vantage.name)} <span class="summary">${escapeHtml(vantage.status)}</span></h3>${body}</div>`;
}

function renderMulti(report: MultiVantageReport): string {
  return `<section class="card" aria-labelledby="verdict-heading"><h2 class="visually-hidden" id="verdict-heading">Verdict across vantages</h2>
    ${renderVerdict(report.verdict, 2)}
    <p class="meta">${escapeHtml(report.url)} · from ${report.vantages.length} vantages · started ${escapeHtml(report.startedAt)} · ${Math.round(report.durationMs)} ms</p>
  </section>
  <section class="card" aria-labelledby="waterfall-heading">
    <h2 id="waterfall-heading">Waterfall per vantage</h2>
    <div class="lanes lanes-${Math.min(report.vantages.length, 3)}">${report.vantages.map(renderVantageLane).join('')}</div>
  </section>
  <section class="card" aria-labelledby="evidence-heading">
    <h2 id="evidence-heading">Evidence</h2>
    ${renderEvidence(report.verdict.evidence, 'What the comparison rests on')}
  </section>`;
}

/** The result as a fragment of a page: the finished report, or where the probe is, or why it failed. */
export function renderResult(lookup: ProbeLookup): string {
  if (lookup.status !== 'completed' && lookup.status !== 'failed')
    return `<section class="card pending" data-status="${lookup.status}"><h2>${lookup.status === 'queued' ? 'Waiting for a worker…' : 'Probing…'}</h2><p>This page updates when the result is ready.</p></section>`;
  if (lookup.status === 'failed')
    return `<section class="card failed" data-status="failed"><h2>The probe could not run</h2><p>${escapeHtml(lookup.error.reason)}</p></section>`;
  if (lookup.status !== 'completed') return '';
  const body = isMultiVantage(lookup.report) ? renderMulti(lookup.report) : renderSingle(lookup.report);
  return `<div data-status="completed">${body}</div>`;
}
