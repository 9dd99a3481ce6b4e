// Rules for DNS: tampering (injected replies, bogon disagreement) and names that do not resolve.

import { dnssecFailureCodes, policyBlockCodes, unreachableAuthorityCodes } from '../types.js';
import { describeExtendedError } from './describe.js';
import {
  allQueries,
  extendedErrorsIn,
  findTampering,
  isNoResolverAnswering,
  isNxdomainEverywhere,
} from './facts.js';
import type { Rule } from './verdict.js';
import { controlEvidence, dnsEvidence, someControlReachable, verdict } from './verdict.js';

/**
 * A resolver that says it withholds or replaces the answer on purpose (RFC 8914 Extended DNS Errors: Blocked,
 * Censored, Filtered, or a Forged Answer): a blocklist or policy of that resolver hides the site. The resolver's
 * own word is the evidence, so its NXDOMAIN is not taken for a name that does not exist, nor its 0.0.0.0 for
 * the site's address.
 */
export const dnsBlocked: Rule = {
  name: 'dns-blocked',
  apply: (obs) => {
    const { dns } = obs.target;
    if (!dns) return undefined;
    const blockers = dns.resolvers.filter((resolver) =>
      resolver.queries.some((query) => extendedErrorsIn(query, policyBlockCodes).length > 0),
    );
    const [first] = blockers;
    if (first === undefined) return undefined;
    const reasons = [
      ...new Set(
        blockers.flatMap((resolver) =>
          resolver.queries.flatMap((query) =>
            extendedErrorsIn(query, policyBlockCodes).map(describeExtendedError),
          ),
        ),
      ),
    ];
    const others = dns.resolvers.filter(
      (resolver) =>
        !blockers.includes(resolver) && resolver.queries.some((query) => query.addresses.length > 0),
    );
    const isAnswered = obs.target.http?.hops.at(-1)?.exchange.outcome === 'response';
    const names = blockers.map((resolver) => resolver.resolver).join(' and ');
    const elsewhere =
      others.length > 0
        ? ` ${others.map((resolver) => resolver.resolver).join(' and ')} ${others.length > 1 ? 'resolve' : 'resolves'} it${isAnswered ? ', and the site answers there' : ''}.`
        : '';
    return verdict({
      cause: 'filtered_path',
      code: 'filter.dns_blocked',
      confidence: 0.9,
      summary: `The resolver ${names} ${blockers.length > 1 ? 'say' : 'says'} it blocks ${dns.name} on purpose (${reasons.join('; ')}): a blocklist or policy of that resolver hides the site (a network's DNS filter such as Pi-hole, a family or malware filter, an ISP's or a court's order), not a fault of the site.${elsewhere} Ask whoever runs the resolver, or use another one.`,
      evidence: [...dnsEvidence(obs), ...controlEvidence(obs)],
    });
  },
};

export const dnsTampered: Rule = {
  name: 'dns-tampered',
  apply: (obs) => {
    const findings = findTampering(obs.target.dns);
    if (findings.length === 0) return undefined;
    const isInjected = findings.some((f) => f.kind === 'injected_reply');
    return verdict({
      cause: 'filtered_path',
      code: 'dns.tampered',
      confidence: isInjected ? 0.9 : 0.8,
      summary: isInjected
        ? 'DNS answers for this name are being forged on the way: a second, different reply arrived for one query, the mark of an on-path injector.'
        : 'DNS answers for this name are being tampered with: one resolver returns a private or reserved address while another returns a public one.',
      evidence: [...findings.map((f) => `dns: ${f.detail}`), ...dnsEvidence(obs)],
    });
  },
};

/**
 * Some resolvers say the name does not exist while others answer it. The canary (a made-up name in the same
 * domain, asked of the answering resolvers) says which side invents: a resolver that answers the made-up name
 * too rewrites NXDOMAIN into its own page; one that denies it answers only what exists, and the other side
 * denies a name that does.
 */
