// Benchmark: what `reach probe --file` costs before and after its probes, the part of a batch's run that does not
// grow with the list: a process per run, from spawn to exit, on a list of one loopback URL (node's own start, the
// module graph, the list's reading, one probe, the exit). Beside it a bare `node` on an empty script (node's own
// share), and with `--baseline DIR` another build's CLI (DIR/dist/cli.js), the builds alternating each round so the
// ratio is taken in one run.
// Usage: npm run build && node bench/cli-startup.mjs [--rounds 20] [--baseline DIR]
// Loopback only: one target (bench/batch-targets.mjs on 127.0.0.1), stopped by pid at the end.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import {
  format,
  loadAverage,
  runReach,
  startTargets,
  stopOwnedChildren,
  writeList,
} from './batch-support.mjs';

const { values } = parseArgs({
  options: {
    rounds: { type: 'string', default: '20' },
    baseline: { type: 'string' },
  },
});
const rounds = Math.min(Math.max(Number(values.rounds) || 20, 1), 200);
const work = await mkdtemp(join(tmpdir(), 'reach-bench-startup-'));
const emptyScript = join(work, 'empty.mjs');
await writeFile(emptyScript, '');

const targets = await startTargets(['127.0.0.1:0']);
const listPath = join(work, 'list.txt');
await writeList(listPath, [`${targets.origins[0]}/`]);

const systems = [
  { name: 'node, empty script', cli: emptyScript, args: [] },
  { name: 'reach probe --file (1 URL) --json', args: ['probe', '--file', listPath, '--json'] },
  ...(values.baseline
    ? [
        {
          name: 'baseline reach probe --file (1 URL) --json',
          cli: join(resolve(values.baseline), 'dist/cli.js'),
          args: ['probe', '--file', listPath, '--json'],
        },
      ]
    : []),
];
const samples = new Map(systems.map((system) => [system.name, { wall: [], cpu: [] }]));

const loadBefore = loadAverage();
try {
  for (let round = 0; round < rounds; round++) {
    // The order alternates, so neither build always runs right after the other.
    const order = round % 2 === 0 ? systems : [...systems].reverse();
    for (const system of order) {
      const run = await runReach({
        args: system.args,
        ...(system.cli ? { cli: system.cli } : {}),
        timeFile: join(work, 'time.txt'),
      });
      if (run.exitCode !== 0) throw new Error(`${system.name} exited ${run.exitCode}: ${run.stderrTail}`);
      const sample = samples.get(system.name);
      sample.wall.push(run.elapsedSeconds * 1000);
      sample.cpu.push(run.cpuSeconds * 1000);
    }
  }
} finally {
  await targets.stop();
  await stopOwnedChildren();
  await rm(work, { recursive: true, force: true });
}

const median = (numbers) => {
  const sorted = [...numbers].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
};
const mean = (numbers) => numbers.reduce((sum, n) => sum + n, 0) / numbers.length;

console.log(`${rounds} rounds, load average ${loadBefore} before, ${loadAverage()} after`);
console.log('| system | wall ms, median | wall ms, mean | CPU ms, median | CPU ms, mean |');
console.log('|---|---:|---:|---:|---:|');
for (const [name, { wall, cpu }] of samples)
  console.log(
    `| ${name} | ${format(median(wall), 0)} | ${format(mean(wall), 0)} | ${format(median(cpu), 0)} | ${format(mean(cpu), 0)} |`,
  );
if (values.baseline) {
  const branch = samples.get(systems[1].name);
  const base = samples.get(systems[2].name);
  console.log(
    `this build / baseline: wall ${format(mean(branch.wall) / mean(base.wall), 3)}x (mean), CPU ${format(mean(branch.cpu) / mean(base.cpu), 3)}x (mean; GNU time counts CPU in 10 ms steps)`,
  );
}
