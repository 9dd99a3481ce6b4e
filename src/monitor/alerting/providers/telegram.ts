// Telegram Bot API sendMessage: POST {chat_id, text} to <base>/bot<token>/sendMessage; {ok: true} on 200.
// A 429 carries parameters.retry_after (seconds); 400 (chat not found) and 401/403 (bad token, bot blocked)
// are final. The token is in the path, so errors name the destination only.
import { bodySecondsOf, type ChannelSender, type HttpSending, joinUrl, postJson } from '../channel.js';
import type { ChannelSettings } from '../channel-settings.js';
import { destinationOf } from '../delivery-lanes.js';
import { clipped, messageTextOf, plainTextOf } from '../message.js';

export function telegramSender(settings: ChannelSettings<'telegram'>, http: HttpSending): ChannelSender {
  return {
    destination: destinationOf(settings.baseUrl),
    send(payload) {
      const text = messageTextOf(payload);
      // Plain text (no parse_mode): a summary with a stray * or < cannot make Telegram refuse the message.
      const body = {
        chat_id: settings.chatId,
        text: clipped(plainTextOf(text, { isTitleIncluded: true }), 4096),
        link_preview_options: { is_disabled: true },
      };
      return postJson(
        http,
        'Telegram',
        joinUrl(settings.baseUrl, `bot${settings.botToken}/sendMessage`),
        body,
        {},
        (answer) =>
          answer.status === 429 ? bodySecondsOf(answer.text, ['parameters', 'retry_after']) : undefined,
      );
    },
  };
}