export const dnsNxdomainDisagreement: Rule = {
  name: 'dns-nxdomain-disagreement',
  apply: (obs) => {
    const { dns } = obs.target;
    const canary = dns?.nxdomainCanary;
    if (!dns || !canary) return undefined;
    const deniers = dns.resolvers.filter(isNxdomainEverywhere).map((r) => r.resolver);
    if (deniers.length === 0) return undefined;
    const rewriters = canary.results.filter((result) => result.addresses.length > 0);
    const evidence = [
      ...canary.results.map(
        (result) =>
          `dns canary: ${result.resolver} asked for the made-up name ${canary.name}: ${result.addresses.length > 0 ? `answered ${result.addresses.join(', ')}` : result.outcome}`,
      ),
      ...dnsEvidence(obs),
    ];
    const denied = `${deniers.join(' and ')} ${deniers.length > 1 ? 'say' : 'says'} NXDOMAIN`;
    if (rewriters.length > 0) {
      const [first] = rewriters;
      return verdict({
        cause: 'dns_failure',
        code: 'dns.nxdomain_rewritten',
        confidence: 0.85,
        summary: `The name ${dns.name} does not exist (${denied}). ${rewriters.map((r) => r.resolver).join(' and ')} answers made-up names too (${canary.name} → ${first?.addresses[0] ?? ''}): it rewrites "no such name" into an address of its own (an ad or search page), which is not the site.`,
        evidence: evidence,
      });
    }
    const isHonest = canary.results.some((result) => result.outcome === 'nxdomain');
    const answering = canary.results.map((result) => result.resolver).join(' and ');
    const final = obs.target.http?.hops.at(-1)?.exchange;
    const isAnswered = final?.outcome === 'response';
    return verdict({
      cause: 'dns_failure',
      code: 'dns.nxdomain_disagreement',
      confidence: isHonest ? 0.6 : 0.5,
      summary: `${denied} for ${dns.name}, while ${answering} resolves it${isHonest ? ' (and says NXDOMAIN for a made-up name, so it does not invent answers)' : ''}${isAnswered ? ' and the site answers there' : ''}: the resolver that denies the name blocks it, holds a stale answer, or the name exists only inside one network (split-horizon DNS). Use a resolver that resolves it.`,
      evidence: evidence,
    });
  },
};

