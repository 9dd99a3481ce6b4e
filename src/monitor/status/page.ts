// The HTML status page: rendered on the server from the status data, readable without scripts, refreshing itself.

import { daysLeftOf } from '../certificate-expiry.js';
import { currentOrNextOccurrence, type RecurringWindow } from '../maintenance.js';
import type { MonitorState, VantageOutcome } from '../records.js';
import { causeInPlainWords } from '../run-result.js';
import type { Incident } from '../store.js';
import { type ComponentData, type StatusData, uptimeOf } from './data.js';
import { overallStatus } from './summary.js';

export interface PageOptions {
  title: string;
  refreshSeconds: number;
}

const stateWords: Record<MonitorState, string> = {
  pending: 'Not checked yet',
  up: 'Operational',
  degraded: 'Degraded',
  down: 'Down',
  maintenance: 'Maintenance',
};

export function escapeHtml(text: string): string {
  return text
    .replaceAll('&', '&amp;')
    .replaceAll('<', '&lt;')
    .replaceAll('>', '&gt;')
    .replaceAll('"', '&quot;')
    .replaceAll("'", '&#39;');
}

function percentText(value: number | null): string {
  if (value === null) return 'no data';
  const percent = value * 100;
  return `${percent === 100 ? '100' : percent.toFixed(2)}%`;
}

function msText(value: number | null): string {
  return value === null ? '–' : `${Math.round(value)} ms`;
}

function durationText(ms: number): string {
  const minutes = Math.round(ms / 60_000);
  if (minutes < 1) return 'under a minute';
  if (minutes < 60) return `${minutes} min`;
  const hours = Math.floor(minutes / 60);
  if (hours < 48) return `${hours} h ${minutes % 60} min`;
  return `${Math.floor(hours / 24)} days ${hours % 24} h`;
}

function timeText(ms: number): string {
  return `${new Date(ms).toISOString().slice(0, 16).replace('T', ' ')} UTC`;
}

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

function renderComponent(component: ComponentData, nowMs: number): string {
  const { monitor, status } = component;
  const last = status.lastRun;
  const cause = last ? (causeInPlainWords[last.cause] ?? last.cause) : 'No check has run yet';
  const bar = component.days
    .map((day) => {
      const kind = dayClass(day);
      const label = `${day.day}: ${kind.words}`;
      return `<li class="day day-${kind.name}" title="${escapeHtml(label)}"><span class="visually-hidden">${escapeHtml(label)}</span></li>`;
    })
    .join('');
  return `
      <li class="monitor" id="monitor-${escapeHtml(monitor.id)}">
        <div class="monitor-head">
          <h3>${escapeHtml(monitor.name)}</h3>
          <p class="badge state-${status.state}"><span class="visually-hidden">State: </span>${stateWords[status.state]}</p>
        </div>
        <p class="cause">${escapeHtml(cause)}${last && last.cause !== 'ok' ? ` <span class="summary">— ${escapeHtml(last.summary)}</span>` : ''}</p>${vantagesLine(last?.vantages)}${recurringMaintenanceLine(monitor.recurringMaintenance, nowMs)}
        <dl class="figures">
          <div><dt>Uptime 24 h</dt><dd>${percentText(component.uptime['24h'])}</dd></div>
          <div><dt>Uptime 30 days</dt><dd>${percentText(component.uptime['30d'])}</dd></div>
          <div><dt>Latency p50</dt><dd>${msText(component.latencyMs.p50)}</dd></div>
          <div><dt>Latency p95</dt><dd>${msText(component.latencyMs.p95)}</dd></div>${certificateFigure(last?.certificateNotAfter, nowMs)}
        </dl>
        <figure class="uptime">
          <ol class="bar" aria-label="Uptime of ${escapeHtml(monitor.name)} per day over the last 90 days, oldest first">${bar}</ol>
          <figcaption><span>90 days ago</span><span>Today</span></figcaption>
        </figure>
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
        <h3>${escapeHtml(incident.monitorName)}: ${isOpen ? 'down' : 'resolved'}</h3>
        <p class="when">${escapeHtml(when)}</p>
        <p><strong>Cause:</strong> ${escapeHtml(cause)}. ${escapeHtml(incident.summary)}</p>
      </li>`;
}

