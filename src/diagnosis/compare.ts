// The comparison of several vantages' reports: a pure function from their verdicts to one, like the classifier.
import type { Cause, DnsObservation, VantageResult, Verdict } from '../types.js';
import { isVerdictCode, type VerdictCode } from './codes.js';
import { type Finding, verdict } from './verdict.js';

/** A vantage's code as a catalogue code (every verdict a vantage sends came from the catalogue). */
function codeOf(code: string): VerdictCode {
  return isVerdictCode(code) ? code : 'vantage.undetermined';
}

/** What the comparison reads: the vantages, with their reports when they completed. */
export interface Comparison {
  url: string;
  vantages: VantageResult[];
}

export type CompareRule = { name: string; apply: (input: CompareInput) => Finding | undefined };

interface Voter {
  name: string;
  verdict: Verdict;
  /** The private or reserved addresses its resolvers gave for a public name, when they gave nothing else. */
  onlyBogons: string[];
}

export interface CompareInput {
  url: string;
  /** Vantages that completed and whose own network works (controls answered, or no local verdict). */
  voters: Voter[];
  /** Completed vantages whose own network failed: reported, out of the vote. */
  ownNetworkFailed: Voter[];
  /** Vantages with no report (lost, refused, failed). */
  missing: VantageResult[];
  total: number;
}

/**
 * A filter code seen from every vantage is no filter on one path: the server itself answers that way for
 * this name. These are the codes the site's own failure has instead.
 */
const ownFailureOfFilterCode: Record<string, VerdictCode> = {
  'filter.keyword_reset': 'http.reset',
  'filter.keyword_drop': 'http.timeout',
  'filter.sni_reset': 'tls.handshake_failed',
  'filter.sni_drop': 'tls.handshake_failed',
  'filter.blackhole': 'tcp.timeout',
  // A page without the headers a server sends, seen from every path, is the site's own page; a second answer
  // after the first on every path is the site sending more than it announces.
  'filter.forged_page': 'http.ok',
  'filter.injected_response': 'http.protocol_error',
};

const ownFailureCause: Record<string, Cause> = {
  'http.reset': 'server_fault',
  'http.timeout': 'overload',
  'tls.handshake_failed': 'server_fault',
  'tcp.timeout': 'server_fault',
  'http.ok': 'ok',
  'http.protocol_error': 'server_fault',
};

/** Failures of the path between a vantage and the site, as opposed to the site's own answers. */
function isNetworkLevel(code: string): boolean {
  return /^(filter\.|tcp\.|tls\.handshake_failed|http\.(reset|empty_reply|timeout|body_timeout)|path\.|dns\.(tampered|timeout|nxdomain_disagreement))/.test(
    code,
  );
}

function names(voters: readonly { name: string }[]): string {
  return voters.map((voter) => voter.name).join(', ');
}

function evidenceOf(input: CompareInput): string[] {
  return [
    ...input.voters.map(
      (voter) =>
        `vantage ${voter.name}: ${voter.verdict.cause} / ${voter.verdict.code}: ${voter.verdict.summary}`,
    ),
    ...input.ownNetworkFailed.map(
      (voter) => `vantage ${voter.name}: out of the vote, its own network fails (${voter.verdict.code})`,
    ),
    ...input.missing.map(
      (vantage) =>
        `vantage ${vantage.name}: ${vantage.status}${vantage.reason ? ` (${vantage.reason})` : ''}`,
    ),
  ];
}

/** Agreement raises confidence; vantages that were lost lower it. */
function confidenceOf(base: number, agreeing: number, input: CompareInput): number {
  const agreement = Math.min(0.1, 0.05 * (agreeing - 1));
  const lostShare = input.total > 0 ? input.missing.length / input.total : 0;
  return Math.round(Math.max(0.1, Math.min(0.98, base + agreement - 0.3 * lostShare)) * 100) / 100;
}