export const dnsFailure: Rule = {
  name: 'dns-failure',
  apply: (obs) => {
    const { dns } = obs.target;
    if (!dns || dns.addresses.length > 0) return undefined;
    const queries = allQueries(dns);
    const evidence = [...dnsEvidence(obs), ...controlEvidence(obs)];
    const answered = dns.resolvers.filter((r) =>
      r.queries.some((q) => q.outcome !== 'timeout' && q.outcome !== 'error'),
    );
    const outcomes = new Set(queries.map((q) => q.outcome));
    if (answered.length > 0 && answered.every((r) => r.queries.some((q) => q.outcome === 'nxdomain'))) {
      // An NXDOMAIN after a CNAME is about the alias's target (RFC 6604): the name itself exists.
      const dangling = queries.find((q) => q.outcome === 'nxdomain' && q.cnameChain.length > 0);
      const target = dangling?.cnameChain.at(-1);
      if (target !== undefined) {
        return verdict({
          cause: 'dns_failure',
          code: 'dns.dangling_cname',
          confidence: 0.9,
          summary: `The name ${dns.name} exists, as an alias (CNAME) of ${target}, which does not exist (NXDOMAIN): the alias points at a target that was removed or never set up (a deleted cloud resource, an expired domain). Fix or remove the CNAME; a dangling alias can also be taken over by whoever claims its target.`,
          evidence: evidence,
        });
      }
      return verdict({
        cause: 'dns_failure',
        code: 'dns.nxdomain',
        confidence: answered.length > 1 ? 0.95 : 0.9,
        summary: `The name ${dns.name} does not exist (NXDOMAIN): check the spelling, or whether the domain has expired or lost its delegation.`,
        evidence: evidence,
      });
    }
    if (outcomes.has('servfail')) {
      const failed = queries.filter((q) => q.outcome === 'servfail');
      const dnssec = [
        ...new Set(failed.flatMap((q) => extendedErrorsIn(q, dnssecFailureCodes)).map(describeExtendedError)),
      ];
      if (dnssec.length > 0) {
        // Two resolvers agreeing rule out one validator's own trouble (a wrong clock fails every signed name).
        const validators = dns.resolvers.filter((resolver) =>
          resolver.queries.some(
            (q) => q.outcome === 'servfail' && extendedErrorsIn(q, dnssecFailureCodes).length > 0,
          ),
        );
        return verdict({
          cause: 'dns_failure',
          code: 'dns.dnssec_invalid',
          confidence: validators.length > 1 ? 0.9 : 0.85,
          summary: `Resolvers reject the answer for ${dns.name} because its DNSSEC does not validate (${dnssec.join('; ')}): validating resolvers fail it the same way, and only resolvers that do not validate still answer, which is why it works for some. The domain's operators must re-sign the zone or correct its DS record at the registrar.${validators.length > 1 ? '' : ' (If other signed sites fail through this resolver too, suspect the resolver: a validator with a wrong clock rejects every signature.)'}`,
          evidence: evidence,
        });
      }
      const unreachable = [
        ...new Set(
          failed.flatMap((q) => extendedErrorsIn(q, unreachableAuthorityCodes)).map(describeExtendedError),
        ),
      ];
      if (unreachable.length > 0) {
        return verdict({
          cause: 'dns_failure',
          code: 'dns.servfail',
          confidence: 0.85,
          summary: `Resolvers fail to resolve ${dns.name} (SERVFAIL, ${unreachable.join('; ')}): the resolver could not reach the domain's authoritative name servers. They are down or unreachable, or the delegation names servers that do not serve the domain.`,
          evidence: evidence,
        });
      }
      return verdict({
        cause: 'dns_failure',
        code: 'dns.servfail',
        confidence: 0.85,
        summary: `Resolvers fail to resolve ${dns.name} (SERVFAIL): the domain's authoritative servers are broken or unreachable, or its DNSSEC is invalid.`,
        evidence: evidence,
      });
    }
    if (outcomes.has('refused')) {
      return verdict({
        cause: 'dns_failure',
        code: 'dns.refused',
        confidence: 0.7,
        summary: `The resolvers refuse to answer for ${dns.name} (REFUSED): use a resolver that serves this network.`,
        evidence: evidence,
      });
    }
    if (outcomes.has('truncated')) {
      // An empty truncated reply is no NODATA: the answer exists, too large for UDP, and TCP could not carry it.
      const failed = queries.find((q) => q.outcome === 'truncated');
      return verdict({
        cause: 'dns_failure',
        code: 'dns.truncated_tcp_failed',
        confidence: 0.8,
        summary: `The answer for ${dns.name} is too large for UDP (the resolver truncated it) and the query over TCP failed (${failed?.errno ?? 'error'}): TCP port 53 to the resolver is blocked on the path, or the resolver does not serve TCP. The name may well exist; use a resolver reachable over TCP.`,
        evidence: evidence,
      });
    }
    if (outcomes.has('nodata') || outcomes.has('other_rcode')) {
      return verdict({
        cause: 'dns_failure',
        code: 'dns.nodata',
        confidence: 0.85,
        summary: `The name ${dns.name} exists but has no IPv4 or IPv6 address (NODATA): its A/AAAA records are missing.`,
        evidence: evidence,
      });
    }
    if (isNoResolverAnswering(dns)) {
      if (someControlReachable(obs)) {
        return verdict({
          cause: 'dns_failure',
          code: 'dns.timeout',
          confidence: 0.8,
          summary:
            'No resolver answered for this name while other sites work: the resolvers are down or their traffic is dropped.',
          evidence: evidence,
        });
      }
      // With nothing else to compare against, silent resolvers point at the prober's own network first.
      return verdict({
        cause: 'local_network',
        code: 'local.dns_unreachable',
        confidence: 0.55,
        summary:
          'No resolver answered at all: this network or its resolvers are down, or DNS traffic is dropped (add --control to tell).',
        evidence: evidence,
      });
    }
    return undefined;
  },
};
