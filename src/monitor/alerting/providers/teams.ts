// Microsoft Teams through a Workflows webhook ("When a Teams webhook request is received", the successor of the
// retired Office 365 connectors): POST a message whose attachment is an Adaptive Card; 202 Accepted.
import { type ChannelSender, type HttpSending, postJson } from '../channel.js';
import type { ChannelSettings } from '../channel-settings.js';
import { destinationOf } from '../delivery-lanes.js';
import { clipped, messageTextOf } from '../message.js';

const colors = { critical: 'Attention', warning: 'Warning', info: 'Good' } as const;

export function teamsSender(settings: ChannelSettings<'teams'>, http: HttpSending): ChannelSender {
  return {
    destination: destinationOf(settings.webhookUrl),
    send(payload) {
      const text = messageTextOf(payload);
      const card = {
        $schema: 'http://adaptivecards.io/schemas/adaptive-card.json',
        type: 'AdaptiveCard',
        version: '1.4',
        body: [
          {
            type: 'TextBlock',
            text: clipped(text.title, 200),
            weight: 'Bolder',
            size: 'Medium',
            color: colors[text.severity],
            wrap: true,
          },
          { type: 'TextBlock', text: clipped(text.summary, 2000), wrap: true },
          { type: 'FactSet', facts: text.facts.map((fact) => ({ title: fact.label, value: fact.value })) },
        ],
        actions: text.link.url.startsWith('http')
          ? [{ type: 'Action.OpenUrl', title: `Open ${text.link.text.toLowerCase()}`, url: text.link.url }]
          : [],
      };
      const body = {
        type: 'message',
        attachments: [
          { contentType: 'application/vnd.microsoft.card.adaptive', contentUrl: null, content: card },
        ],
      };
      return postJson(http, 'Teams', settings.webhookUrl, body);
    },
  };
}
