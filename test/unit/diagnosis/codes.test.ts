// The catalogue of verdict codes and docs/causes.md name the same codes, and every rule uses the catalogue.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { verdictCodes } from '../../../src/diagnosis/codes.js';

const causes = readFileSync(new URL('../../../docs/causes.md', import.meta.url), 'utf8');
const diagnosisDir = new URL('../../../src/diagnosis/', import.meta.url);

/** The `code` column of every table row in docs/causes.md (the one that names verdict codes). */
function documentedCodes(): Set<string> {
  const codes = new Set<string>();
  for (const line of causes.split('\n')) {
    if (!line.startsWith('|')) continue;
    for (const match of line.matchAll(
      /`((?:local|dns|tcp|filter|tls|http|path|probe|vantage|content)\.[a-z0-9_]+)`/g,
    ))
      codes.add(match[1] as string);
  }
  return codes;
}

/** Codes that causes.md may name besides verdicts: warnings and the monitor's own run codes. */
const otherDocumentedCodes = new Set([
  'path.address_unreachable',
  'http.page_differs',
  'dns.stale_answer',
  'vantage.below_quorum',
  'vantage.none_live',
]);

describe('the catalogue of verdict codes', () => {
  it('is documented in docs/causes.md, every code of it', () => {
    const documented = documentedCodes();
    expect(Object.keys(verdictCodes).filter((code) => !documented.has(code))).toEqual([]);
  });

  it('holds every code docs/causes.md names in its tables', () => {
    const unknown = [...documentedCodes()].filter(
      (code) =>
        !(code in verdictCodes) && !otherDocumentedCodes.has(code) && !/\.(js|ts|md|json)$/.test(code),
    );
    expect(unknown).toEqual([]);
  });

  it('is the only source of code literals in the rules', () => {
    for (const file of [
      'rules-connection.ts',
      'rules-tls.ts',
      'rules-dns.ts',
      'rules-http.ts',
      'rules-local.ts',
      'rules-refusal.ts',
      'rules-content.ts',
      'compare.ts',
      'classify.ts',
    ]) {
      const text = readFileSync(new URL(file, diagnosisDir), 'utf8');
      for (const match of text.matchAll(/code: '([^']+)'/g))
        expect(verdictCodes).toHaveProperty([match[1] as string]);
    }
  });
});
