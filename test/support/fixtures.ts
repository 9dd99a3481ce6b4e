// Recording observations as classifier fixtures: a loopback test run with RECORD_FIXTURES=1 writes the report's
// observations to test/fixtures/observations/NAME.json, for the unit tests that read them back.
import { writeFileSync } from 'node:fs';
import { defaultThresholds, type Report } from '../../src/types.js';

export function recordFixture(report: Report, name: string): void {
  if (process.env.RECORD_FIXTURES !== '1') return;
  const observations = { target: report.target, controls: report.controls, thresholds: defaultThresholds };
  writeFileSync(
    new URL(`../fixtures/observations/${name}.json`, import.meta.url),
    `${JSON.stringify(observations, null, 2)}\n`,
  );
}
