// A batch in Redis: its state and counts, which URLs have ended (one bit each), their results in the order they
// ended, and its bad lines. Every key of one batch is built by batchKeys and shares one hash tag, so each script
// touches a single slot; nothing here spans two batches in one command.
import type { RedisClient } from '../redis/connection.js';
import type { BatchItem, ItemCause, ItemStatus } from './item.js';
import {
  type BatchCommands,
  cancelScript,
  claimChunkScript,
  claimScript,
  recordGroupMax,
  recordScript,
} from './store-scripts.js';

export { recordGroupMax };

/** The keys of one batch, all in the hash slot of `{<prefix>:batch:<id>}`. */
export function batchKeys(prefix: string, id: string) {
  const tag = `{${prefix}:batch:${id}}`;
  return {
    /** Hash: id, owner, total, done, state, times, options, and the counts `status:<s>` and `cause:<c>`. */
    meta: `${tag}:meta`,
    /** Bitmap: bit i set once item i has its result. */
    done: `${tag}:done`,
    /** List: each item's result as JSON, in the order they ended. */
    results: `${tag}:results`,
    /** List: the bad lines of the submitted list, as JSON { line, reason }. */
    badLines: `${tag}:bad`,
    /** List: the batch's URLs in order, for the items a cancel takes off the queue with their jobs. */
    urls: `${tag}:urls`,
    /** String: the batch's controls as last probed (JSON), shared by every worker (shared-controls.ts). */
    controls: `${tag}:controls`,
  };
}

/** A client's running batches: a sorted set of ids (score: submitted at), one key per client. */
export function runningBatchesKey(prefix: string, clientId: string): string {
  return `${prefix}:batches-running:${clientId}`;
}

export type BatchState = 'running' | 'completed' | 'cancelled';

export interface BatchOptions {
  resolvers?: string[];
  controls?: string[];
  timeoutMs?: number;
  /** The live vantages the request named, resolved when it was accepted: each URL is probed from each. */
  vantages?: Array<{ name: string; labels: Record<string, string> }>;
}

export interface BadLine {
  line: number;
  reason: string;
}

export interface BatchRecord {
  id: string;
  clientId: string;
  state: BatchState;
  total: number;
  done: number;
  badLineCount: number;
  options: BatchOptions;
  /** URLs per job on the batch lane; absent for a batch queued before chunks (one job per URL). */
  chunkSize?: number;
  createdAtMs: number;
  startedAtMs?: number;
  finishedAtMs?: number;
  byStatus: Partial<Record<ItemStatus, number>>;
  byCause: Partial<Record<ItemCause, number>>;
}

/**
 * What recording an item did: its batch is gone (expired or never made), it had a result already, or it was kept.
 * Both known outcomes carry the batch's state as the write found it, so a worker learns of a cancel from its writes.
 */
export type RecordOutcome =
  | { kind: 'unknown' }
  | { kind: 'duplicate'; state: BatchState }
  | { kind: 'recorded'; isBatchFinished: boolean; clientId: string; state: BatchState };

export class BatchStore {
  private readonly redis: RedisClient & BatchCommands;

  constructor(
    redis: RedisClient,
    private readonly prefix: string,
    private readonly ttlSeconds: number,
  ) {
    // defineCommand is idempotent per client: the API and the workers may each hold a store on one client.
    for (const [name, script, keys] of [
      ['recordBatchItems', recordScript, 5],
      ['claimBatchItem', claimScript, 2],
      ['claimBatchChunk', claimChunkScript, 2],
      ['cancelBatch', cancelScript, 1],
    ] as const) {
      if (!(name in redis)) redis.defineCommand(name, { numberOfKeys: keys, lua: script });
    }
    this.redis = redis as RedisClient & BatchCommands;
  }

  keys(id: string) {
    return batchKeys(this.prefix, id);
  }

