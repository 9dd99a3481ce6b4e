// A report made from recorded observations (test/fixtures/observations): what a vantage would have returned.
import { readFileSync } from 'node:fs';
import { classify } from '../../src/diagnosis/classify.js';
import type { Observations, Report } from '../../src/types.js';

const observationsDir = new URL('../fixtures/observations/', import.meta.url);

export function reportOfObservations(name: string, url: string): Report {
  const obs = JSON.parse(readFileSync(new URL(`${name}.json`, observationsDir), 'utf8')) as Observations;
  return {
    schemaVersion: 1,
    url,
    startedAt: '2026-11-30T00:00:00.000Z',
    durationMs: 1,
    timeoutMs: 5000,
    resolvers: [],
    target: obs.target,
    controls: obs.controls,
    verdict: classify(obs),
    warnings: [],
  };
}
