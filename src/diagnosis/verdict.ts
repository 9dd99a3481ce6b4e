// Shared pieces of the classifier's rules: the rule type, the verdict builder and control/DNS evidence.
import type { Cause, Observations, Verdict } from '../types.js';
import type { VerdictCode } from './codes.js';
import { describeDns } from './describe.js';

/** A rule's conclusion; classify stamps it with the rule's name to make the verdict. */
export type Finding = Omit<Verdict, 'rule' | 'code'> & { code: VerdictCode };

export type Rule = { name: string; apply: (obs: Observations) => Finding | undefined };

/**
 * Builds a finding; the code comes from the closed catalogue in codes.ts. Every rule passes a literal made for
 * the call, so it is the finding itself (classify stamps it with the rule's name), not a copy.
 */
export function verdict(finding: {
  cause: Cause;
  code: VerdictCode;
  confidence: number;
  summary: string;
  evidence: string[];
}): Finding {
  return finding;
}

export const hasControls = (obs: Observations) => obs.controls.length > 0;
export const someControlReachable = (obs: Observations) => obs.controls.some((c) => c.isReachable);
export const allControlsFailed = (obs: Observations) => hasControls(obs) && !someControlReachable(obs);

export function controlEvidence(obs: Observations): string[] {
  return obs.controls.map(
    (c) => `control: ${c.url} ${c.isReachable ? 'answered' : `failed (${c.verdict.code})`}`,
  );
}

export function dnsEvidence(obs: Observations): string[] {
  return obs.target.dns ? describeDns(obs.target.dns) : [];
}
