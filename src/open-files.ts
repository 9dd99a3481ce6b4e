// The open files this process may hold: the soft RLIMIT_NOFILE (`ulimit -n`), read from /proc/self/limits, as Node
// has no getrlimit. A process whose probes at once need more sockets than that meets EMFILE (a probe that fails so
// is local.resources_exhausted, not the site's fault); the service warns of it at start.
import { type ReadText, readTextOf } from './usable-cores.js';

/** Sockets one probe may hold at once: its connection, a Happy Eyeballs attempt beside it, a DNS or side request. */
export const socketsPerProbe = 3;

/** Files a service process holds besides its probes: Redis connections, its listener and clients, logs, modules. */
export const filesBesideProbes = 256;

/** The soft limit on open files, or undefined where it is unlimited or cannot be read (not Linux). */
export function openFileLimit(readText: ReadText = readTextOf): number | undefined {
  const line = readText('/proc/self/limits')
    ?.split('\n')
    .find((each) => each.startsWith('Max open files'));
  // "Max open files            1024                 1048576              files": columns apart by two spaces or more.
  const soft = line?.split(/\s{2,}/)[1];
  if (soft === undefined || soft === 'unlimited') return undefined;
  const limit = Number(soft);
  return Number.isSafeInteger(limit) ? limit : undefined;
}
