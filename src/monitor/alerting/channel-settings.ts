// Notification channels as the operator configures them: one zod schema per provider, which of its fields are
// secrets, how they are shown masked, and where each channel sends (for the address policy and the lanes).
import { z } from 'zod';
import { httpUrlSchema } from '../../requests/schemas.js';

export const channelTypes = [
  'slack',
  'discord',
  'teams',
  'telegram',
  'mattermost',
  'google_chat',
  'email',
  'pagerduty',
  'opsgenie',
  'ntfy',
  'gotify',
  'webhook',
] as const;
export type ChannelType = (typeof channelTypes)[number];

const secretUrl = (what: string) =>
  httpUrlSchema.describe(`${what}. A secret: it carries the token, and is shown masked.`);
const secretText = (what: string) => z.string().min(1).max(512).describe(`${what}. Secret, shown masked.`);
const baseUrl = (provider: string, defaultUrl: string) =>
  httpUrlSchema.default(defaultUrl).describe(`${provider} API base URL (default ${defaultUrl}).`);
const hostSchema = z
  .string()
  .min(1)
  .max(253)
  .regex(/^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+)$/, 'expected a host name or an IP address');
const emailAddress = z.email().max(254);

export const channelSettingsSchemas = {
  slack: z.strictObject({ webhookUrl: secretUrl('Slack incoming webhook URL') }),
  discord: z.strictObject({ webhookUrl: secretUrl('Discord webhook URL') }),
  teams: z.strictObject({
    webhookUrl: secretUrl(
      'Microsoft Teams Workflows webhook URL ("When a Teams webhook request is received")',
    ),
  }),
  telegram: z.strictObject({
    botToken: z
      .string()
      .regex(/^\d{1,20}:[A-Za-z0-9_-]{10,200}$/, 'expected a bot token such as 123456:ABC-DEF...')
      .describe('Bot token from BotFather. Secret, shown masked.'),
    chatId: z
      .string()
      .regex(/^(-?\d{1,20}|@[A-Za-z0-9_]{5,32})$/, 'expected a numeric chat id or @channelname'),
    baseUrl: baseUrl('Telegram Bot', 'https://api.telegram.org'),
  }),
  mattermost: z.strictObject({
    webhookUrl: secretUrl('Mattermost incoming webhook URL'),
    channel: z.string().min(1).max(64).optional().describe('Overrides the webhook default channel.'),
    username: z.string().min(1).max(64).optional(),
  }),
  google_chat: z.strictObject({
    webhookUrl: secretUrl('Google Chat space webhook URL (with key and token)'),
  }),
  email: z.strictObject({
    host: hostSchema.describe('SMTP server.'),
    port: z.number().int().min(1).max(65_535).default(587),
    security: z
      .enum(['starttls', 'tls', 'none'])
      .default('starttls')
      .describe(
        'starttls: upgrade required (587); tls: TLS from the start (465); none: plain (loopback relays).',
      ),
    username: z.string().min(1).max(256).optional(),
    password: secretText('SMTP password').optional(),
    from: emailAddress,
    to: z.array(emailAddress).min(1).max(20),
  }),
  pagerduty: z.strictObject({
    routingKey: z
      .string()
      .regex(
        /^[A-Za-z0-9]{20,64}$/,
        'expected the 32-character integration key of an Events API v2 integration',
      )
      .describe('Events API v2 integration (routing) key. Secret, shown masked.'),
    baseUrl: baseUrl('PagerDuty Events', 'https://events.pagerduty.com'),
  }),
  opsgenie: z.strictObject({
    apiKey: secretText('Opsgenie API integration key'),
    baseUrl: baseUrl('Opsgenie', 'https://api.opsgenie.com'),
    priority: z.enum(['P1', 'P2', 'P3', 'P4', 'P5']).default('P2').describe('Priority of a down alert.'),
  }),
  ntfy: z.strictObject({
    baseUrl: baseUrl('ntfy server', 'https://ntfy.sh'),
    topic: z
      .string()
      .regex(/^[-_A-Za-z0-9]{1,64}$/, 'letters, digits, - and _ only')
      .describe('Topic. On a public server the topic is the password: secret, shown masked.'),
    token: secretText('Access token (Authorization: Bearer)').optional(),
  }),
  gotify: z.strictObject({
    baseUrl: httpUrlSchema.describe('Gotify server base URL.'),
    token: secretText('Application token (sent as X-Gotify-Key)'),
  }),
  webhook: z.strictObject({
    url: httpUrlSchema.describe('Receives a POST with the signed JSON payload.'),
    secret: z.string().min(16).max(256).describe('Key of the HMAC-SHA256 signature. Secret, shown masked.'),
  }),
} as const satisfies Record<ChannelType, z.ZodType>;

