// Builds against builds on redirects: `reach probe --file` over a list where every URL is a 301 to a page on the
// same origin, and over the same list with the pages asked for directly, this build and another (`--baseline DIR`,
// e.g. main's build copied aside with a node_modules link) in alternating rounds. What a redirect hop costs, and
// what sending it on the connection its redirect came on saves.
//
// Usage: npm run build && node bench/batch-redirects.mjs --baseline DIR [--urls 10000 --concurrency 50 --rounds 5]
// Loopback only; everything started here is stopped by pid at the end.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import {
  batchListOptions,
  batchListSettings,
  boundedOption,
  cliPath,
  format,
  loadAverage,
  runReach,
  startTargets,
  stopOwnedChildren,
  writeList,
} from './batch-support.mjs';

const { values } = parseArgs({
  options: {
    ...batchListOptions,
    rounds: { type: 'string', default: '5' },
    baseline: { type: 'string' },
  },
});
if (!values.baseline) {
  console.error('batch-redirects: --baseline DIR is required (a build to compare with: DIR/dist/cli.js)');
  process.exit(2);
}
const { urlCount, concurrency } = batchListSettings(values);
const rounds = boundedOption(values.rounds, 5, 1, 50);
const builds = { 'this build': cliPath, baseline: join(resolve(values.baseline), 'dist/cli.js') };

const directory = await mkdtemp(join(tmpdir(), 'reach-bench-redirects-'));
const median = (numbers) => [...numbers].sort((a, b) => a - b)[Math.floor(numbers.length / 2)];
try {
  const targets = await startTargets(['127.0.0.1:0', '127.0.0.2:0', '127.0.0.3:0', '127.0.0.4:0']);
  const { origins } = targets;
  const lists = {
    redirects: Array.from(
      { length: urlCount },
      (_, index) => `${origins[index % origins.length]}/moved/${index}`,
    ),
    pages: Array.from({ length: urlCount }, (_, index) => `${origins[index % origins.length]}/page/${index}`),
  };
  for (const [name, urls] of Object.entries(lists)) await writeList(join(directory, `${name}.txt`), urls);
  console.log(`load before: ${loadAverage()}`);
  console.log('| list | build | wall s, median | CPU s, median | rounds |');
  console.log('|---|---|---:|---:|---:|');
  const medians = {};
  for (const list of Object.keys(lists)) {
    const runs = { 'this build': [], baseline: [] };
    for (let round = 0; round < rounds; round++) {
      // Alternating which build goes first, so a machine slowing through the run weighs on both.
      const order = round % 2 === 0 ? ['baseline', 'this build'] : ['this build', 'baseline'];
      for (const build of order) {
        const result = await runReach({
          cli: builds[build],
          args: ['probe', '--file', join(directory, `${list}.txt`), '--json', '--threads', '1'].concat([
            '--concurrency',
            String(concurrency),
            '--timeout',
            '5000',
          ]),
          timeFile: join(directory, 'time'),
        });
        if (result.lineCount !== urlCount)
          throw new Error(`${build}: ${result.lineCount} reports for ${urlCount}`);
        runs[build].push(result);
      }
    }
    for (const build of Object.keys(runs)) {
      const wall = median(runs[build].map((run) => run.wallSeconds));
      const cpu = median(runs[build].map((run) => run.cpuSeconds));
      medians[`${list} ${build}`] = wall;
      console.log(`| ${list} | ${build} | ${format(wall, 2)} | ${format(cpu, 2)} | ${rounds} |`);
    }
  }
  for (const list of Object.keys(lists)) {
    const ratio = medians[`${list} baseline`] / medians[`${list} this build`];
    console.log(`${list}: this build ${format(ratio, 2)}x as fast as the baseline (wall medians)`);
  }
  console.log(`load after: ${loadAverage()}`);
  await targets.stop();
} finally {
  await stopOwnedChildren();
  await rm(directory, { recursive: true, force: true });
}
