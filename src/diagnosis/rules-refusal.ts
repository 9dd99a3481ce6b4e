// Rules for answers that refuse: a filter's block page (known, or forged and caught in the act), a legal block
// (451), and the site refusing this client.
import type { HttpExchange } from '../types.js';
import { findBlockPage } from './block-pages.js';
import { describeExchange } from './describe.js';
import { finalExchange } from './facts.js';
import { headerName, readPageEvidence } from './page-evidence.js';
import { isStatusAccepted } from './rules-content.js';
import type { Rule } from './verdict.js';
import { verdict } from './verdict.js';

function exchangesOf(obs: Parameters<Rule['apply']>[0]): HttpExchange[] {
  return obs.target.http?.hops.map((hop) => hop.exchange) ?? [];
}

/** A page or redirect only a filter sends: positive evidence of blocking, whatever the status says. */
export const blockPage: Rule = {
  name: 'block-page',
  apply: (obs) => {
    const match = findBlockPage(exchangesOf(obs));
    if (!match) return undefined;
    const { fingerprint } = match;
    const who =
      fingerprint.scope === 'nat'
        ? 'a national filter'
        : fingerprint.scope === 'isp'
          ? "the network provider's filter"
          : "an institution's web filter";
    return verdict({
      cause: 'filtered_path',
      code: 'filter.block_page',
      confidence: 0.9,
      summary: `The answer for ${obs.target.host} is a known block page (${who}, seen in ${fingerprint.countries.join(', ')}), not the site: the site is blocked on this network.`,
      evidence: [
        ...exchangesOf(obs).map(describeExchange),
        `block page: ${match.url} matches ${fingerprint.where} ${fingerprint.match} ${JSON.stringify(fingerprint.pattern)} (${fingerprint.source})`,
      ],
    });
  },
};

/**
 * A plain-http page that is not the server's: a second answer came after it on the same connection (an
 * injector answered first), or it lacks the headers the same server sends on every other answer. A page that
 * merely differs from the server's answer for a neutral Host is a vhost, not evidence; thin evidence is a
 * warning (warnings.ts), never this verdict.
 */
export const forgedPage: Rule = {
  name: 'forged-page',
  apply: (obs) => {
    const page = readPageEvidence(obs.target);
    if (!page || (page.strength !== 'injected' && page.strength !== 'forged')) return undefined;
    const name = page.final.hostHeader;
    const signs = [
      ...(page.missingHeaders.length > 0
        ? [
            `it lacks the ${page.missingHeaders.map(headerName).join(' and ')} header${page.missingHeaders.length > 1 ? 's' : ''} the same server sends otherwise`,
          ]
        : []),
      ...(page.isEarly ? ['it came sooner than the server could answer'] : []),
      ...(page.isResetAfterFin ? ['more data came after it closed'] : []),
      ...(page.differentElsewhere.length > 0
        ? ['the address another resolver gives serves another page']
        : []),
    ];
    const isCorroborated =
      page.missingHeaders.length > 0 || page.isEarly || page.differentElsewhere.length > 0;
    if (page.strength === 'injected') {
      return verdict({
        cause: 'filtered_path',
        code: 'filter.injected_response',
        confidence: isCorroborated ? 0.9 : 0.7,
        summary: `The answer for ${name} was injected on the path: after a complete answer to our one request, a second one came on the same connection (the server's own, arriving after a forged page)${isCorroborated ? `; besides, ${signs.join(', and ')}` : '; a server that sends more than it announces looks the same, though rarely'}. The page shown is not the site's.`,
        evidence: page.evidence,
      });
    }
    return verdict({
      cause: 'filtered_path',
      code: 'filter.forged_page',
      confidence: page.isEarly || page.differentElsewhere.length > 0 ? 0.75 : 0.6,
      summary: `The page for ${name} is most likely forged on the path: ${signs.join(', and ')}. A server that answers this one name from another program would look the same; a probe from another network tells them apart.`,
      evidence: page.evidence,
    });
  },
};

/** The Link header's rel="blocked-by" target (RFC 7725), if any. */
function blockedByOf(link: string | undefined): string | undefined {
  if (!link) return undefined;
  for (const part of link.split(',')) {
    const match = /<([^>]*)>\s*;(?:[^;]*;)*\s*rel="?[^";]*\bblocked-by\b/i.exec(part);
    if (match) return match[1];
  }
  return undefined;
}

/** HTTP 451 Unavailable For Legal Reasons: a block, by whoever the Link header names. */
export const legalBlock: Rule = {
  name: 'legal-block',
  apply: (obs) => {
    const final = finalExchange(obs.target);
    if (final?.outcome !== 'response' || final.status !== 451) return undefined;
    const blockedBy = blockedByOf(final.headers.link);
    return verdict({
      cause: 'filtered_path',
      code: 'filter.http_451',
      confidence: blockedBy ? 0.85 : 0.7,
      summary: `Access to ${final.url} is refused for legal reasons (HTTP 451)${blockedBy ? `, blocked by ${blockedBy}` : ''}: a court order or government block applies here, or the site restricts this region itself.`,
      evidence: [describeExchange(final), ...(blockedBy ? [`Link: rel="blocked-by" ${blockedBy}`] : [])],
    });
  },
};

const challengeMarkers = [
  /challenge-platform/i,
  /cf-chl-/i,
  /<title>Just a moment\.\.\.<\/title>/i,
  /captcha/i,
];

/**
 * The site (or its CDN) answers and refuses this client: a bot challenge, a login, or a refusal. The site is
 * up and not censored; whether a person gets in depends on who asks, so it is neither ok nor a filter.
 */
export const clientRefused: Rule = {
  name: 'client-refused',
  apply: (obs) => {
    const final = finalExchange(obs.target);
    if (final?.outcome !== 'response' || final.status === undefined) return undefined;
    if (isStatusAccepted(obs)) return undefined;
    const evidence = [describeExchange(final)];
    const isChallenge =
      final.headers.cfMitigated?.toLowerCase() === 'challenge' ||
      ((final.status === 403 || final.status === 503 || final.status === 429) &&
        challengeMarkers.some((marker) => marker.test(final.bodyPrefix ?? '')));
    if (isChallenge) {
      return verdict({
        cause: 'server_fault',
        code: 'http.challenge',
        confidence: 0.7,
        summary: `The site's CDN or firewall answers with a bot challenge (${final.status}${final.headers.cfMitigated ? `, cf-mitigated: ${final.headers.cfMitigated}` : ''}) instead of the page: browsers that pass it get in, scripts and monitors do not. The site is up and not blocked on the path.`,
        evidence: final.headers.cfMitigated
          ? [...evidence, `cf-mitigated: ${final.headers.cfMitigated}`]
          : evidence,
      });
    }
    if (final.status === 401) {
      return verdict({
        cause: 'server_fault',
        code: 'http.auth_required',
        confidence: 0.6,
        summary: `The site is up but asks for credentials (401) for ${final.url}: it is not public, or the login it expects is missing.`,
        evidence: evidence,
      });
    }
    if (final.status === 403) {
      return verdict({
        cause: 'server_fault',
        code: 'http.forbidden',
        confidence: 0.6,
        summary: `The site is up but refuses this client (403) for ${final.url}: its access rules, firewall or a geographic restriction turn this address away. Others may get in.`,
        evidence: evidence,
      });
    }
    return undefined;
  },
};
