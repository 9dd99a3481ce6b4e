// Mattermost incoming webhooks: POST {text (Markdown), channel?, username?}; 200 "ok".
import { type ChannelSender, type HttpSending, postJson } from '../channel.js';
import type { ChannelSettings } from '../channel-settings.js';
import { destinationOf } from '../delivery-lanes.js';
import { clipped, markdownOf, messageTextOf } from '../message.js';

export function mattermostSender(settings: ChannelSettings<'mattermost'>, http: HttpSending): ChannelSender {
  return {
    destination: destinationOf(settings.webhookUrl),
    send(payload) {
      const body = {
        text: clipped(markdownOf(messageTextOf(payload)), 16_000),
        ...(settings.channel ? { channel: settings.channel } : {}),
        ...(settings.username ? { username: settings.username } : {}),
      };
      return postJson(http, 'Mattermost', settings.webhookUrl, body);
    },
  };
}
