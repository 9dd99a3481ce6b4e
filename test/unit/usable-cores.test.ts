// The cores a process may use, read from /proc and the cgroup file systems as they are on real machines: a
// container's cgroup v2 namespace, a v1 hierarchy seen from the host, a limit on a parent cgroup, no limit at all.
import { availableParallelism } from 'node:os';
import { describe, expect, it } from 'vitest';
import { cgroupCpuQuota, type ReadText, usableCores } from '../../src/usable-cores.js';

/** A file system of these files only; every other path is unreadable. */
function filesOf(files: Record<string, string>): ReadText {
  return (path) => files[path];
}

// A Docker container on cgroup v2 with its own cgroup namespace: it sees its cgroup as "/".
const v2Container = {
  '/proc/self/cgroup': '0::/\n',
  '/proc/self/mountinfo':
    '734 733 0:27 / /sys/fs/cgroup ro,nosuid,nodev,noexec,relatime - cgroup2 cgroup rw,nsdelegate,memory_recursiveprot\n',
};

// A host on cgroup v1 and v2 side by side (systemd's hybrid layout), the process in a v1 cpu cgroup of a service.
const v1Hybrid = {
  '/proc/self/cgroup':
    '12:pids:/system.slice/app.service\n4:cpu,cpuacct:/system.slice/app.service\n0::/system.slice/app.service\n',
  '/proc/self/mountinfo': [
    '25 24 0:22 / /sys/fs/cgroup ro,nosuid,nodev,noexec shared:4 - tmpfs tmpfs ro,mode=755',
    '26 25 0:23 / /sys/fs/cgroup/unified rw,nosuid,nodev,noexec,relatime shared:5 - cgroup2 cgroup2 rw,nsdelegate',
    '30 25 0:27 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid,nodev,noexec,relatime shared:11 - cgroup cgroup rw,cpu,cpuacct',
    '31 25 0:28 / /sys/fs/cgroup/pids rw,nosuid,nodev,noexec,relatime shared:12 - cgroup cgroup rw,pids',
    '',
  ].join('\n'),
};

describe('cgroupCpuQuota', () => {
  it("reads a v2 container's cpu.max in whole cores, counting a fraction down", () => {
    expect(cgroupCpuQuota(filesOf({ ...v2Container, '/sys/fs/cgroup/cpu.max': '200000 100000\n' }))).toBe(2);
    expect(cgroupCpuQuota(filesOf({ ...v2Container, '/sys/fs/cgroup/cpu.max': '150000 100000\n' }))).toBe(1);
  });

  it('counts a quota below one core as one', () => {
    expect(cgroupCpuQuota(filesOf({ ...v2Container, '/sys/fs/cgroup/cpu.max': '50000 100000\n' }))).toBe(1);
  });

  it('finds no quota in "max", in an unreadable cpu.max, or without /proc', () => {
    expect(
      cgroupCpuQuota(filesOf({ ...v2Container, '/sys/fs/cgroup/cpu.max': 'max 100000\n' })),
    ).toBeUndefined();
    expect(cgroupCpuQuota(filesOf(v2Container))).toBeUndefined();
    expect(cgroupCpuQuota(filesOf({}))).toBeUndefined();
  });

  it("reads a v1 cpu hierarchy's CFS quota under its mount, and takes the lowest of the cgroup and its parents", () => {
    const quotaOn = (path: string, quota: string) => ({
      [`/sys/fs/cgroup/cpu,cpuacct${path}/cpu.cfs_quota_us`]: `${quota}\n`,
      [`/sys/fs/cgroup/cpu,cpuacct${path}/cpu.cfs_period_us`]: '100000\n',
    });
    const unlimited = {
      ...v1Hybrid,
      ...quotaOn('/system.slice/app.service', '-1'),
      ...quotaOn('/system.slice', '-1'),
      ...quotaOn('', '-1'),
    };
    expect(cgroupCpuQuota(filesOf(unlimited))).toBeUndefined();
    expect(cgroupCpuQuota(filesOf({ ...unlimited, ...quotaOn('/system.slice/app.service', '300000') }))).toBe(
      3,
    );
    // The service is unlimited, the slice it runs in is not.
    expect(cgroupCpuQuota(filesOf({ ...unlimited, ...quotaOn('/system.slice', '250000') }))).toBe(2);
    expect(
      cgroupCpuQuota(
        filesOf({
          ...unlimited,
          ...quotaOn('/system.slice/app.service', '400000'),
          ...quotaOn('/system.slice', '200000'),
        }),
      ),
    ).toBe(2);
  });

  it("reads the mount point itself when the mount shows the process's own cgroup as its root", () => {
    // A v1 container without a cgroup namespace: /proc/self/cgroup names the host's path, the mount's root is it.
    const files = {
      '/proc/self/cgroup': '3:cpu,cpuacct:/docker/0f3c\n',
      '/proc/self/mountinfo':
        '640 632 0:30 /docker/0f3c /sys/fs/cgroup/cpu,cpuacct ro,nosuid - cgroup cgroup rw,cpu,cpuacct\n',
      '/sys/fs/cgroup/cpu,cpuacct/cpu.cfs_quota_us': '100000\n',
      '/sys/fs/cgroup/cpu,cpuacct/cpu.cfs_period_us': '100000\n',
    };
    expect(cgroupCpuQuota(filesOf(files))).toBe(1);
  });

  it('reads a mount point whose path holds an escaped space', () => {
    const files = {
      '/proc/self/cgroup': '0::/\n',
      '/proc/self/mountinfo': '30 25 0:26 / /mnt/cgroup\\040root rw,relatime - cgroup2 cgroup2 rw\n',
      '/mnt/cgroup root/cpu.max': '300000 100000\n',
    };
    expect(cgroupCpuQuota(filesOf(files))).toBe(3);
  });

  it('ignores a cpu quota on a v1 hierarchy that does not hold the cpu controller', () => {
    const files = {
      ...v1Hybrid,
      '/sys/fs/cgroup/pids/system.slice/app.service/cpu.cfs_quota_us': '100000\n',
      '/sys/fs/cgroup/pids/system.slice/app.service/cpu.cfs_period_us': '100000\n',
    };
    expect(cgroupCpuQuota(filesOf(files))).toBeUndefined();
  });
});

describe('usableCores', () => {
  it('is the CPU affinity when no quota is lower, and the quota when it is', () => {
    expect(usableCores(filesOf({}))).toBe(availableParallelism());
    expect(usableCores(filesOf({ ...v2Container, '/sys/fs/cgroup/cpu.max': '100000 100000\n' }))).toBe(1);
    expect(usableCores(filesOf({ ...v2Container, '/sys/fs/cgroup/cpu.max': '6400000 100000\n' }))).toBe(
      availableParallelism(),
    );
  });
});
