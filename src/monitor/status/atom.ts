// The incident feed (/history.atom): one Atom entry (RFC 4287) per incident open now or resolved in the last 7 days.
import { createHash } from 'node:crypto';
import { causeInPlainWords } from '../run-result.js';
import type { Incident } from '../store.js';
import type { StatusData } from './data.js';
import type { PageIdentity } from './summary.js';
import { durationText, timeText, xmlText } from './text.js';

/** A stable `urn:uuid:` for a name (RFC 4122 version 5 layout over SHA-1): Atom ids must be IRIs that never change. */
export function uuidUrnOf(name: string): string {
  const hex = createHash('sha1').update(`reach:${name}`).digest('hex');
  const variant = ((Number.parseInt(hex.slice(16, 18), 16) & 0x3f) | 0x80).toString(16);
  return `urn:uuid:${hex.slice(0, 8)}-${hex.slice(8, 12)}-5${hex.slice(13, 16)}-${variant}${hex.slice(18, 20)}-${hex.slice(20, 32)}`;
}

function lastChangeMs(incident: Incident): number {
  return Math.max(
    incident.openedAtMs,
    incident.resolvedAtMs ?? 0,
    ...incident.updates.map((update) => update.atMs),
  );
}

function entryOf(incident: Incident, page: PageIdentity, nowMs: number): string {
  const isOpen = incident.resolvedAtMs === undefined;
  const cause = causeInPlainWords[incident.cause] ?? incident.cause;
  const duration = durationText((incident.resolvedAtMs ?? nowMs) - incident.openedAtMs);
  const lines = [
    isOpen
      ? `Down since ${timeText(incident.openedAtMs)} (${duration} so far).`
      : `Down from ${timeText(incident.openedAtMs)} to ${timeText(incident.resolvedAtMs ?? 0)} (${duration}).`,
    `Cause: ${cause} (${incident.code}). ${incident.summary}`,
    ...incident.updates.map((update) => `${timeText(update.atMs)}: ${update.summary} (${update.code})`),
  ];
  return `
  <entry>
    <id>${uuidUrnOf(`incident:${page.id}:${incident.id}`)}</id>
    <title>${xmlText(`${incident.monitorName} ${isOpen ? 'is down' : 'was down (resolved)'}`)}</title>
    <link rel="alternate" type="text/html" href="${xmlText(`${page.url}#incident-${incident.id}`)}"/>
    <published>${new Date(incident.openedAtMs).toISOString()}</published>
    <updated>${new Date(lastChangeMs(incident)).toISOString()}</updated>
    <category term="${isOpen ? 'open' : 'resolved'}"/>
    <content type="text">${xmlText(lines.join('\n'))}</content>
  </entry>`;
}

export function renderIncidentFeed(data: StatusData, page: PageIdentity): string {
  const incidents = [...data.incidents].sort((a, b) => lastChangeMs(b) - lastChangeMs(a));
  const updatedMs = incidents[0] ? lastChangeMs(incidents[0]) : data.generatedAtMs;
  return `<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom">
  <id>${uuidUrnOf(`feed:${page.id}:${page.url}`)}</id>
  <title>${xmlText(`${page.name}: incidents`)}</title>
  <subtitle>Incidents open now or resolved in the last 7 days.</subtitle>
  <updated>${new Date(updatedMs).toISOString()}</updated>
  <author><name>${xmlText(page.name)}</name></author>
  <link rel="self" type="application/atom+xml" href="${xmlText(page.url.replace(/\/status$/, '/history.atom'))}"/>
  <link rel="alternate" type="text/html" href="${xmlText(page.url)}"/>
  <generator>reach</generator>${incidents.map((incident) => entryOf(incident, page, data.generatedAtMs)).join('')}
</feed>
`;
}
