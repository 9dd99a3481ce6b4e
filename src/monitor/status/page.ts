// The HTML status page: the summary first (overall state, counts, what is down, open incidents, groups), then
// one page of the monitors, filtered by group, state or name. Server-rendered, readable without scripts.
import { daysLeftOf } from '../certificate-expiry.js';
import { currentOrNextOccurrence, type RecurringWindow } from '../maintenance.js';
import type { MonitorState, VantageOutcome } from '../records.js';
import { causeInPlainWords } from '../run-result.js';
import type { Incident } from '../store.js';
import { type ComponentData, type StatusData, uptimeOf } from './data.js';
import {
  type ListingQuery,
  notOperationalShown,
  overviewOf,
  pageOf,
  queryText,
  type StatusOverview,
} from './listing.js';
import { liveScriptPath } from './live.js';
import { statusStyles } from './styles.js';
import { overallStatus } from './summary.js';
import { durationText, escapeHtml, msText, percentText, timeText } from './text.js';

export { escapeHtml } from './text.js';

export interface PageOptions {
  title: string;
  refreshSeconds: number;
}

/** Open incidents and resolved ones listed on the page before it points to the filter and the feed. */
const openIncidentsShown = 50;
const resolvedIncidentsShown = 20;
const groupsShown = 200;

const stateWords: Record<MonitorState, string> = {
  pending: 'Not checked yet',
  up: 'Operational',
  degraded: 'Degraded',
  down: 'Down',
  maintenance: 'Maintenance',
};

function dayClass(day: ComponentData['days'][number]): { name: string; words: string } {
  const checked = day.up + day.degraded + day.down;
  if (checked === 0)
    return day.maintenance > 0
      ? { name: 'maintenance', words: 'maintenance' }
      : { name: 'none', words: 'no data' };
  const uptime = uptimeOf(day) ?? 1;
  if (day.down > 0) return { name: 'down', words: `${percentText(uptime)} up, ${day.down} failed checks` };
  if (day.degraded > 0)
    return { name: 'degraded', words: `${percentText(uptime)} up, ${day.degraded} slow checks` };
  return { name: 'up', words: '100% up' };
}

/** The 90-day bar: a picture with a title per day, and one sentence for screen readers instead of 90 items. */
function renderBar(component: ComponentData): string {
  let downDays = 0;
  let slowDays = 0;
  const days = component.days
    .map((day) => {
      const kind = dayClass(day);
      if (kind.name === 'down') downDays += 1;
      if (kind.name === 'degraded') slowDays += 1;
      return `<li class="day day-${kind.name}" title="${day.day}: ${escapeHtml(kind.words)}"></li>`;
    })
    .join('');
  const words = `Last 90 days: ${downDays} ${downDays === 1 ? 'day' : 'days'} with failed checks, ${slowDays} with slow checks.`;
  return `<figure class="uptime"><ol class="bar" aria-hidden="true">${days}</ol><figcaption><span>90 days ago</span><span class="visually-hidden">${words}</span><span>Today</span></figcaption></figure>`;
}

function renderComponent(component: ComponentData, nowMs: number): string {
  const { monitor, status } = component;
  const last = status.lastRun;
  const cause = last ? (causeInPlainWords[last.cause] ?? last.cause) : 'No check has run yet';
  const group = monitor.group ? ` <span class="summary">· ${escapeHtml(monitor.group)}</span>` : '';
  return `
      <li class="monitor" id="monitor-${escapeHtml(monitor.id)}">
        <div class="monitor-head">
          <h3>${escapeHtml(monitor.name)}${group}</h3>
          <p class="badge state-${status.state}"><span class="visually-hidden">State: </span>${stateWords[status.state]}</p>
        </div>
        <p class="cause">${escapeHtml(cause)}${last && last.cause !== 'ok' ? ` <span class="summary">— ${escapeHtml(last.summary)}</span>` : ''}</p>${vantagesLine(last?.vantages)}${recurringMaintenanceLine(monitor.recurringMaintenance, nowMs)}
        <dl class="figures">
          <div><dt>Uptime 24 h</dt><dd>${percentText(component.uptime['24h'])}</dd></div>
          <div><dt>Uptime 30 days</dt><dd>${percentText(component.uptime['30d'])}</dd></div>
          <div><dt>Latency p50</dt><dd>${msText(component.latencyMs.p50)}</dd></div>
          <div><dt>Latency p95</dt><dd>${msText(component.latencyMs.p95)}</dd></div>${certificateFigure(last?.certificateNotAfter, nowMs)}
        </dl>
        ${renderBar(component)}
      </li>`;
}

