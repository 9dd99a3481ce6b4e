// ntfy: publish as JSON (POST {topic, title, message, priority, tags, click} to the server's root URL), with
// Authorization: Bearer <token> for protected topics; 200 with the message. 429 when the visitor's rate is
// spent; 401/403 (no access to the topic) are final.
import { type ChannelSender, type HttpSending, postJson } from '../channel.js';
import type { ChannelSettings } from '../channel-settings.js';
import { destinationOf } from '../delivery-lanes.js';
import { clipped, messageTextOf, plainTextOf } from '../message.js';

const priorities = { critical: 5, warning: 4, info: 3 } as const;
const tags = { critical: ['rotating_light'], warning: ['warning'], info: ['white_check_mark'] } as const;

export function ntfySender(settings: ChannelSettings<'ntfy'>, http: HttpSending): ChannelSender {
  return {
    destination: destinationOf(settings.baseUrl),
    send(payload) {
      const text = messageTextOf(payload);
      const body = {
        topic: settings.topic,
        title: clipped(text.title, 250),
        message: clipped(plainTextOf(text, { isTitleIncluded: false }), 4000),
        priority: priorities[text.severity],
        tags: tags[text.severity],
        ...(text.link.url.startsWith('http') ? { click: text.link.url } : {}),
      };
      const headers: Record<string, string> = settings.token
        ? { authorization: `Bearer ${settings.token}` }
        : {};
      return postJson(http, 'ntfy', `${settings.baseUrl.replace(/\/+$/, '')}/`, body, headers);
    },
  };
}
