// Slack incoming webhooks: POST {text, blocks} to the webhook URL; 200 "ok", or 400/403/404/410 with an error
// word (invalid_payload, no_service, channel_is_archived: final), 429 with Retry-After.
import type { ChannelSender, HttpSending } from '../channel.js';
import { postJson } from '../channel.js';
import type { ChannelSettings } from '../channel-settings.js';
import { destinationOf } from '../delivery-lanes.js';
import { clipped, escapeSlack, messageTextOf } from '../message.js';

export function slackSender(settings: ChannelSettings<'slack'>, http: HttpSending): ChannelSender {
  return {
    destination: destinationOf(settings.webhookUrl),
    send(payload) {
      const text = messageTextOf(payload);
      const body = {
        // The notification text (and what clients without blocks show).
        text: `${text.title}: ${text.summary}`,
        blocks: [
          { type: 'header', text: { type: 'plain_text', text: clipped(text.title, 150) } },
          { type: 'section', text: { type: 'mrkdwn', text: clipped(escapeSlack(text.summary), 3000) } },
          {
            type: 'section',
            fields: text.facts.map((fact) => ({
              type: 'mrkdwn',
              text: clipped(`*${fact.label}*\n${escapeSlack(fact.value)}`, 2000),
            })),
          },
          {
            type: 'context',
            elements: [{ type: 'mrkdwn', text: `<${text.link.url}|${escapeSlack(text.link.text)}>` }],
          },
        ],
      };
      return postJson(http, 'Slack', settings.webhookUrl, body);
    },
  };
}
