// Shields-style SVG badges per monitor: its state, its uptime over a window, its response time.
import { z } from 'zod';
import type { MonitorState } from '../records.js';
import type { ComponentData } from './data.js';
import { percentText, xmlText } from './text.js';

export const badgeKinds = ['status', 'uptime', 'response-time'] as const;
export type BadgeKind = (typeof badgeKinds)[number];

export const badgeQuerySchema = z.strictObject({
  label: z.string().min(1).max(40).optional().describe('The left-hand text (default: the kind of badge).'),
  window: z.enum(['24h', '7d', '30d']).optional().describe('Uptime badge: the window (default 30d).'),
  percentile: z.enum(['p50', 'p95']).optional().describe('Response-time badge: which (default p50).'),
});
export type BadgeQuery = z.infer<typeof badgeQuerySchema>;

const colors = {
  green: '#2e7d32',
  yellow: '#8a6d00',
  orange: '#b45309',
  red: '#c62828',
  blue: '#1d4ed8',
  grey: '#616161',
} as const;

const stateBadge: Record<MonitorState, { text: string; color: string }> = {
  up: { text: 'up', color: colors.green },
  degraded: { text: 'degraded', color: colors.orange },
  down: { text: 'down', color: colors.red },
  maintenance: { text: 'maintenance', color: colors.blue },
  pending: { text: 'pending', color: colors.grey },
};

/**
 * Width of text in Verdana 11px, as shields measures it, from per-character advances (narrow, wide and the
 * rest): close enough that the text sits inside its half of the badge.
 */
export function textWidth(text: string): number {
  let width = 0;
  for (const character of text) {
    if ("iIl.,:;'|!j ".includes(character)) width += 3.9;
    else if ('fjrt()[]-'.includes(character)) width += 4.9;
    else if ('mwMW%'.includes(character)) width += 10.9;
    else if (character >= 'A' && character <= 'Z') width += 7.5;
    else width += 6.9;
  }
  return Math.ceil(width);
}

function uptimeColor(value: number | null): string {
  if (value === null) return colors.grey;
  if (value >= 0.999) return colors.green;
  if (value >= 0.99) return colors.yellow;
  if (value >= 0.95) return colors.orange;
  return colors.red;
}

function latencyColor(value: number | null): string {
  if (value === null) return colors.grey;
  if (value < 300) return colors.green;
  if (value < 1000) return colors.yellow;
  if (value < 3000) return colors.orange;
  return colors.red;
}

/** What a badge says for a monitor: its left-hand label, its message and the message's colour. */
export function badgeContent(
  kind: BadgeKind,
  component: ComponentData,
  query: BadgeQuery,
): { label: string; message: string; color: string } {
  if (kind === 'status') {
    const state = stateBadge[component.status.state];
    return { label: query.label ?? 'status', message: state.text, color: state.color };
  }
  if (kind === 'uptime') {
    const window = query.window ?? '30d';
    const value = component.uptime[window];
    return {
      label: query.label ?? `uptime ${window}`,
      message: percentText(value),
      color: uptimeColor(value),
    };
  }
  const percentile = query.percentile ?? 'p50';
  const value = component.latencyMs[percentile];
  return {
    label: query.label ?? `response time ${percentile}`,
    message: value === null ? 'no data' : `${Math.round(value)} ms`,
    color: latencyColor(value),
  };
}

/** The flat shields layout: grey label, coloured message, a faint gradient, text with a 1px shadow. */
export function renderBadge(label: string, message: string, color: string): string {
  const labelWidth = textWidth(label) + 10;
  const messageWidth = textWidth(message) + 10;
  const width = labelWidth + messageWidth;
  const title = xmlText(`${label}: ${message}`);
  const text = (value: string, center: number) => {
    const x = center * 10;
    const length = (textWidth(value) * 10).toString();
    return `<text aria-hidden="true" x="${x}" y="150" fill="#010101" fill-opacity=".3" transform="scale(.1)" textLength="${length}">${xmlText(value)}</text><text x="${x}" y="140" transform="scale(.1)" fill="#fff" textLength="${length}">${xmlText(value)}</text>`;
  };
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="20" role="img" aria-label="${title}"><title>${title}</title><linearGradient id="s" x2="0" y2="100%"><stop offset="0" stop-color="#bbb" stop-opacity=".1"/><stop offset="1" stop-opacity=".1"/></linearGradient><clipPath id="r"><rect width="${width}" height="20" rx="3" fill="#fff"/></clipPath><g clip-path="url(#r)"><rect width="${labelWidth}" height="20" fill="#555"/><rect x="${labelWidth}" width="${messageWidth}" height="20" fill="${color}"/><rect width="${width}" height="20" fill="url(#s)"/></g><g fill="#fff" text-anchor="middle" font-family="Verdana,Geneva,DejaVu Sans,sans-serif" text-rendering="geometricPrecision" font-size="110">${text(label, labelWidth / 2)}${text(message, labelWidth + messageWidth / 2)}</g></svg>`;
}
