import { describe, expect, it } from 'vitest';
import { openFileLimit } from '../../src/open-files.js';

const limitsWith = (openFiles: string) =>
  [
    'Limit                     Soft Limit           Hard Limit           Units     ',
    'Max cpu time              unlimited            unlimited            seconds   ',
    openFiles,
    'Max locked memory         8388608              8388608              bytes     ',
  ].join('\n');

describe('the open-file limit', () => {
  it('reads the soft limit from /proc/self/limits', () => {
    const read = (path: string) =>
      path === '/proc/self/limits'
        ? limitsWith('Max open files            1024                 524288               files     ')
        : undefined;
    expect(openFileLimit(read)).toBe(1024);
  });

  it('has none when unlimited or unreadable', () => {
    expect(
      openFileLimit(() =>
        limitsWith('Max open files            unlimited            unlimited            files     '),
      ),
    ).toBeUndefined();
    expect(openFileLimit(() => undefined)).toBeUndefined();
  });

  it("reads this process's own limit on Linux", () => {
    if (process.platform !== 'linux') return;
    expect(openFileLimit()).toBeGreaterThan(0);
  });
});
