// The cores this process may use, for the defaults that size themselves by them (serve's WORKER_PROCESSES, the
// CLI's --threads): os.availableParallelism() (the CPU affinity mask), lowered to the CPU quota of the process's
// cgroup and its ancestors. Node 20's libuv reads only the mask, so under `docker run --cpus=1` on a 16-core host it
// answers 16 and serve would start four worker processes on one core's time; libuv 1.49 and later read the quota
// too, and the lower of the two answers is kept either way. A fractional quota counts down (1.5 cores: 1), as
// libuv's does.
import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { dirname } from 'node:path';

/** A file's text, or undefined when it cannot be read (absent, not a cgroup file system, no permission). */
export type ReadText = (path: string) => string | undefined;

export function usableCores(readText: ReadText = readTextOf): number {
  const quota = cgroupCpuQuota(readText);
  return Math.max(1, Math.min(availableParallelism(), quota ?? Number.POSITIVE_INFINITY));
}

/** The lowest CPU quota on the way from this process's cgroups up to their roots, in whole cores; none: undefined. */
export function cgroupCpuQuota(readText: ReadText): number | undefined {
  const memberships = readText('/proc/self/cgroup');
  const mountInfo = readText('/proc/self/mountinfo');
  if (memberships === undefined || mountInfo === undefined) return undefined;
  const mounts = cgroupMountsOf(mountInfo);
  let lowest: number | undefined;
  for (const membership of memberships.split('\n')) {
    // "hierarchy:controllers:path"; the path may itself hold colons.
    const [hierarchy, controllers, ...rest] = membership.split(':');
    if (hierarchy === undefined || controllers === undefined || rest.length === 0) continue;
    const path = rest.join(':');
    const isUnified = hierarchy === '0' && controllers === '';
    const mount = mounts.find((each) =>
      isUnified ? each.isUnified : !each.isUnified && controllers.split(',').includes('cpu') && each.hasCpu,
    );
    if (mount === undefined) continue;
    for (const directory of directoriesUp(mount, path)) {
      const cores = isUnified
        ? coresOfCpuMax(readText(`${directory}/cpu.max`))
        : coresOfCfs(readText(`${directory}/cpu.cfs_quota_us`), readText(`${directory}/cpu.cfs_period_us`));
      if (cores !== undefined && (lowest === undefined || cores < lowest)) lowest = cores;
    }
  }
  return lowest === undefined ? undefined : Math.max(1, Math.floor(lowest));
}

interface CgroupMount {
  /** Where the hierarchy's `root` is mounted. */
  mountPoint: string;
  /** The cgroup the mount shows as its top (a container's own, seen from outside its cgroup namespace). */
  root: string;
  isUnified: boolean;
  /** A v1 hierarchy that holds the cpu controller. */
  hasCpu: boolean;
}

/** The cgroup file systems of /proc/self/mountinfo (proc(5)): v2 ones, and v1 ones with their controllers. */
function cgroupMountsOf(mountInfo: string): CgroupMount[] {
  const mounts: CgroupMount[] = [];
  for (const line of mountInfo.split('\n')) {
    const fields = line.split(' ');
    const separator = fields.indexOf('-');
    const [root, mountPoint] = [fields[3], fields[4]];
    if (separator < 0 || root === undefined || mountPoint === undefined) continue;
    const type = fields[separator + 1];
    const superOptions = (fields[separator + 3] ?? '').split(',');
    if (type !== 'cgroup2' && type !== 'cgroup') continue;
    mounts.push({
      mountPoint: unescapeMountField(mountPoint),
      root: unescapeMountField(root),
      isUnified: type === 'cgroup2',
      hasCpu: type === 'cgroup' && superOptions.includes('cpu'),
    });
  }
  return mounts;
}

/** mountinfo writes a space, tab, newline or backslash in a path as a backslash and three octal digits. */
function unescapeMountField(field: string): string {
  return field.replace(/\\([0-7]{3})/g, (_match, octal: string) =>
    String.fromCharCode(Number.parseInt(octal, 8)),
  );
}

/**
 * The cgroup's directory under the mount, then each parent up to the mount point. A path outside the mount's
 * root (a cgroup namespace that shows "/" while the mount shows the host's path, or the reverse) is the mount
 * point itself: what the process can see of its cgroup.
 */
function directoriesUp(mount: CgroupMount, path: string): string[] {
  const root = mount.root === '/' ? '' : mount.root;
  const isInside = root === '' || path === root || path.startsWith(`${root}/`);
  const relative = isInside ? path.slice(root.length).replace(/\/+$/, '') : '';
  const directories: string[] = [];
  let directory = `${mount.mountPoint}${relative}`;
  for (let depth = 0; depth < 64; depth++) {
    directories.push(directory);
    if (directory.length <= mount.mountPoint.length) break;
    directory = dirname(directory);
  }
  return directories;
}

/** cgroup v2's cpu.max: "max 100000" (no quota) or "QUOTA PERIOD" in microseconds. */
function coresOfCpuMax(text: string | undefined): number | undefined {
  const [quota, period] = (text ?? '').trim().split(/\s+/);
  return coresOf(quota, period);
}

/** cgroup v1's cpu.cfs_quota_us (-1: no quota) and cpu.cfs_period_us. */
function coresOfCfs(quota: string | undefined, period: string | undefined): number | undefined {
  return coresOf(quota?.trim(), period?.trim());
}

function coresOf(quota: string | undefined, period: string | undefined): number | undefined {
  if (quota === undefined || period === undefined || !/^\d+$/.test(quota) || !/^\d+$/.test(period))
    return undefined;
  const periodUs = Number(period);
  return periodUs > 0 ? Number(quota) / periodUs : undefined;
}

/** A file's text, or undefined when it cannot be read: the default ReadText. */
export function readTextOf(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
}
