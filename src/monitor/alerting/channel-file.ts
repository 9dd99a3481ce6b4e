// Channels from configuration (CHANNELS_FILE): a JSON file read once at start, its secrets taken from the
// environment by ${NAME} references, validated with the API's schema, and written to the store with stable ids.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { ConfigError } from '../../config.js';
import { fieldErrorsOf } from '../../requests/field-errors.js';
import type { AddressPolicy } from '../../safety/address-policy.js';
import { type ChannelRecord, type ChannelType, channelInputSchema } from './channel-settings.js';
import type { ChannelStore } from './channel-store.js';
import { destinationRefusalOf } from './destination-policy.js';

/** A channel the file names: its key there, the id derived from it, and what POST /channels would take. */
export interface ConfiguredChannel {
  key: string;
  id: string;
  name: string;
  type: ChannelType;
  settings: ChannelRecord['settings'];
}

export const channelFileLimits = { channels: 100, bytes: 1024 * 1024 } as const;

const keyPattern = /^[a-z0-9][a-z0-9_-]{0,63}$/;
const referencePattern = /\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g;

/**
 * The id of a configured channel: a UUID (version 8, RFC 9562) from a hash of its key, so it is the same on every
 * start and in every process, and monitors can name it before the service first runs.
 */
export function configuredChannelId(key: string): string {
  const bytes = createHash('sha256').update(`reach channel file:${key}`).digest().subarray(0, 16);
  bytes[6] = ((bytes[6] as number) & 0x0f) | 0x80;
  bytes[8] = ((bytes[8] as number) & 0x3f) | 0x80;
  const hex = bytes.toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/**
 * Reads and checks the file: `{ "channels": [{ "key", "name", "type", "settings" }, …] }`. Every string in
 * `settings` may hold ${NAME} references, replaced by that environment variable, so the file holds no secret.
 * Throws one ConfigError line naming CHANNELS_FILE, the channel and the problem.
 */
export function loadChannelFile(
  file: string,
  environment: Record<string, string | undefined>,
): ConfiguredChannel[] {
  const fail = (problem: string): never => {
    throw new ConfigError(`invalid configuration: CHANNELS_FILE: ${problem}`);
  };
  let text = '';
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    fail(`cannot read ${file}: ${(error as NodeJS.ErrnoException).code ?? 'error'}`);
  }
  if (Buffer.byteLength(text) > channelFileLimits.bytes) fail(`${file} is larger than 1 MiB`);
  let document: unknown;
  try {
    document = JSON.parse(text);
  } catch {
    fail(`${file} is not JSON`);
  }
  const entries = (document as { channels?: unknown } | null)?.channels;
  if (
    typeof document !== 'object' ||
    document === null ||
    Array.isArray(document) ||
    !Array.isArray(entries)
  ) {
    return fail(`${file} must be an object with a "channels" array`);
  }
  const extra = Object.keys(document).filter((name) => name !== 'channels');
  if (extra.length > 0) fail(`unknown field ${extra[0]} at the top of ${file}`);
  if (entries.length > channelFileLimits.channels) fail(`at most ${channelFileLimits.channels} channels`);
  const seen = new Set<string>();
  return entries.map((entry: unknown, index) => {
    const where = `channels.${index}`;
    if (typeof entry !== 'object' || entry === null || Array.isArray(entry))
      fail(`${where} is not an object`);
    const { key, ...input } = entry as Record<string, unknown>;
    if (typeof key !== 'string' || !keyPattern.test(key)) {
      fail(`${where}.key must be 1-64 lowercase letters, digits, - or _ (it makes the channel's id)`);
    }
    const label = `${where} (${key as string})`;
    if (seen.has(key as string)) fail(`${label}: the key is used twice`);
    seen.add(key as string);
    const withSecrets = {
      ...input,
      settings: substitute(input.settings, environment, `${label}.settings`, fail),
    };
    const parsed = channelInputSchema.safeParse(withSecrets);
    if (!parsed.success) {
      const [first] = fieldErrorsOf(parsed.error);
      // The message names the field, never the value: a setting may be a secret from the environment.
      return fail(`${label}.${first?.field ?? 'body'}: ${first?.message ?? 'invalid'}`);
    }
    const channel = parsed.data as Omit<ConfiguredChannel, 'key' | 'id'>;
    return { key: key as string, id: configuredChannelId(key as string), ...channel };
  });
}

/** Replaces ${NAME} in every string of the settings (nested too); an unset variable is an error naming it. */
function substitute(
  value: unknown,
  environment: Record<string, string | undefined>,
  where: string,
  fail: (problem: string) => never,
): unknown {
  if (typeof value === 'string') {
    return value.replace(referencePattern, (_reference, name: string) => {
      const found = environment[name];
      return found !== undefined && found !== '' ? found : fail(`${where}: \${${name}} is not set`);
    });
  }
  if (Array.isArray(value))
    return value.map((item, index) => substitute(item, environment, `${where}.${index}`, fail));
  if (typeof value === 'object' && value !== null) {
    return Object.fromEntries(
      Object.entries(value).map(([name, item]) => [
        name,
        substitute(item, environment, `${where}.${name}`, fail),
      ]),
    );
  }
  return value;
}

/**
 * Writes the configured channels to the store (created once, updated when the file changed, keeping createdAt),
 * after holding each destination to the channel address policy. Returns the ids of channels an earlier file
 * configured that this one no longer names: they stay (monitors may name them) and the API may now delete them.
 */
export async function syncConfiguredChannels(
  store: ChannelStore,
  configured: readonly ConfiguredChannel[],
  policy: AddressPolicy,
): Promise<{ stale: string[] }> {
  checkConfiguredDestinations(configured, policy);
  const now = new Date().toISOString();
  for (const channel of configured) {
    const record = configuredChannelRecord(channel, now);
    const existing = await store.get(channel.id);
    if (existing && isSameChannel(existing, record)) continue;
    await store.put(existing ? { ...record, createdAt: existing.createdAt } : record);
  }
  const ids = new Set(configured.map((channel) => channel.id));
  const stale = (await store.list())
    .filter((record) => record.origin === 'configuration' && !ids.has(record.id))
    .map((record) => record.id);
  return { stale };
}

/**
 * Holds each configured channel's destination to the channel address policy; throws one ConfigError naming the
 * first it refuses. Every process that loads the file checks it at start: the API writes the channels, and the
 * workers send with the file's settings.
 */
export function checkConfiguredDestinations(
  configured: readonly ConfiguredChannel[],
  policy: AddressPolicy,
): void {
  for (const channel of configured) {
    const refusal = destinationRefusalOf(channel, policy, 'settings');
    if (refusal) {
      throw new ConfigError(
        `invalid configuration: CHANNELS_FILE: channel ${channel.key}: its ${channel.type} destination ${refusal.address} is not allowed (${refusal.reason}); ALERT_ALLOW_PRIVATE_DESTINATIONS=true allows private ones`,
      );
    }
  }
}

/** The record of a configured channel: what the store keeps, and what the alert worker sends with. */
export function configuredChannelRecord(channel: ConfiguredChannel, atIso: string): ChannelRecord {
  return {
    id: channel.id,
    name: channel.name,
    type: channel.type,
    settings: channel.settings,
    origin: 'configuration',
    createdAt: atIso,
    updatedAt: atIso,
  };
}

function isSameChannel(left: ChannelRecord, right: ChannelRecord): boolean {
  return (
    left.origin === right.origin &&
    left.name === right.name &&
    left.type === right.type &&
    JSON.stringify(left.settings) === JSON.stringify(right.settings)
  );
}
