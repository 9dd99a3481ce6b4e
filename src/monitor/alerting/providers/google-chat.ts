// Google Chat space webhooks: POST {text} (Chat's markup: *bold*, <url|text>) to the webhook URL, whose query
// holds the key and token; 200 with the created message, 429 RESOURCE_EXHAUSTED when the space is busy.
import { type ChannelSender, type HttpSending, postJson } from '../channel.js';
import type { ChannelSettings } from '../channel-settings.js';
import { destinationOf } from '../delivery-lanes.js';
import { clipped, messageTextOf, slackMarkupOf } from '../message.js';

export function googleChatSender(settings: ChannelSettings<'google_chat'>, http: HttpSending): ChannelSender {
  return {
    destination: destinationOf(settings.webhookUrl),
    send(payload) {
      const body = { text: clipped(slackMarkupOf(messageTextOf(payload)), 4000) };
      return postJson(http, 'Google Chat', settings.webhookUrl, body, {
        'content-type': 'application/json; charset=UTF-8',
      });
    },
  };
}