function renderIncident(incident: Incident, nowMs: number): string {
  const isOpen = incident.resolvedAtMs === undefined;
  const cause = causeInPlainWords[incident.cause] ?? incident.cause;
  const duration = durationText((incident.resolvedAtMs ?? nowMs) - incident.openedAtMs);
  const when = isOpen
    ? `Since ${timeText(incident.openedAtMs)} (${duration} so far)`
    : `${timeText(incident.openedAtMs)} – ${timeText(incident.resolvedAtMs ?? 0)} (${duration})`;
  return `
      <li class="incident ${isOpen ? 'incident-open' : 'incident-resolved'}" id="incident-${escapeHtml(incident.id)}">
        <h3>${escapeHtml(incident.monitorName)}: ${isOpen ? (incident.shared ? 'ongoing' : 'down') : 'resolved'}</h3>
        <p class="when">${escapeHtml(when)}</p>
        <p><strong>Cause:</strong> ${escapeHtml(cause)}. ${escapeHtml(incident.summary)}</p>${renderShared(incident)}
      </li>`;
}

/** A shared incident (one cause, many monitors) says how many monitors it covers; their alerts were its own. */
function renderShared(incident: Incident): string {
  const { shared } = incident;
  if (!shared) return '';
  const where = shared.vantage === '@service' ? 'this service' : `vantage ${shared.vantage}`;
  const detail = [
    `${shared.monitorIds.length} monitors affected, seen from ${where}`,
    ...(shared.resolvers ? [`resolver ${shared.resolvers.join(', ')}`] : []),
    ...(shared.range ? [`range ${shared.range}`] : []),
  ].join('; ');
  return `\n        <p class="shared">${escapeHtml(detail)}.</p>`;
}

function renderIncidents(incidents: Incident[], nowMs: number, shown: number, empty: string, more: string) {
  if (incidents.length === 0) return `<p class="empty">${empty}</p>`;
  const list = incidents
    .slice(0, shown)
    .map((incident) => renderIncident(incident, nowMs))
    .join('');
  const rest = incidents.length - shown;
  return `<ul class="list">${list}\n    </ul>${rest > 0 ? `<p class="note">and ${rest} more: ${more}</p>` : ''}`;
}

function renderTotals(overview: StatusOverview): string {
  const figure = (label: string, value: string) => `<div><dt>${label}</dt><dd>${value}</dd></div>`;
  return `<dl class="totals" data-live="totals">${[
    figure('Monitors', String(overview.total)),
    figure('Down', String(overview.counts.down)),
    figure('Degraded', String(overview.counts.degraded)),
    figure('Maintenance', String(overview.counts.maintenance)),
    figure('Uptime 24 h', percentText(overview.uptime['24h'])),
    figure('Uptime 30 days', percentText(overview.uptime['30d'])),
  ].join('')}</dl>`;
}

function renderNotOperational(overview: StatusOverview): string {
  const rows = overview.notOperational.slice(0, notOperationalShown).map(({ monitor, status }) => {
    const last = status.lastRun;
    const cause = last ? (causeInPlainWords[last.cause] ?? last.cause) : '';
    return `<li><a href="status?q=${encodeURIComponent(monitor.name)}">${escapeHtml(monitor.name)}</a> <span class="badge state-${status.state}">${stateWords[status.state]}</span> <span class="summary">${escapeHtml(cause)}</span></li>`;
  });
  const rest = overview.notOperational.length - notOperationalShown;
  const more =
    rest > 0
      ? `<p class="note">and ${rest} more: <a href="status?state=down">all down</a>, <a href="status?state=degraded">all degraded</a>.</p>`
      : '';
  return `<ul class="list down-list">${rows.join('')}</ul>${more}`;
}

function renderGroups(overview: StatusOverview): string {
  const rows = overview.groups.slice(0, groupsShown).map((group) => {
    const name =
      group.name === null
        ? 'No group'
        : `<a href="status?group=${encodeURIComponent(group.name)}">${escapeHtml(group.name)}</a>`;
    return `<tr><th scope="row">${name}</th><td class="number">${group.total}</td><td class="number">${group.counts.down}</td><td class="number">${group.counts.degraded}</td><td class="number">${percentText(group.uptime30d)}</td></tr>`;
  });
  const rest = overview.groups.length - groupsShown;
  return `<div class="table-wrap"><table><caption class="visually-hidden">Monitors per group</caption><thead><tr><th scope="col">Group</th><th scope="col" class="number">Monitors</th><th scope="col" class="number">Down</th><th scope="col" class="number">Degraded</th><th scope="col" class="number">Uptime 30 days</th></tr></thead><tbody>${rows.join('')}</tbody></table></div>${rest > 0 ? `<p class="note">and ${rest} more groups: filter by name below.</p>` : ''}`;
}

