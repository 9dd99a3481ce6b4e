// Where alerts may be sent: every connection's DNS answer is judged by the address policy, so a webhook or a
// channel's name cannot lead inside the network.
import { lookup as dnsLookup, type LookupAddress } from 'node:dns';
import { isIP } from 'node:net';
import { type AddressPolicy, createAddressPolicy } from '../../safety/address-policy.js';
import { checkTargetUrl, type TargetRefusal } from '../../safety/target-check.js';
import { type ChannelRecord, endpointOf } from './channel-settings.js';

const refusedByPolicyCode = 'EREFUSEDBYPOLICY';

/** True when the error (or one of its causes) is the policy refusing every address of the destination. */
export function isRefusedByPolicy(error: unknown): boolean {
  for (
    let current = error as { code?: unknown; cause?: unknown } | undefined, depth = 0;
    current && depth < 4;
    depth += 1
  ) {
    if (current.code === refusedByPolicyCode) return true;
    current = current.cause as typeof current;
  }
  return false;
}

function refusedError(reason: string): NodeJS.ErrnoException {
  return Object.assign(new Error(`destination address refused: ${reason}`), { code: refusedByPolicyCode });
}

/** The connection's DNS lookup, refusing addresses the policy refuses. */
export function policyLookup(policy: AddressPolicy) {
  return (
    hostname: string,
    options: { all?: boolean; family?: number },
    callback: (
      error: NodeJS.ErrnoException | null,
      address: string | LookupAddress[],
      family?: number,
    ) => void,
  ) => {
    dnsLookup(
      hostname,
      { all: true, ...(options.family ? { family: options.family } : {}) },
      (error, addresses) => {
        if (error) {
          callback(error, '', 0);
          return;
        }
        const allowed = addresses.filter((entry) => policy(entry.address) === undefined);
        if (allowed.length === 0) {
          callback(refusedError(addresses[0] ? (policy(addresses[0].address) ?? '') : 'no address'), '', 0);
          return;
        }
        const [first] = allowed;
        if (options.all || !first) callback(null, allowed);
        else callback(null, first.address, first.family);
      },
    );
  };
}

/**
 * The first address of the host the policy allows, for clients that cannot be given a lookup of their own
 * (the SMTP client connects to the address and names the host for TLS). Throws an EREFUSEDBYPOLICY error
 * when every address is refused.
 */
export function allowedAddressOf(host: string, policy: AddressPolicy): Promise<string> {
  const bare = host.replace(/^\[|\]$/g, '');
  if (isIP(bare) !== 0) {
    const reason = policy(bare);
    return reason ? Promise.reject(refusedError(reason)) : Promise.resolve(bare);
  }
  return new Promise((resolve, reject) => {
    policyLookup(policy)(bare, {}, (error, address) => {
      if (error) reject(error);
      else resolve(address as string);
    });
  });
}

/** Channels may be allowed private destinations (self-hosted servers inside the network); webhooks keep the service policy. */
export function channelPolicyOf(
  config: { alerts: { isPrivateDestinationAllowed: boolean } },
  policy: AddressPolicy,
): AddressPolicy {
  return config.alerts.isPrivateDestinationAllowed ? createAddressPolicy({ isPrivateAllowed: true }) : policy;
}

/**
 * The channel's http(s) destination held to the policy as written (an IP literal, a name the policy refuses);
 * undefined when allowed, and for email, whose host is checked when it connects. `field` names the refused input.
 */
export function destinationRefusalOf(
  channel: Pick<ChannelRecord, 'type' | 'settings'>,
  policy: AddressPolicy,
  field: string,
): TargetRefusal | undefined {
  const endpoint = endpointOf(channel);
  return endpoint.startsWith('http') ? checkTargetUrl(endpoint, policy, field) : undefined;
}
