// The sender of each provider, made from a channel's record: the one place that knows every provider.
import type { AddressPolicy } from '../../safety/address-policy.js';
import { type ChannelSender, createHttpSending } from './channel.js';
import type { ChannelRecord, ChannelSettings, ChannelType } from './channel-settings.js';
import { discordSender } from './providers/discord.js';
import { emailSender } from './providers/email.js';
import { googleChatSender } from './providers/google-chat.js';
import { gotifySender } from './providers/gotify.js';
import { mattermostSender } from './providers/mattermost.js';
import { ntfySender } from './providers/ntfy.js';
import { opsgenieSender } from './providers/opsgenie.js';
import { pagerDutySender } from './providers/pagerduty.js';
import { slackSender } from './providers/slack.js';
import { teamsSender } from './providers/teams.js';
import { telegramSender } from './providers/telegram.js';
import { webhookSender } from './providers/webhook.js';

export interface ChannelSenders {
  senderFor(record: ChannelRecord): ChannelSender;
  close(): Promise<void>;
}

/** Senders share one HTTP agent (its lookup obeys `policy`) and one timeout. */
export function createChannelSenders(options: { policy: AddressPolicy; timeoutMs: number }): ChannelSenders {
  const http = createHttpSending(options);
  const makers: { [T in ChannelType]: (settings: ChannelSettings<T>) => ChannelSender } = {
    slack: (settings) => slackSender(settings, http),
    discord: (settings) => discordSender(settings, http),
    teams: (settings) => teamsSender(settings, http),
    telegram: (settings) => telegramSender(settings, http),
    mattermost: (settings) => mattermostSender(settings, http),
    google_chat: (settings) => googleChatSender(settings, http),
    email: (settings) => emailSender(settings, options),
    pagerduty: (settings) => pagerDutySender(settings, http),
    opsgenie: (settings) => opsgenieSender(settings, http),
    ntfy: (settings) => ntfySender(settings, http),
    gotify: (settings) => gotifySender(settings, http),
    webhook: (settings) => webhookSender(settings, http),
  };
  return {
    senderFor(record) {
      const make = makers[record.type] as (settings: ChannelSettings) => ChannelSender;
      return make(record.settings);
    },
    close: () => http.close(),
  };
}