function renderFilter(overview: StatusOverview, query: ListingQuery): string {
  const option = (value: string, label: string, selected: string | undefined) =>
    `<option value="${escapeHtml(value)}"${selected === value ? ' selected' : ''}>${escapeHtml(label)}</option>`;
  const groups =
    overview.groups.length > 0
      ? `<label>Group<select name="group">${option('', 'All groups', query.group ?? '')}${overview.groups
          .filter((group) => group.name !== null)
          .slice(0, groupsShown)
          .map((group) => option(group.name ?? '', group.name ?? '', query.group))
          .join('')}</select></label>`
      : '';
  const states = (['down', 'degraded', 'maintenance', 'up', 'pending'] as const)
    .map((state) => option(state, stateWords[state], query.state))
    .join('');
  return `<form class="filter" method="get" action="status" role="search" aria-label="Filter the monitors">${groups}<label>State<select name="state">${option('', 'Any state', query.state ?? '')}${states}</select></label><label>Name or URL<input type="search" name="q" value="${escapeHtml(query.q ?? '')}"></label>${query.refresh ? '<input type="hidden" name="refresh" value="on">' : ''}<button type="submit">Show</button></form>`;
}

function renderPager(query: ListingQuery, page: number, pageCount: number): string {
  if (pageCount <= 1) return '';
  const link = (target: number, label: string, rel: string) =>
    `<a href="status${escapeHtml(queryText(query, target))}#monitors" rel="${rel}">${label}</a>`;
  return `<nav class="pager" aria-label="Pages of monitors">${page > 1 ? link(page - 1, 'Previous page', 'prev') : '<span></span>'}<span>Page ${page} of ${pageCount}</span>${page < pageCount ? link(page + 1, 'Next page', 'next') : '<span></span>'}</nav>`;
}

