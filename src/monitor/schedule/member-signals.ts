// A shard's abort passed on to its members in flight through one listener on the shard's signal, not one each.

/** Each shard signal's members in flight: their own controllers, aborted with it. */
const membersOf = new WeakMap<AbortSignal, Set<AbortController>>();

/**
 * Runs one member of a shard with a signal of its own, aborted when the shard's is. A shard of hundreds of members
 * in flight would otherwise add an abort listener each to the shard job's one signal (Node warns past 10: a leak,
 * it says, and a long shard's listeners would pile up); here the shard's signal carries one listener while any
 * member runs, and a member that ends is forgotten, the listener going with the last one.
 */
export async function runAsMember<T>(
  shardSignal: AbortSignal | undefined,
  run: (signal: AbortSignal | undefined) => Promise<T>,
): Promise<T> {
  if (!shardSignal) return run(undefined);
  const member = new AbortController();
  if (shardSignal.aborted) {
    member.abort(shardSignal.reason);
    return run(member.signal);
  }
  let members = membersOf.get(shardSignal);
  if (!members) {
    members = new Set();
    membersOf.set(shardSignal, members);
    shardSignal.addEventListener('abort', abortMembers, { once: true });
  }
  members.add(member);
  try {
    return await run(member.signal);
  } finally {
    members.delete(member);
    // The last member of the shard's signal: its listener goes too (after an abort, `once` removed it already).
    if (members.size === 0 && membersOf.get(shardSignal) === members) {
      membersOf.delete(shardSignal);
      shardSignal.removeEventListener('abort', abortMembers);
    }
  }
}

/** The one listener, shared by every shard signal: aborts that signal's members in flight. */
function abortMembers(event: Event): void {
  const shardSignal = event.target as AbortSignal;
  const members = membersOf.get(shardSignal);
  membersOf.delete(shardSignal);
  for (const member of members ?? []) member.abort(shardSignal.reason);
}
