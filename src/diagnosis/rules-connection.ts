// Rules for TCP connects: refused, unreachable, dropped, other errors.

import { describeConnect } from './describe.js';
import { connectFailures } from './facts.js';
import type { Rule } from './verdict.js';
import { controlEvidence, someControlReachable, verdict } from './verdict.js';

export const tcpFailure: Rule = {
  name: 'tcp-failure',
  apply: (obs) => {
    const { target } = obs;
    if (target.tcp.length === 0 || target.tcp.some((o) => o.kind === 'connected')) return undefined;
    const failures = connectFailures(target.tcp);
    const evidence = [...target.tcp.map(describeConnect), ...controlEvidence(obs)];
    const count = (kinds: string[]) => failures.filter((o) => kinds.includes(o.kind)).length;
    const port = target.port;
    if (count(['refused', 'reset']) > 0) {
      return verdict({
        cause: 'server_fault',
        code: 'tcp.refused',
        confidence: 0.9,
        summary: `The server's host is up but nothing accepts connections on port ${port} (connection refused): the web server is down or listening elsewhere.`,
        evidence: evidence,
      });
    }
    if (count(['host_unreachable']) > 0 || (count(['net_unreachable']) > 0 && someControlReachable(obs))) {
      return verdict({
        cause: 'server_fault',
        code: 'tcp.unreachable',
        confidence: 0.6,
        summary:
          'A router reports the server unreachable (ICMP): the host is down or disconnected, or a filter rejects traffic to it.',
        evidence: evidence,
      });
    }
    if (count(['timeout']) > 0) {
      if (someControlReachable(obs)) {
        return verdict({
          cause: 'filtered_path',
          code: 'filter.blackhole',
          confidence: 0.6,
          summary: `Connections to ${target.host} are silently dropped while other sites work: a filter is blackholing this address, or the host is down (the two look the same from here).`,
          evidence: evidence,
        });
      }
      return verdict({
        cause: 'filtered_path',
        code: 'tcp.timeout',
        confidence: 0.4,
        summary: `No answer to our connection attempts to ${target.host}: a filter dropping them, the host being down, or this network failing all look alike (add --control to tell).`,
        evidence: evidence,
      });
    }
    return verdict({
      cause: 'server_fault',
      code: 'tcp.error',
      confidence: 0.5,
      summary: `Connecting to ${target.host} failed (${failures[0]?.errno ?? 'unknown error'}).`,
      evidence: evidence,
    });
  },
};