const styles = `
  :root { color-scheme: light; --text: #1f2937; --muted: #4b5563; --line: #d1d5db; --bg: #f9fafb; }
  * { box-sizing: border-box; }
  body { margin: 0; font: 16px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--text); background: var(--bg); }
  .skip { position: absolute; left: -999px; } .skip:focus { left: 1rem; top: 1rem; background: #fff; padding: .5rem; }
  header, main, footer { max-width: 52rem; margin: 0 auto; padding: 1rem; }
  h1 { font-size: 1.6rem; margin: .5rem 0 1rem; }
  h2 { font-size: 1.25rem; margin: 1.5rem 0 .75rem; }
  h3 { font-size: 1.05rem; margin: 0; }
  .overall { border-radius: .5rem; padding: 1rem; font-size: 1.2rem; font-weight: 600; margin: 0; }
  .overall-none { background: #dcfce7; color: #14532d; } .overall-minor { background: #fef3c7; color: #78350f; }
  .overall-major, .overall-critical { background: #fee2e2; color: #7f1d1d; }
  ul.list { list-style: none; margin: 0; padding: 0; }
  .monitor, .incident { background: #fff; border: 1px solid var(--line); border-radius: .5rem; padding: 1rem; margin-bottom: .75rem; }
  .monitor-head { display: flex; justify-content: space-between; align-items: center; gap: .5rem; flex-wrap: wrap; }
  .badge { margin: 0; padding: .15rem .6rem; border-radius: 999px; font-weight: 600; font-size: .9rem; }
  .state-up { background: #dcfce7; color: #14532d; } .state-degraded { background: #fef3c7; color: #78350f; }
  .state-down { background: #fee2e2; color: #7f1d1d; } .state-maintenance { background: #dbeafe; color: #1e3a8a; }
  .state-pending { background: #e5e7eb; color: #374151; }
  .cause { margin: .5rem 0; } .summary, .when { color: var(--muted); }
  .figures { display: grid; grid-template-columns: repeat(auto-fit, minmax(8rem, 1fr)); gap: .25rem 1rem; margin: .5rem 0; }
  .figures div { display: flex; flex-direction: column; } dt { color: var(--muted); font-size: .85rem; } dd { margin: 0; font-weight: 600; }
  .uptime { margin: .5rem 0 0; }
  .bar { display: flex; gap: 1px; list-style: none; margin: 0; padding: 0; height: 2rem; }
  .day { flex: 1 1 0; min-width: 0; border-radius: 1px; }
  .day-up { background: #15803d; } .day-degraded { background: #b45309; } .day-down { background: #b91c1c; }
  .day-maintenance { background: #1d4ed8; } .day-none { background: #d1d5db; }
  figcaption { display: flex; justify-content: space-between; color: var(--muted); font-size: .8rem; }
  .incident-open { border-left: .35rem solid #b91c1c; } .incident-resolved { border-left: .35rem solid #15803d; }
  .empty { color: var(--muted); }
  footer { color: var(--muted); font-size: .9rem; }
  a { color: #1d4ed8; }
  .visually-hidden { position: absolute; width: 1px; height: 1px; overflow: hidden; clip: rect(0 0 0 0); white-space: nowrap; }
`;

export function renderStatusPage(data: StatusData, options: PageOptions): string {
  const overall = overallStatus(data.components.map((component) => component.status.state));
  const openIncidents = data.incidents.filter((incident) => incident.resolvedAtMs === undefined);
  const recentIncidents = data.incidents.filter((incident) => incident.resolvedAtMs !== undefined);
  const title = escapeHtml(options.title);
  const monitors =
    data.components.length === 0
      ? '<p class="empty">No monitors are configured yet.</p>'
      : `<ul class="list">${data.components.map((component) => renderComponent(component, data.generatedAtMs)).join('')}\n    </ul>`;
  const incidentList = (incidents: Incident[], empty: string) =>
    incidents.length === 0
      ? `<p class="empty">${empty}</p>`
      : `<ul class="list">${incidents.map((incident) => renderIncident(incident, data.generatedAtMs)).join('')}\n    </ul>`;
  return `<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <meta http-equiv="refresh" content="${options.refreshSeconds}">
  <title>${title}: ${escapeHtml(overall.description)}</title>
  <style>${styles}</style>
</head>
<body>
  <a class="skip" href="#main">Skip to content</a>
  <header>
    <h1>${title}</h1>
    <p class="overall overall-${overall.indicator}" role="status">${escapeHtml(overall.description)}</p>
  </header>
  <main id="main">
    <section aria-labelledby="open-incidents">
      <h2 id="open-incidents">Open incidents</h2>
      ${incidentList(openIncidents, 'No open incidents.')}
    </section>
    <section aria-labelledby="monitors">
      <h2 id="monitors">Monitors</h2>
      ${monitors}
    </section>
    <section aria-labelledby="recent-incidents">
      <h2 id="recent-incidents">Resolved in the last 7 days</h2>
      ${incidentList(recentIncidents, 'No incidents in the last 7 days.')}
    </section>
  </main>
  <footer>
    <p>Updated ${escapeHtml(timeText(data.generatedAtMs))}; this page refreshes every ${options.refreshSeconds} seconds. Machine-readable: <a href="status.json">status.json</a>.</p>
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
