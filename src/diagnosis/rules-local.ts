// Rules that blame the prober's own network: no route, or every control failing too.

import { describeConnect } from './describe.js';
import { connectFailures, isDnsNoRoute, isNetworkLevelFailure } from './facts.js';
import type { Rule } from './verdict.js';
import {
  allControlsFailed,
  controlEvidence,
  dnsEvidence,
  hasControls,
  someControlReachable,
  verdict,
} from './verdict.js';

export const localNoRoute: Rule = {
  name: 'local-no-route',
  apply: (obs) => {
    const { target } = obs;
    const tcpFailures = connectFailures(target.tcp);
    const isTcpNoRoute =
      target.tcp.length > 0 &&
      tcpFailures.length === target.tcp.length &&
      tcpFailures.every((o) => o.kind === 'net_unreachable');
    if (!isDnsNoRoute(target.dns) && !isTcpNoRoute) return undefined;
    if (someControlReachable(obs)) return undefined;
    return verdict(
      'local-no-route',
      'local_network',
      'local.no_route',
      hasControls(obs) ? 0.9 : 0.75,
      'This machine has no route to the network: its own connection or routing is down, not the site.',
      [...dnsEvidence(obs), ...target.tcp.map(describeConnect), ...controlEvidence(obs)],
    );
  },
};

export const localControlsFailed: Rule = {
  name: 'local-controls-failed',
  apply: (obs) => {
    if (!allControlsFailed(obs) || !isNetworkLevelFailure(obs.target)) return undefined;
    return verdict(
      'local-controls-failed',
      'local_network',
      'local.controls_unreachable',
      0.75,
      'The site and every known-good control failed at the network level: the problem is most likely the network this probe runs from.',
      [...controlEvidence(obs), ...dnsEvidence(obs), ...obs.target.tcp.map(describeConnect)],
    );
  },
};