  /** Writes a new batch (state running) with its bad lines; its items are recorded one by one after. */
  async create(batch: {
    id: string;
    clientId: string;
    urls: readonly string[];
    options: BatchOptions;
    badLines: BadLine[];
    createdAtMs: number;
    /** URLs per job on the batch lane (jobs.ts): a cancel names the chunks' jobs by it. */
    chunkSize: number;
  }): Promise<void> {
    const keys = this.keys(batch.id);
    const ttlMs = this.ttlSeconds * 1000;
    const multi = this.redis.multi();
    multi.hset(keys.meta, {
      id: batch.id,
      clientId: batch.clientId,
      total: batch.urls.length,
      done: 0,
      state: 'running',
      badLineCount: batch.badLines.length,
      options: JSON.stringify(batch.options),
      createdAtMs: batch.createdAtMs,
      chunkSize: batch.chunkSize,
    });
    multi.pexpire(keys.meta, ttlMs);
    for (let start = 0; start < batch.badLines.length; start += 1000) {
      multi.rpush(
        keys.badLines,
        ...batch.badLines.slice(start, start + 1000).map((bad) => JSON.stringify(bad)),
      );
    }
    if (batch.badLines.length > 0) multi.pexpire(keys.badLines, ttlMs);
    for (let start = 0; start < batch.urls.length; start += 1000)
      multi.rpush(keys.urls, ...batch.urls.slice(start, start + 1000));
    multi.pexpire(keys.urls, ttlMs);
    await execOrThrow(multi);
  }

  /** Keeps an item's result unless it has one already; the batch's last item finishes it. */
  async record(id: string, item: BatchItem): Promise<RecordOutcome> {
    const [outcome] = await this.recordMany(id, [item]);
    return outcome as RecordOutcome;
  }

  /**
   * Keeps each item's result unless it has one already, in one script call (at most recordGroupMax items);
   * answers one outcome per item, in order. The batch's last item finishes it.
   */
  async recordMany(id: string, items: readonly BatchItem[]): Promise<RecordOutcome[]> {
    if (items.length > recordGroupMax) throw new Error(`at most ${recordGroupMax} items per record`);
    const keys = this.keys(id);
    const fields: Array<string | number> = [];
    for (const item of items) fields.push(item.index, JSON.stringify(item), item.status, item.cause);
    const [code, clientId, state, marks] = await this.redis.recordBatchItems(
      keys.meta,
      keys.done,
      keys.results,
      keys.badLines,
      keys.urls,
      Date.now(),
      this.ttlSeconds * 1000,
      ...fields,
    );
    if (code < 0) return items.map(() => ({ kind: 'unknown' }));
    const batchState = state as BatchState;
    // The batch's finish is told once, with the last item this call kept.
    const lastKept = marks.lastIndexOf('1');
    return items.map((_item, position) =>
      marks[position] === '1'
        ? {
            kind: 'recorded',
            isBatchFinished: code === 2 && position === lastKept,
            clientId,
            state: batchState,
          }
        : { kind: 'duplicate', state: batchState },
    );
  }

  /** Before probing item `index`: the batch's state (unknown once expired) and whether the item has ended. */
  async claim(id: string, index: number): Promise<{ state: BatchState | 'unknown'; isDone: boolean }> {
    const keys = this.keys(id);
    const [state, bit] = await this.redis.claimBatchItem(keys.meta, keys.done, index, Date.now());
    return { state: state as BatchState | 'unknown', isDone: bit === 1 };
  }

  /**
   * Before running a chunk of `count` items from `start`: the batch's state (unknown once expired) and, for each
   * item in order, whether it has ended.
   */
  async claimChunk(
    id: string,
    start: number,
    count: number,
  ): Promise<{ state: BatchState | 'unknown'; isDone: boolean[] }> {
    const keys = this.keys(id);
    const [state, marks] = await this.redis.claimBatchChunk(keys.meta, keys.done, start, count, Date.now());
    return {
      state: state as BatchState | 'unknown',
      isDone: Array.from({ length: count }, (_, position) => marks[position] === '1'),
    };
  }

  /** The batch's state now (unknown once expired): a running chunk looks before starting a URL, when its last look is old. */
  async stateOf(id: string): Promise<BatchState | 'unknown'> {
    const state = await this.redis.hget(this.keys(id).meta, 'state');
    return (state ?? 'unknown') as BatchState | 'unknown';
  }

  /** Marks a running batch cancelled; answers the state it had (undefined when unknown). */
  async cancel(id: string): Promise<BatchState | undefined> {
    const previous = await this.redis.cancelBatch(this.keys(id).meta, Date.now());
    return previous === '' ? undefined : (previous as BatchState);
  }