const noVoter: CompareRule = {
  name: 'no-vantage-voted',
  apply: (input) => {
    if (input.voters.length > 0) return undefined;
    if (input.ownNetworkFailed.length > 0) {
      return verdict({
        cause: 'local_network',
        code: 'vantage.all_local_networks_failed',
        confidence: 0.5,
        summary: `Every vantage that answered has a failing network of its own (${names(input.ownNetworkFailed)}): nothing can be said about ${input.url} until one of them recovers.`,
        evidence: evidenceOf(input),
      });
    }
    return verdict({
      cause: 'local_network',
      code: 'vantage.none_completed',
      confidence: 0.2,
      summary: `No vantage completed the probe of ${input.url} (${input.missing.map((vantage) => `${vantage.name}: ${vantage.status}`).join(', ')}).`,
      evidence: evidenceOf(input),
    });
  },
};

const sameEverywhere: CompareRule = {
  name: 'same-everywhere',
  apply: (input) => {
    const [first] = input.voters;
    if (!first || !input.voters.every((voter) => voter.verdict.code === first.verdict.code)) return undefined;
    const count = input.voters.length;
    const from =
      count > 1
        ? `from all ${count} vantages (${names(input.voters)})`
        : `from ${first.name}, the only vantage that could tell`;
    if (first.verdict.cause === 'ok') {
      return verdict({
        cause: 'ok',
        code: codeOf(first.verdict.code),
        confidence: confidenceOf(first.verdict.confidence, count, input),
        summary: `${input.url} is reachable ${from}: ${first.verdict.summary}`,
        evidence: evidenceOf(input),
      });
    }
    const ownCode = ownFailureOfFilterCode[first.verdict.code];
    if (ownCode === 'http.ok' && count > 1) {
      return verdict({
        cause: 'ok',
        code: ownCode,
        confidence: confidenceOf(0.7, count, input),
        summary: `${input.url} is reachable ${from}, with the same page everywhere: what looks forged from one network is the site's own page (${first.verdict.code} seen on every path).`,
        evidence: evidenceOf(input),
      });
    }
    if (ownCode && count > 1) {
      // The same "filter" on every path is the server's own doing.
      return verdict({
        cause: ownFailureCause[ownCode] ?? 'server_fault',
        code: ownCode,
        confidence: confidenceOf(0.7, count, input),
        summary: `Down ${from}, the same way everywhere: what looks like a filter from one network is the site itself (${first.verdict.code} seen on every path): ${first.verdict.summary}`,
        evidence: evidenceOf(input),
      });
    }
    return verdict({
      cause: first.verdict.cause,
      code: codeOf(first.verdict.code),
      confidence: confidenceOf(first.verdict.confidence, count, input),
      summary: `Down ${from}: ${first.verdict.summary}`,
      evidence: evidenceOf(input),
    });
  },
};

/**
 * A vantage whose only resolver answered a bogon for a public name cannot tell a lie from split-horizon DNS by
 * itself, and fails to connect; next to a vantage that reaches the site, the bogon is the evidence of tampering.
 */
function failureCodeOf(voter: Voter): string {
  return isBogonTheEvidence(voter) ? 'dns.tampered' : voter.verdict.code;
}

/** A resolver that said it blocks the name (filter.dns_blocked) answered its 0.0.0.0 openly: no lie to infer. */
function isBogonTheEvidence(voter: Voter): boolean {
  return voter.onlyBogons.length > 0 && voter.verdict.code !== 'filter.dns_blocked';
}

function failureSummaryOf(voter: Voter): string {
  if (!isBogonTheEvidence(voter)) return voter.verdict.summary;
  return `the name resolves only to ${voter.onlyBogons.join(', ')}, a private or reserved address: its resolver answers falsely (there: ${voter.verdict.code}, ${voter.verdict.summary})`;
}

