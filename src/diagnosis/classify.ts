// The classifier: an ordered list of small rules from observations to one verdict (see docs/causes.md).
import type { Observations, Verdict } from '../types.js';
import { isNoRouteErrno } from './facts.js';
import { tcpFailure } from './rules-connection.js';
import { contentExpectation } from './rules-content.js';
import { dnsBlocked, dnsFailure, dnsNxdomainDisagreement, dnsTampered } from './rules-dns.js';
import {
  domainMigration,
  httpFailure,
  httpStatus,
  reachable,
  redirectLoop,
  redirectUnfollowable,
  slowFirstByte,
} from './rules-http.js';
import {
  localCaptivePortal,
  localControlsFailed,
  localNoIpv6Route,
  localNoRoute,
  localResourcesExhausted,
} from './rules-local.js';
import { blockPage, clientRefused, forgedPage, legalBlock } from './rules-refusal.js';
import { tlsCertificate, tlsClientCertificate, tlsDifferential, tlsRefused } from './rules-tls.js';
import { type Rule, verdict } from './verdict.js';

export type { Rule };

/** Read top to bottom like the table in docs/causes.md: the first rule that matches decides. */
export const rules: Rule[] = [
  localResourcesExhausted,
  localNoIpv6Route,
  localNoRoute,
  localControlsFailed,
  dnsBlocked,
  dnsTampered,
  dnsNxdomainDisagreement,
  dnsFailure,
  tcpFailure,
  tlsRefused,
  tlsDifferential,
  tlsCertificate,
  tlsClientCertificate,
  redirectLoop,
  redirectUnfollowable,
  localCaptivePortal,
  blockPage,
  forgedPage,
  domainMigration,
  httpFailure,
  legalBlock,
  clientRefused,
  httpStatus,
  contentExpectation,
  slowFirstByte,
  reachable,
];

export function classify(obs: Observations): Verdict {
  for (const rule of rules) {
    const finding = rule.apply(obs);
    if (finding) {
      // A finding is made fresh by its rule for this call (verdict.ts): stamped in place rather than copied.
      const stamped = finding as Verdict;
      stamped.rule = rule.name;
      return stamped;
    }
  }
  const notes = obs.target.notes;
  const isNoRoute = obs.target.tcp.some((o) => o.kind !== 'connected' && isNoRouteErrno(o.errno));
  return {
    rule: 'undetermined',
    ...verdict({
      cause: isNoRoute ? 'local_network' : 'server_fault',
      code: 'probe.incomplete',
      confidence: 0.2,
      summary: 'The probe could not complete enough phases to say why the site fails.',
      evidence: notes,
    }),
  };
}
