// Email over SMTP (nodemailer): one plain-text message to the configured recipients. The server's address is
// resolved and judged by the address policy first, and the client connects to that address while TLS checks
// the certificate against the host name. SMTP 4xx replies and network failures are retried; 5xx are final.
import { createTransport } from 'nodemailer';
import type { AddressPolicy } from '../../../safety/address-policy.js';
import type { ChannelSender, SendOutcome } from '../channel.js';
import type { ChannelSettings } from '../channel-settings.js';
import { allowedAddressOf, isRefusedByPolicy } from '../destination-policy.js';
import { messageTextOf, plainTextOf } from '../message.js';

export function emailSender(
  settings: ChannelSettings<'email'>,
  options: { policy: AddressPolicy; timeoutMs: number },
): ChannelSender {
  const destination = `smtp://${settings.host}:${settings.port}`;
  return {
    destination,
    async send(payload): Promise<SendOutcome> {
      let address: string;
      try {
        address = await allowedAddressOf(settings.host, options.policy);
      } catch (error) {
        const reason = `${destination}: ${(error as Error).message}`;
        return isRefusedByPolicy(error) ? { kind: 'refused', reason } : { kind: 'retry', reason };
      }
      const transport = createTransport({
        host: address,
        port: settings.port,
        secure: settings.security === 'tls',
        requireTLS: settings.security === 'starttls',
        ignoreTLS: settings.security === 'none',
        tls: { servername: settings.host.replace(/^\[|\]$/g, '') },
        ...(settings.username ? { auth: { user: settings.username, pass: settings.password ?? '' } } : {}),
        connectionTimeout: options.timeoutMs,
        greetingTimeout: options.timeoutMs,
        socketTimeout: options.timeoutMs,
        disableFileAccess: true,
        disableUrlAccess: true,
      });
      const text = messageTextOf(payload);
      try {
        await transport.sendMail({
          from: settings.from,
          to: settings.to,
          subject: text.title,
          text: plainTextOf(text, { isTitleIncluded: false }),
          headers: { 'X-Reach-Event': payload.event },
        });
        return { kind: 'delivered', status: 250 };
      } catch (error) {
        const { responseCode, message } = error as { responseCode?: number; message: string };
        // nodemailer's message quotes the server's reply, never the password.
        const reason = `${destination}: ${message.replace(/\s+/g, ' ').slice(0, 300)}`;
        if (responseCode !== undefined && responseCode >= 500) return { kind: 'rejected', reason };
        return { kind: 'retry', reason };
      } finally {
        transport.close();
      }
    },
  };
}