  async read(id: string): Promise<BatchRecord | undefined> {
    const fields = await this.redis.hgetall(this.keys(id).meta);
    if (!fields.id) return undefined;
    return recordOf(fields);
  }

  /** The indexes below `total` whose bit is not set yet: the items still without a result. */
  async pendingIndexes(id: string, total: number): Promise<number[]> {
    const bits = (await this.redis.getBuffer(this.keys(id).done)) ?? Buffer.alloc(0);
    const pending: number[] = [];
    for (let index = 0; index < total; index++) {
      const byte = bits[index >> 3] ?? 0;
      if ((byte & (0x80 >> (index & 7))) === 0) pending.push(index);
    }
    return pending;
  }

  /** The URLs at these places of the batch, in the same order, in one round trip. */
  async urlsAt(id: string, indexes: readonly number[]): Promise<string[]> {
    const pipeline = this.redis.pipeline();
    for (const index of indexes) pipeline.lindex(this.keys(id).urls, index);
    const replies = (await pipeline.exec()) ?? [];
    return replies.map(([error, url]) => {
      if (error) throw error;
      return String(url ?? '');
    });
  }

  /** Up to `count` results from position `offset` on, in the order the items ended, as stored (JSON text). */
  resultPage(id: string, offset: number, count: number): Promise<string[]> {
    return this.redis.lrange(this.keys(id).results, offset, offset + count - 1);
  }

  async badLines(id: string, count: number): Promise<BadLine[]> {
    const lines = await this.redis.lrange(this.keys(id).badLines, 0, count - 1);
    return lines.map((line) => JSON.parse(line) as BadLine);
  }

  /**
   * The client's batches still running. Ids whose batch has ended or expired are dropped from the set as they are
   * found, so a process that died before removing a finished batch does not hold the client's slot forever.
   */
  async runningOf(clientId: string): Promise<string[]> {
    const key = runningBatchesKey(this.prefix, clientId);
    const ids = await this.redis.zrange(key, '0', '-1');
    const running: string[] = [];
    for (const id of ids) {
      const state = await this.redis.hget(this.keys(id).meta, 'state');
      if (state === 'running') running.push(id);
      else await this.redis.zrem(key, id);
    }
    return running;
  }

  async addRunning(clientId: string, id: string, nowMs: number): Promise<void> {
    const key = runningBatchesKey(this.prefix, clientId);
    await this.redis.zadd(key, nowMs, id);
    await this.redis.expire(key, this.ttlSeconds);
  }

  async removeRunning(clientId: string, id: string): Promise<void> {
    await this.redis.zrem(runningBatchesKey(this.prefix, clientId), id);
  }
}

async function execOrThrow(multi: ReturnType<RedisClient['multi']>): Promise<void> {
  const replies = await multi.exec();
  for (const [error] of replies ?? []) if (error) throw error;
  if (replies === null) throw new Error('batch write discarded');
}

function recordOf(fields: Record<string, string>): BatchRecord {
  const byStatus: BatchRecord['byStatus'] = {};
  const byCause: BatchRecord['byCause'] = {};
  for (const [name, value] of Object.entries(fields)) {
    if (name.startsWith('status:')) byStatus[name.slice(7) as ItemStatus] = Number(value);
    else if (name.startsWith('cause:')) byCause[name.slice(6) as ItemCause] = Number(value);
  }
  const optionalNumber = (text: string | undefined) => (text === undefined ? undefined : Number(text));
  const startedAtMs = optionalNumber(fields.startedAtMs);
  const finishedAtMs = optionalNumber(fields.finishedAtMs);
  const chunkSize = optionalNumber(fields.chunkSize);
  return {
    id: fields.id as string,
    clientId: fields.clientId ?? '',
    state: (fields.state ?? 'running') as BatchState,
    total: Number(fields.total),
    done: Number(fields.done ?? 0),
    badLineCount: Number(fields.badLineCount ?? 0),
    options: JSON.parse(fields.options ?? '{}') as BatchOptions,
    ...(chunkSize === undefined ? {} : { chunkSize }),
    createdAtMs: Number(fields.createdAtMs),
    ...(startedAtMs === undefined ? {} : { startedAtMs }),
    ...(finishedAtMs === undefined ? {} : { finishedAtMs }),
    byStatus,
    byCause,
  };
}
