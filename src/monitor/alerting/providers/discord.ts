// Discord webhooks: POST {embeds} to the webhook URL; 204 No Content. A 429 says how long to wait in its body
// (retry_after, seconds) and in Retry-After; 400/401/404 are final (bad payload, deleted webhook).
import { bodySecondsOf, type ChannelSender, type HttpSending, postJson } from '../channel.js';
import type { ChannelSettings } from '../channel-settings.js';
import { destinationOf } from '../delivery-lanes.js';
import { clipped, messageTextOf } from '../message.js';

const colors = { critical: 0xd93025, warning: 0xf9ab00, info: 0x188038 } as const;

export function discordSender(settings: ChannelSettings<'discord'>, http: HttpSending): ChannelSender {
  return {
    destination: destinationOf(settings.webhookUrl),
    send(payload) {
      const text = messageTextOf(payload);
      const body = {
        username: 'reach',
        // Nothing in an alert may ping @everyone or a role.
        allowed_mentions: { parse: [] },
        embeds: [
          {
            title: clipped(text.title, 256),
            description: clipped(text.summary, 4096),
            url: text.link.url.startsWith('http') ? text.link.url : undefined,
            color: colors[text.severity],
            timestamp: payload.changedAt,
            fields: text.facts.map((fact) => ({
              name: fact.label,
              value: clipped(fact.value, 1024),
              inline: fact.label !== 'Seen from' && fact.label !== 'Site',
            })),
          },
        ],
      };
      return postJson(http, 'Discord', settings.webhookUrl, body, {}, (answer) =>
        answer.status === 429 ? bodySecondsOf(answer.text, ['retry_after']) : undefined,
      );
    },
  };
}
