// PagerDuty Events API v2: POST <base>/v2/enqueue. A problem is a `trigger` and the recovery a `resolve` with
// the same dedup_key, so the page PagerDuty opened closes by itself; 202 {status: "success"}. 400 (invalid
// event) is final; 429 and 5xx are retried.
import { type ChannelSender, type HttpSending, joinUrl, postJson } from '../channel.js';
import type { ChannelSettings } from '../channel-settings.js';
import { destinationOf } from '../delivery-lanes.js';
import { clipped, messageTextOf } from '../message.js';

export function pagerDutySender(settings: ChannelSettings<'pagerduty'>, http: HttpSending): ChannelSender {
  const url = joinUrl(settings.baseUrl, 'v2/enqueue');
  return {
    destination: destinationOf(url),
    async send(payload) {
      const text = messageTextOf(payload);
      const isTest = payload.event === 'channel.test';
      const dedupKey = isTest ? `reach-test-${payload.id}` : text.dedupKey;
      const resolve = () =>
        postJson(http, 'PagerDuty', url, {
          routing_key: settings.routingKey,
          event_action: 'resolve',
          dedup_key: dedupKey,
        });
      if (text.isResolution) return resolve();
      const body = {
        routing_key: settings.routingKey,
        event_action: 'trigger',
        dedup_key: dedupKey,
        client: 'reach',
        ...(text.link.url.startsWith('http') ? { client_url: text.link.url } : {}),
        payload: {
          summary: clipped(`${text.title}: ${text.summary}`, 1024),
          source: payload.monitor.url,
          severity: text.severity,
          timestamp: payload.changedAt,
          component: payload.monitor.name,
          group: payload.monitor.tags[0],
          class: payload.cause,
          custom_details: Object.fromEntries(text.facts.map((fact) => [fact.label, fact.value])),
        },
        links: text.link.url.startsWith('http') ? [{ href: text.link.url, text: text.link.text }] : [],
      };
      const triggered = await postJson(http, 'PagerDuty', url, body);
      // A test resolves its own event at once, so it never keeps anyone paged.
      if (isTest && triggered.kind === 'delivered') await resolve();
      return triggered;
    },
  };
}
