// Shared pieces of the classifier's rules: the rule type, the verdict builder and control/DNS evidence.
import type { Cause, Observations, Verdict } from '../types.js';
import { describeDns } from './describe.js';

export type Rule = { name: string; apply: (obs: Observations) => Verdict | undefined };

export function verdict(
  rule: string,
  cause: Cause,
  code: string,
  confidence: number,
  summary: string,
  evidence: string[],
): Verdict {
  return { cause, code, confidence, summary, evidence, rule };
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
