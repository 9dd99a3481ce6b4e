// Gotify: POST <base>/message {title, message, priority, extras} with the application token in X-Gotify-Key
// (not in the query, where proxies log it); 200 with the message. 401/403 (bad token) are final.
import { type ChannelSender, type HttpSending, joinUrl, postJson } from '../channel.js';
import type { ChannelSettings } from '../channel-settings.js';
import { destinationOf } from '../delivery-lanes.js';
import { clipped, messageTextOf, plainTextOf } from '../message.js';

const priorities = { critical: 8, warning: 5, info: 2 } as const;

export function gotifySender(settings: ChannelSettings<'gotify'>, http: HttpSending): ChannelSender {
  return {
    destination: destinationOf(settings.baseUrl),
    send(payload) {
      const text = messageTextOf(payload);
      const body = {
        title: clipped(text.title, 250),
        message: clipped(plainTextOf(text, { isTitleIncluded: false }), 8000),
        priority: priorities[text.severity],
        extras: {
          'client::display': { contentType: 'text/plain' },
          ...(text.link.url.startsWith('http')
            ? { 'client::notification': { click: { url: text.link.url } } }
            : {}),
        },
      };
      return postJson(http, 'Gotify', joinUrl(settings.baseUrl, 'message'), body, {
        'x-gotify-key': settings.token,
      });
    },
  };
}
