// Opsgenie Alert API: POST <base>/v2/alerts with Authorization: GenieKey <key> creates an alert whose alias is
// the dedup key; the recovery closes it (POST /v2/alerts/<alias>/close?identifierType=alias). Both answer 202
// (processed asynchronously); 401/403/422 are final, 429 and 5xx retried.
import { type ChannelSender, type HttpSending, joinUrl, postJson } from '../channel.js';
import type { ChannelSettings } from '../channel-settings.js';
import { destinationOf } from '../delivery-lanes.js';
import { clipped, messageTextOf, plainTextOf } from '../message.js';

export function opsgenieSender(settings: ChannelSettings<'opsgenie'>, http: HttpSending): ChannelSender {
  const headers = { authorization: `GenieKey ${settings.apiKey}` };
  return {
    destination: destinationOf(settings.baseUrl),
    async send(payload) {
      const text = messageTextOf(payload);
      const isTest = payload.event === 'channel.test';
      const alias = isTest ? `reach-test-${payload.id}` : text.dedupKey;
      const close = () =>
        postJson(
          http,
          'Opsgenie',
          joinUrl(settings.baseUrl, `v2/alerts/${encodeURIComponent(alias)}/close?identifierType=alias`),
          { source: 'reach', note: clipped(text.summary, 25_000) },
          headers,
        );
      if (text.isResolution) return close();
      const body = {
        message: clipped(text.title, 130),
        alias,
        description: clipped(plainTextOf(text, { isTitleIncluded: false }), 15_000),
        priority:
          text.severity === 'critical' ? settings.priority : text.severity === 'warning' ? 'P3' : 'P5',
        source: 'reach',
        tags: payload.monitor.tags.slice(0, 20),
        details: Object.fromEntries(text.facts.map((fact) => [fact.label, clipped(fact.value, 8000)])),
      };
      const created = await postJson(http, 'Opsgenie', joinUrl(settings.baseUrl, 'v2/alerts'), body, headers);
      // A test closes its own alert at once, so nobody is left with it open.
      if (isTest && created.kind === 'delivered') await close();
      return created;
    },
  };
}
