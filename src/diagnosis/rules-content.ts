// The rule for content checks: the site answered, but not what its monitor expects (status, texts, JSON, time).
import type { Cause, ContentCheck, ContentCheckKind, Observations } from '../types.js';
import type { VerdictCode } from './codes.js';
import { describeExchange } from './describe.js';
import { finalExchange } from './facts.js';
import type { Rule } from './verdict.js';
import { verdict } from './verdict.js';

const codeOfKind: Record<ContentCheckKind, VerdictCode> = {
  status: 'content.status_unexpected',
  body_contains: 'content.body_missing',
  body_not_contains: 'content.body_forbidden',
  json: 'content.json_mismatch',
  response_time: 'content.too_slow',
};

/**
 * The first check that failed decides (status, texts, JSON, then time), and every check is cited. A wrong
 * answer is the server's fault; an answer that comes too late, or a 429/503 where another status was expected,
 * is overload, as the engine's own slowness and status rules say.
 */
export const contentExpectation: Rule = {
  name: 'content-expectation',
  apply: (obs) => {
    const content = obs.target.content;
    const failed = content?.checks.filter((check) => !check.isMet) ?? [];
    const [first] = failed;
    if (!content || !first) return undefined;
    const others = failed.length - 1;
    const final = finalExchange(obs.target);
    return verdict({
      cause: causeOf(first, content.status),
      code: codeOfKind[first.kind],
      confidence: 0.9,
      summary: `${content.url} answers, but fails a content check: expected ${first.expected}; ${first.actual}${others > 0 ? ` (and ${others} more check${others > 1 ? 's' : ''} failed)` : ''}.`,
      evidence: [
        ...content.checks.map(
          (check) =>
            `content: ${check.isMet ? 'met' : 'FAILED'}: expected ${check.expected}; ${check.actual}`,
        ),
        ...(final ? [describeExchange(final)] : []),
      ],
    });
  },
};

function causeOf(check: ContentCheck, status: number): Cause {
  if (check.kind === 'response_time') return 'overload';
  if (check.kind === 'status' && (status === 429 || status === 503)) return 'overload';
  return 'server_fault';
}

/** The monitor accepts the final status explicitly: the rules that judge statuses on their own stand aside. */
export function isStatusAccepted(obs: Observations): boolean {
  return obs.target.content?.checks.some((check) => check.kind === 'status' && check.isMet) ?? false;
}