export function renderStatusPage(data: StatusData, options: PageOptions, query: ListingQuery = {}): string {
  const overview = overviewOf(data);
  const overall = overallStatus(data.components.map((component) => component.status.state));
  const openIncidents = data.incidents.filter((incident) => incident.resolvedAtMs === undefined);
  const recentIncidents = data.incidents.filter((incident) => incident.resolvedAtMs !== undefined);
  const title = escapeHtml(options.title);
  const listing = pageOf(data.components, query);
  // Reloading by itself is what a wall display wants and what a reader cannot stop (WCAG 2.2.1): asked for.
  // Otherwise the page keeps itself current in place with its script (live.ts), which a reader can pause.
  const isRefreshing = query.refresh === 'on';
  const refreshLink = isRefreshing
    ? `This page refreshes every ${options.refreshSeconds} seconds: <a href="status${escapeHtml(queryText({ ...query, refresh: undefined }))}">stop refreshing</a>.`
    : `<span id="reload-link"><a href="status${escapeHtml(queryText({ ...query, refresh: 'on' }))}">Reload this page every ${options.refreshSeconds} seconds</a>.</span>`;
  const liveControl = isRefreshing
    ? ''
    : `\n    <p class="live" id="live" hidden><span id="live-state"></span> <button type="button" id="live-toggle" aria-pressed="false">Pause live updates</button></p>`;
  const first = (listing.page - 1) * listing.perPage + 1;
  const shown =
    listing.total === 0
      ? ''
      : `<p class="note">Showing ${first}–${first + listing.items.length - 1} of ${listing.total}${listing.total === overview.total ? '' : ` matching (of ${overview.total})`}.</p>`;
  const monitors =
    data.components.length === 0
      ? '<p class="empty">No monitors are configured yet.</p>'
      : listing.total === 0
        ? '<p class="empty">No monitor matches this filter.</p>'
        : `<ul class="list">${listing.items.map((component) => renderComponent(component, data.generatedAtMs)).join('')}\n    </ul>`;
  const summary: string[] = [
    `<section aria-labelledby="open-incidents">
      <h2 id="open-incidents">Open incidents</h2>
      ${renderIncidents(openIncidents, data.generatedAtMs, openIncidentsShown, 'No open incidents.', '<a href="status?state=down">every monitor that is down</a>.')}
    </section>`,
  ];
  if (overview.notOperational.length > 0)
    summary.push(`<section aria-labelledby="not-operational">
      <h2 id="not-operational">Not operational</h2>
      ${renderNotOperational(overview)}
    </section>`);
  if (overview.groups.length > 0)
    summary.push(`<section aria-labelledby="groups">
      <h2 id="groups">Groups</h2>
      ${renderGroups(overview)}
    </section>`);
  // The regions the live script swaps when they change (none inside another; the filter form is not one).
  const sections: string[] = [
    `<div data-live="summary">
    ${summary.join('\n    ')}
    </div>`,
  ];
  sections.push(`<section aria-labelledby="monitors">
      <h2 id="monitors">Monitors</h2>
      ${data.components.length > 0 ? renderFilter(overview, query) : ''}<div data-live="listing">${shown}
      ${monitors}
      ${renderPager(query, listing.page, listing.pageCount)}</div>
    </section>`);
  sections.push(`<section aria-labelledby="recent-incidents" data-live="recent">
      <h2 id="recent-incidents">Resolved in the last 7 days</h2>
      ${renderIncidents(recentIncidents, data.generatedAtMs, resolvedIncidentsShown, 'No incidents in the last 7 days.', 'see the <a href="history.atom">incident feed</a>.')}
    </section>`);
  return `<!doctype html>
<html lang="en"${isRefreshing ? '' : ` data-live-seconds="${options.refreshSeconds}"`}>
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
${isRefreshing ? `  <meta http-equiv="refresh" content="${options.refreshSeconds}">\n` : `  <script src="${liveScriptPath}" defer></script>\n`}  <title>${title}: ${escapeHtml(overall.description)}</title>
  <link rel="alternate" type="application/atom+xml" title="Incidents" href="history.atom">
  <style>${statusStyles}</style>
</head>
<body>
  <a class="skip" href="#main">Skip to content</a>
  <header>
    <h1>${title}</h1>
    <p class="overall overall-${overall.indicator}" role="status" data-live="overall">${escapeHtml(overall.description)}</p>
    ${renderTotals(overview)}
  </header>
  <main id="main">
    ${sections.join('\n    ')}
  </main>
  <footer>
    <p><span data-live="updated">Updated ${escapeHtml(timeText(data.generatedAtMs))}.</span> ${refreshLink} Machine-readable: <a href="status.json">status.json</a>, <a href="api/v2/summary.json">Statuspage API</a>, <a href="history.atom">incident feed (Atom)</a>.</p>${liveControl}
  </footer>
</body>
</html>
`;
}

/** For a monitor probed from several vantages: what each saw in its last run, in one line. */
function vantagesLine(vantages: VantageOutcome[] | undefined): string {
  if (!vantages || vantages.length === 0) return '';
  const parts = vantages.map((vantage) => {
    const seen = vantage.health
      ? `${vantage.health}${vantage.code && vantage.health !== 'up' ? ` (${vantage.code})` : ''}`
      : vantage.status;
    return `${escapeHtml(vantage.name)}: ${escapeHtml(seen)}`;
  });
  return `\n        <p class="vantages summary">Seen from ${parts.join(' · ')}</p>`;
}

/** Days left on the site's certificate, when a run saw one. */
function certificateFigure(notAfter: string | undefined, nowMs: number): string {
  if (!notAfter) return '';
  const daysLeft = daysLeftOf(notAfter, nowMs);
  const text = daysLeft < 0 ? 'expired' : `${daysLeft} day${daysLeft === 1 ? '' : 's'} left`;
  return `\n          <div><dt>Certificate</dt><dd title="${escapeHtml(notAfter)}">${text}</dd></div>`;
}

/** A monitor's recurring maintenance: the occurrence in progress, or the next, and the rule it follows. */
function recurringMaintenanceLine(windows: RecurringWindow[] | undefined, nowMs: number): string {
  if (!windows || windows.length === 0) return '';
  const items = windows.map((window) => {
    const occurrence = currentOrNextOccurrence(window, nowMs);
    const span = `${new Date(occurrence.startsAtMs).toISOString().slice(0, 16).replace('T', ' ')}–${new Date(occurrence.endsAtMs).toISOString().slice(11, 16)} UTC`;
    const when = occurrence.startsAtMs <= nowMs ? `in progress (${span})` : `next ${span}`;
    const reason = window.reason ? `${window.reason}: ` : '';
    return `${escapeHtml(reason)}${when}, repeating <code>${escapeHtml(window.cron)}</code> ${escapeHtml(window.timeZone)}`;
  });
  return `\n        <p class="maintenance">Maintenance ${items.join('; ')}</p>`;
}
