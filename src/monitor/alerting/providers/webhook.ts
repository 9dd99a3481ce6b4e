// The signed webhook as a channel: the alert payload as JSON, signed with HMAC-SHA256 (x-reach-signature),
// the same body and headers as a monitor's own webhooks.
import { signatureHeader, signPayload } from '../alerts.js';
import { type ChannelSender, type HttpSending, outcomeOfAnswer } from '../channel.js';
import type { ChannelSettings } from '../channel-settings.js';
import { destinationOf } from '../delivery-lanes.js';

export function webhookSender(settings: ChannelSettings<'webhook'>, http: HttpSending): ChannelSender {
  const destination = destinationOf(settings.url);
  return {
    destination,
    async send(payload) {
      const body = JSON.stringify(payload);
      const sent = await http.post(settings.url, {
        headers: {
          'content-type': 'application/json',
          [signatureHeader]: signPayload(settings.secret, body, Math.floor(Date.now() / 1000)),
          'x-reach-event': payload.event,
          // The same on every attempt, so a receiver can drop a retry of what it already has.
          'x-reach-delivery': payload.id,
        },
        body,
      });
      return 'outcome' in sent ? sent.outcome : outcomeOfAnswer('webhook', destination, sent.answer);
    },
  };
}
