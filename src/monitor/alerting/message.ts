// What every channel says about an alert: a title, the one-line summary, the facts (cause, code, vantages, since)
// and the link to the incident, taken from the alert payload once so each provider only lays them out.
import type { AlertPayload } from './alerts.js';

export interface AlertFact {
  label: string;
  value: string;
}

export interface MessageText {
  /** "Shop is DOWN", "Shop recovered", "Test message from reach". */
  title: string;
  /** The verdict's one-line summary. */
  summary: string;
  facts: AlertFact[];
  /** The incident when there is one, else the monitor. */
  link: { url: string; text: string };
  /** True when the message says a problem is over: providers with their own incidents resolve them. */
  isResolution: boolean;
  severity: 'critical' | 'warning' | 'info';
  /** The same for every message about one monitor until it recovers: PagerDuty dedup_key, Opsgenie alias. */
  dedupKey: string;
}

const stateWords: Record<string, string> = {
  down: 'is DOWN',
  degraded: 'is DEGRADED',
  up: 'recovered',
  maintenance: 'is in maintenance',
  pending: 'is pending',
};

export function messageTextOf(payload: AlertPayload): MessageText {
  if (payload.shared) return sharedMessageTextOf(payload, payload.shared);
  const isTest = payload.event === 'channel.test';
  const certificate = payload.event === 'certificate.expiring' ? payload.certificate : undefined;
  const isStateChange = payload.event === 'monitor.state_changed';
  const isResolution = isStateChange && payload.newState === 'up';
  const title = isTest
    ? `Test message from reach for ${payload.monitor.name}`
    : certificate
      ? `${payload.monitor.name}: certificate ${certificate.daysLeft < 0 ? 'expired' : `expires in ${certificate.daysLeft} days`}`
      : `${payload.monitor.name} ${stateWords[payload.newState] ?? `is ${payload.newState}`}`;
  const facts: AlertFact[] = [
    { label: 'Cause', value: payload.cause },
    { label: 'Code', value: payload.code },
    { label: 'Seen from', value: vantagesText(payload) },
    { label: 'Since', value: payload.changedAt },
    { label: 'Site', value: payload.monitor.url },
  ];
  if (isStateChange)
    facts.splice(3, 0, { label: 'State', value: `${payload.oldState} → ${payload.newState}` });
  if (certificate) facts.splice(3, 0, { label: 'Expires', value: certificate.notAfter });
  const link = payload.incident
    ? { url: payload.incident.url, text: `Incident ${payload.incident.id}` }
    : { url: payload.links.monitor, text: 'Monitor' };
  return {
    title,
    summary: payload.summary,
    facts,
    link,
    isResolution,
    severity: isTest
      ? 'info'
      : certificate
        ? 'warning'
        : payload.newState === 'down'
          ? 'critical'
          : isResolution
            ? 'info'
            : 'warning',
    // A certificate warning is a page of its own: it must not merge with (or be resolved by) the site's state.
    dedupKey: certificate ? `reach-certificate-${payload.monitor.id}` : `reach-monitor-${payload.monitor.id}`,
  };
}

/** A shared incident: one message for every monitor it covers; its resolution resolves the same page. */
function sharedMessageTextOf(
  payload: AlertPayload,
  shared: NonNullable<AlertPayload['shared']>,
): MessageText {
  const isResolution = payload.event === 'shared_incident.resolved';
  const count = `${shared.monitorCount} monitor${shared.monitorCount === 1 ? '' : 's'}`;
  const named = shared.monitors.map((monitor) => monitor.name).join(', ');
  const facts: AlertFact[] = [
    { label: 'Cause', value: payload.cause },
    { label: 'Code', value: payload.code },
    { label: 'Seen from', value: shared.vantage === '@service' ? 'this service' : shared.vantage },
    ...(shared.resolvers ? [{ label: 'Resolver', value: shared.resolvers.join(', ') }] : []),
    ...(shared.range ? [{ label: 'Range', value: shared.range }] : []),
    { label: 'Since', value: shared.openedAt },
    ...(shared.resolvedAt ? [{ label: 'Resolved', value: shared.resolvedAt }] : []),
    { label: 'Monitors affected', value: count },
    {
      label: 'Monitors',
      value: shared.monitorCount > shared.monitors.length ? `${named}, …` : named,
    },
  ];
  return {
    title: isResolution
      ? `Resolved: ${payload.monitor.name} (${count})`
      : `${payload.monitor.name} (${count})`,
    summary: payload.summary,
    facts,
    link: payload.incident
      ? { url: payload.incident.url, text: `Incident ${payload.incident.id}` }
      : { url: payload.links.status, text: 'Status' },
    isResolution,
    severity: isResolution ? 'info' : 'critical',
    dedupKey: `reach-shared-${payload.incident?.id ?? payload.id}`,
  };
}

/** Which vantages saw what, or the service's own prober when the monitor has no vantages. */
function vantagesText(payload: AlertPayload): string {
  if (!payload.vantages || payload.vantages.length === 0) return 'this service';
  return payload.vantages
    .map((vantage) => {
      const seen = vantage.health ?? vantage.status;
      return vantage.code ? `${vantage.name}: ${seen} (${vantage.code})` : `${vantage.name}: ${seen}`;
    })
    .join(', ');
}

/** Plain text: the title, the summary, one fact a line, the link (email, Telegram, ntfy, Gotify). */
export function plainTextOf(text: MessageText, options: { isTitleIncluded: boolean }): string {
  return [
    ...(options.isTitleIncluded ? [text.title] : []),
    text.summary,
    '',
    ...text.facts.map((fact) => `${fact.label}: ${fact.value}`),
    `${text.link.text}: ${text.link.url}`,
  ].join('\n');
}

/** Common Markdown (Mattermost, Discord descriptions, Teams text blocks): bold title, facts, link. */
export function markdownOf(text: MessageText): string {
  return [
    `**${escapeMarkdown(text.title)}**`,
    escapeMarkdown(text.summary),
    '',
    ...text.facts.map((fact) => `**${fact.label}:** ${escapeMarkdown(fact.value)}`),
    `[${escapeMarkdown(text.link.text)}](${text.link.url})`,
  ].join('\n');
}

/** Slack's and Google Chat's own markup: *bold*, <url|text>, and &, <, > escaped. */
export function slackMarkupOf(text: MessageText): string {
  return [
    `*${escapeSlack(text.title)}*`,
    escapeSlack(text.summary),
    ...text.facts.map((fact) => `*${fact.label}:* ${escapeSlack(fact.value)}`),
    `<${text.link.url}|${escapeSlack(text.link.text)}>`,
  ].join('\n');
}

function escapeMarkdown(value: string): string {
  // Underscores stay: codes are full of them, and inside a word they never start emphasis.
  return value.replace(/([\\*`[\]~|])/g, '\\$1');
}

export function escapeSlack(value: string): string {
  return value.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/** At most `max` characters, an ellipsis marking the cut (providers cap titles and summaries). */
export function clipped(value: string, max: number): string {
  return value.length <= max ? value : `${value.slice(0, max - 1)}…`;
}
