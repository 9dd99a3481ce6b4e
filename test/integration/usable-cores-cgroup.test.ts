// The defaults that size themselves by the cores (serve's WORKER_PROCESSES, the CLI's --threads) in a real cgroup
// with a CPU quota of one core, as `docker run --cpus=1` makes: a process put in it counts one core, whatever the
// machine has. Root only (it makes a cgroup); the cgroup is removed at the end, and the cpu controller handed back
// up when the test handed it down.
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const run = promisify(execFile);
const dist = new URL('../../dist/', import.meta.url);

/** A cgroup this process can make under a hierarchy with the cpu controller, and how to give it a quota. */
interface QuotaCgroup {
  directory: string;
  setOneCore(): void;
  /** Undoes what was changed above the cgroup to make it (the cpu controller handed down by the root). */
  restore(): void;
}

/** The cgroup to make: under a v2 mount whose root offers the cpu controller, else under a v1 cpu mount. */
function findCgroup(): QuotaCgroup | string {
  if (process.platform !== 'linux') return 'cgroups are Linux only';
  if (process.getuid?.() !== 0)
    return 'making a cgroup needs root (run: sudo npx vitest run test/integration)';
  const mounts = readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .map((line) => line.split(' '))
    .flatMap((fields) => {
      const separator = fields.indexOf('-');
      const mountPoint = fields[4];
      if (separator < 0 || mountPoint === undefined) return [];
      return [{ mountPoint, type: fields[separator + 1], options: (fields[separator + 3] ?? '').split(',') }];
    });
  const name = `reach-cores-${process.pid}`;
  for (const mount of mounts.filter((each) => each.type === 'cgroup2')) {
    const controllers = join(mount.mountPoint, 'cgroup.controllers');
    if (!existsSync(controllers) || !readFileSync(controllers, 'utf8').split(/\s+/).includes('cpu')) continue;
    const subtreeControl = join(mount.mountPoint, 'cgroup.subtree_control');
    const wasHandedDown = readFileSync(subtreeControl, 'utf8').split(/\s+/).includes('cpu');
    try {
      if (!wasHandedDown) writeFileSync(subtreeControl, '+cpu');
    } catch {
      continue; // the cpu controller cannot be handed down here (a cgroup with processes of its own)
    }
    const directory = join(mount.mountPoint, name);
    return {
      directory,
      setOneCore: () => writeFileSync(join(directory, 'cpu.max'), '100000 100000'),
      restore: () => {
        if (wasHandedDown) return;
        try {
          writeFileSync(subtreeControl, '-cpu');
        } catch {
          // Busy: a cgroup made since by someone else uses it; it stays handed down, as it would have for them.
        }
      },
    };
  }
  const v1 = mounts.find((each) => each.type === 'cgroup' && each.options.includes('cpu'));
  if (v1 !== undefined) {
    const directory = join(v1.mountPoint, name);
    return {
      directory,
      setOneCore: () => {
        writeFileSync(join(directory, 'cpu.cfs_period_us'), '100000');
        writeFileSync(join(directory, 'cpu.cfs_quota_us'), '100000');
      },
      restore: () => {},
    };
  }
  return 'no cgroup hierarchy with the cpu controller is mounted here';
}

const found = findCgroup();
const skipReason = typeof found === 'string' ? found : undefined;
if (skipReason) console.warn(`CPU quota test skipped: ${skipReason}`);
let made: QuotaCgroup | undefined;

/** What the built code counts in a node process started inside `cgroup` (or outside any new one). */
async function countsIn(cgroup: QuotaCgroup | undefined) {
  const script = [
    `const { usableCores } = await import(${JSON.stringify(new URL('usable-cores.js', dist).href)});`,
    `const { loadConfig } = await import(${JSON.stringify(new URL('config.js', dist).href)});`,
    `const { defaultThreads } = await import(${JSON.stringify(new URL('batch/probe-pool.js', dist).href)});`,
    'console.log(JSON.stringify({ usable: usableCores(), workerProcesses: loadConfig({}).workerProcesses,',
    '  threads: defaultThreads(50) }));',
  ].join('\n');
  const node = [process.execPath, '--input-type=module', '-e', script];
  // The shell joins the cgroup, then becomes node: node starts inside it, as a container's processes do.
  const { stdout } = cgroup
    ? await run(
        '/bin/sh',
        [
          '-c',
          'echo $$ > "$1" || exit 97; shift; exec "$@"',
          'sh',
          join(cgroup.directory, 'cgroup.procs'),
          ...node,
        ],
        { timeout: 30_000 },
      )
    : await run(node[0] as string, node.slice(1), { timeout: 30_000 });
  return JSON.parse(stdout) as { usable: number; workerProcesses: number; threads: number };
}

beforeAll(() => {
  if (typeof found === 'string') return;
  mkdirSync(found.directory);
  made = found;
  found.setOneCore();
});

afterAll(() => {
  if (!made) return;
  // Empty by now: its only processes were the ones the tests started, and they have exited.
  rmdirSync(made.directory);
  made.restore();
});

describe.skipIf(skipReason !== undefined)(
  'the cores a process may use, under a CPU quota of one core',
  () => {
    it("counts one core inside the cgroup and the machine's outside it: one worker process, one probing thread", async () => {
      const outside = await countsIn(undefined);
      expect(outside.usable).toBe(availableParallelism());
      expect(outside.workerProcesses).toBe(Math.min(availableParallelism(), 4));
      const inside = await countsIn(found as QuotaCgroup);
      expect(inside).toEqual({ usable: 1, workerProcesses: 1, threads: 1 });
    });
  },
);