export type ChannelSettings<T extends ChannelType = ChannelType> = z.output<
  (typeof channelSettingsSchemas)[T]
>;

/** The fields of each provider's settings that are secrets: never logged, never returned in full. */
export const secretFields: Record<ChannelType, readonly string[]> = {
  slack: ['webhookUrl'],
  discord: ['webhookUrl'],
  teams: ['webhookUrl'],
  telegram: ['botToken'],
  mattermost: ['webhookUrl'],
  google_chat: ['webhookUrl'],
  email: ['password'],
  pagerduty: ['routingKey'],
  opsgenie: ['apiKey'],
  ntfy: ['topic', 'token'],
  gotify: ['token'],
  webhook: ['secret'],
};

export const channelName = z.string().trim().min(1).max(100).describe('Shown in lists and logs.');

/** A channel as POST /channels and CHANNELS_FILE give it: a name, a type and that provider's settings. */
export const channelInputSchema = z
  .discriminatedUnion(
    'type',
    channelTypes.map((type) =>
      z.strictObject({ name: channelName, type: z.literal(type), settings: channelSettingsSchemas[type] }),
    ) as unknown as [z.ZodObject, ...z.ZodObject[]],
  )
  .meta({ id: 'ChannelInput' });

/** What the store keeps for a channel. */
export interface ChannelRecord<T extends ChannelType = ChannelType> {
  id: string;
  name: string;
  type: T;
  settings: ChannelSettings<T>;
  /** Written from CHANNELS_FILE at start: the API shows it and refuses to change or delete it. */
  origin?: 'configuration';
  createdAt: string;
  updatedAt: string;
}

/**
 * A secret as it may be shown: a URL keeps its scheme and host (so the operator can tell which one it is),
 * other text its last four characters when it is long enough for that to give nothing away.
 */
export function maskedSecret(value: string): string {
  if (/^https?:\/\//i.test(value)) {
    try {
      return `${new URL(value).origin}/****`;
    } catch {
      return '****';
    }
  }
  return value.length >= 16 ? `****${value.slice(-4)}` : '****';
}

export function maskedSettings(record: ChannelRecord): Record<string, unknown> {
  const masked: Record<string, unknown> = { ...record.settings };
  for (const field of secretFields[record.type]) {
    const value = masked[field];
    if (typeof value === 'string') masked[field] = maskedSecret(value);
  }
  return masked;
}

/**
 * Where a channel of this type and settings sends (a stored record, or one CHANNELS_FILE names): an http(s) URL
 * (its origin is the delivery lane and is checked by the address policy), or smtp://host:port for email.
 */
export function endpointOf(channel: Pick<ChannelRecord, 'type' | 'settings'>): string {
  const settings = channel.settings as Record<string, unknown>;
  if (channel.type === 'email') {
    const email = settings as ChannelSettings<'email'>;
    return `smtp://${email.host}:${email.port}`;
  }
  if (channel.type === 'webhook') return (settings as ChannelSettings<'webhook'>).url;
  const url = settings.webhookUrl ?? settings.baseUrl;
  return typeof url === 'string' ? url : '';
}