/** Some vantages reach the site while others fail on the way: the failure lives on those paths. */
const localized: CompareRule = {
  name: 'localized',
  apply: (input) => {
    const reaching = input.voters.filter((voter) => voter.verdict.cause === 'ok');
    const failing = input.voters.filter((voter) => voter.verdict.cause !== 'ok');
    if (reaching.length === 0 || failing.length === 0) return undefined;
    const [worst] = [...failing].sort((a, b) => b.verdict.confidence - a.verdict.confidence);
    if (!worst) return undefined;
    const isPath = failing.every((voter) => isNetworkLevel(failureCodeOf(voter)));
    const failures = failing.map((voter) => `from ${voter.name}: ${failureSummaryOf(voter)}`).join(' ');
    return verdict({
      cause: isPath ? 'filtered_path' : worst.verdict.cause,
      code: codeOf(failureCodeOf(worst)),
      confidence: confidenceOf(isPath ? 0.8 : worst.verdict.confidence, reaching.length, input),
      summary: `Reachable from ${names(reaching)}; ${failures}${isPath ? ' The failure is on the path from there, not at the site.' : ''}`,
      evidence: evidenceOf(input),
    });
  },
};

/** Every vantage fails, in different ways: the most common way decides, with less confidence. */
const mixedFailures: CompareRule = {
  name: 'mixed-failures',
  apply: (input) => {
    if (input.voters.some((voter) => voter.verdict.cause === 'ok')) return undefined;
    const counts = new Map<string, Voter[]>();
    for (const voter of input.voters)
      counts.set(voter.verdict.code, [...(counts.get(voter.verdict.code) ?? []), voter]);
    const [code, group] = [...counts.entries()].sort((a, b) => b[1].length - a[1].length)[0] ?? [];
    const [first] = group ?? [];
    if (!code || !group || !first) return undefined;
    return verdict({
      cause: first.verdict.cause,
      code: codeOf(code),
      confidence: confidenceOf(0.5 * first.verdict.confidence + 0.2, group.length, input),
      summary: `Down from every vantage, in different ways: ${input.voters.map((voter) => `${voter.name}: ${voter.verdict.code}`).join(', ')}. Most see ${code}: ${first.verdict.summary}`,
      evidence: evidenceOf(input),
    });
  },
};

/** Read top to bottom, like the comparison table in docs/causes.md. */
export const compareRules: CompareRule[] = [noVoter, sameEverywhere, localized, mixedFailures];

/** The addresses a public name resolved to, when every one of them is a bogon (nothing else was answered). */
function onlyBogonsOf(dns: DnsObservation | null | undefined): string[] {
  if (!dns || dns.isLocalName) return [];
  const queries = dns.resolvers.flatMap((resolver) => resolver.queries);
  const addresses = queries.flatMap((query) => query.addresses);
  const bogons = [...new Set(queries.flatMap((query) => query.bogons))];
  return addresses.length > 0 && addresses.every((address) => bogons.includes(address)) ? bogons : [];
}

export function inputOf(comparison: Comparison): CompareInput {
  const completed = comparison.vantages.filter((vantage) => vantage.status === 'completed' && vantage.report);
  const voters: Voter[] = [];
  const ownNetworkFailed: Voter[] = [];
  for (const vantage of completed) {
    const report = vantage.report as NonNullable<typeof vantage.report>;
    const voter = {
      name: vantage.name,
      verdict: report.verdict,
      onlyBogons: onlyBogonsOf(report.target.dns),
    };
    // A vantage whose own network fails says nothing about the site.
    if (voter.verdict.cause === 'local_network') ownNetworkFailed.push(voter);
    else voters.push(voter);
  }
  return {
    url: comparison.url,
    voters,
    ownNetworkFailed,
    missing: comparison.vantages.filter((vantage) => vantage.status !== 'completed' || !vantage.report),
    total: comparison.vantages.length,
  };
}

export function compareVantages(comparison: Comparison): Verdict {
  const input = inputOf(comparison);
  for (const rule of compareRules) {
    const finding = rule.apply(input);
    if (finding) return { ...finding, rule: rule.name };
  }
  return {
    rule: 'undetermined',
    ...verdict({
      cause: 'server_fault',
      code: 'vantage.undetermined',
      confidence: 0.2,
      summary: `The vantages disagree in a way reach cannot read: ${input.voters.map((voter) => `${voter.name}: ${voter.verdict.code}`).join(', ')}.`,
      evidence: evidenceOf(input),
    }),
  };
}
