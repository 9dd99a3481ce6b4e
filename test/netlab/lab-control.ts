// Bringing the network lab (lab.sh) up and down for a suite: whether this machine can run it, a lab per run
// under its own namespace prefix, and the removal of labs left behind by runs that were killed.
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';

const labScript = path.join(import.meta.dirname, 'lab.sh');

const requiredTools = [
  'ip',
  'ss',
  'iptables',
  'ip6tables',
  'nginx',
  'named',
  'dnsmasq',
  'openssl',
  'redis-server',
  'python3',
];

function findMissingTools(): string[] {
  // sbin directories hold most of these tools and are not on every PATH.
  const searchPath = `${process.env.PATH ?? ''}:/usr/local/sbin:/usr/sbin:/sbin`;
  return requiredTools.filter(
    (tool) => !searchPath.split(':').some((dir) => dir !== '' && existsSync(path.join(dir, tool))),
  );
}

/** Why the lab cannot run here, or undefined when it can. */
export function findLabSkipReason(): string | undefined {
  if (process.platform !== 'linux') return 'the network lab needs Linux network namespaces';
  if (process.getuid?.() !== 0) return 'the network lab needs root (run: sudo npm run test:netlab)';
  const missing = findMissingTools();
  if (missing.length > 0) return `the network lab needs these tools, missing here: ${missing.join(', ')}`;
  return undefined;
}

/**
 * A lab's names for one run of one suite: `reach-<letter><pid>-`, the letter telling suites apart so two
 * suites of one run (vitest may run them at once, in one process) never share a lab.
 */
export function labNames(suiteLetter: string) {
  const labPrefix = `reach-${suiteLetter}${process.pid}-`;
  const labState = `/run/${labPrefix}netlab`;
  return { labPrefix, labState, labCa: `${labState}/tls/ca.pem`, proberNamespace: `${labPrefix}prober` };
}

export function runLab(command: 'up' | 'down', prefix: string): void {
  execFileSync('bash', [labScript, command], {
    env: { ...process.env, REACH_NETLAB_PREFIX: prefix, REACH_NETLAB_STATE: `/run/${prefix}netlab` },
    stdio: ['ignore', 'inherit', 'inherit'],
    timeout: 60_000,
  });
}

function isProcessAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Removes labs left by earlier runs of the suites that were killed before their afterAll ran. */
export function removeAbandonedLabs(): void {
  const namespaces = execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' });
  for (const match of namespaces.matchAll(/^reach-([a-z])(\d+)-prober\b/gm)) {
    const ownerPid = Number(match[2]);
    if (ownerPid !== process.pid && !isProcessAlive(ownerPid))
      runLab('down', `reach-${match[1]}${ownerPid}-`);
  }
}

/** Brings this run's lab up; a half-built lab is taken down again before the error is thrown. */
export function bringLabUp(prefix: string): void {
  removeAbandonedLabs();
  try {
    runLab('up', prefix);
  } catch (error) {
    runLab('down', prefix);
    throw error;
  }
}
