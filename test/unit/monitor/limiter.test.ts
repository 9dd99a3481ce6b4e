// The probe slots of a worker process: first come first served within each line, and a task asked to go ahead (a
// one-off run) takes the next free slot before every task of the ordinary line (shard members) waiting already.
import { describe, expect, it } from 'vitest';
import { Limiter } from '../../../src/monitor/schedule/limiter.js';

/** A task that runs until `finish()` is called, recording when it started. */
function heldTask(name: string, started: string[]) {
  let finish: () => void = () => undefined;
  const done = new Promise<void>((resolve) => {
    finish = resolve;
  });
  return {
    task: async () => {
      started.push(name);
      await done;
      return name;
    },
    finish: () => finish(),
  };
}

describe('Limiter', () => {
  it('gives the next free slot to a task asked to go ahead before the ordinary tasks waiting', async () => {
    const limiter = new Limiter(1);
    const started: string[] = [];
    const tasks = ['running', 'member-1', 'member-2', 'recheck', 'member-3'].map((name) =>
      heldTask(name, started),
    );
    const [running, member1, member2, recheck, member3] = tasks as [
      (typeof tasks)[0],
      (typeof tasks)[0],
      (typeof tasks)[0],
      (typeof tasks)[0],
      (typeof tasks)[0],
    ];
    const results = [
      limiter.run(running.task),
      limiter.run(member1.task),
      limiter.run(member2.task),
      limiter.run(recheck.task, { isAhead: true }),
      limiter.run(member3.task),
    ];
    expect(started).toEqual(['running']);
    expect(limiter.waitingCount).toBe(4);
    // Each finish hands the one slot on: the re-check first, then the members in the order they came.
    for (const each of [running, recheck, member1, member2, member3]) {
      each.finish();
      await results[tasks.indexOf(each)];
    }
    expect(started).toEqual(['running', 'recheck', 'member-1', 'member-2', 'member-3']);
    expect(await Promise.all(results)).toEqual(['running', 'member-1', 'member-2', 'recheck', 'member-3']);
    expect(limiter.waitingCount).toBe(0);
  });

  it('serves tasks asked to go ahead first come first served among themselves, and runs at once while slots are free', async () => {
    const limiter = new Limiter(2);
    const started: string[] = [];
    const tasks = ['a', 'b', 'member', 'first-run', 'recheck'].map((name) => heldTask(name, started));
    const results = tasks.map((each, index) => limiter.run(each.task, { isAhead: index >= 3 }));
    // Two slots: the first two start at once, ahead or not.
    expect(started).toEqual(['a', 'b']);
    for (const index of [0, 1, 3, 4, 2]) {
      tasks[index]?.finish();
      await results[index];
    }
    expect(started).toEqual(['a', 'b', 'first-run', 'recheck', 'member']);
  });

  it('keeps a long line first come first served, the line growing while it drains, the ahead tasks first', async () => {
    const limiter = new Limiter(1);
    const started: string[] = [];
    const running = heldTask('running', started);
    const results: Array<Promise<string>> = [limiter.run(running.task)];
    const quick = (name: string, then?: () => void) => async () => {
      started.push(name);
      then?.();
      return name;
    };
    // 5,000 members waiting, a re-check among every 500 of them; each of the first 1,500 members, once started,
    // sends another member to the back of the line (past the line's front being cut off, more than once).
    const members = Array.from({ length: 5000 }, (_, index) => `member-${index}`);
    const late = Array.from({ length: 1500 }, (_, index) => `late-${index}`);
    const rechecks: string[] = [];
    for (const [index, name] of members.entries()) {
      if (index % 500 === 0) {
        rechecks.push(`recheck-${index}`);
        results.push(limiter.run(quick(`recheck-${index}`), { isAhead: true }));
      }
      const sendLate =
        index < late.length ? () => results.push(limiter.run(quick(late[index] as string))) : undefined;
      results.push(limiter.run(quick(name, sendLate)));
    }
    expect(limiter.waitingCount).toBe(members.length + rechecks.length);
    running.finish();
    // Every task's promise, those added while the line drained included.
    for (let awaited = 0; awaited < results.length; ) {
      const count = results.length;
      await Promise.all(results.slice(awaited));
      awaited = count;
    }
    expect(started).toEqual(['running', ...rechecks, ...members, ...late]);
    expect(limiter.waitingCount).toBe(0);
  });
});
