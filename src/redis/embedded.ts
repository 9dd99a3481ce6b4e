// A private redis-server child process: loopback only, password protected, append-only data, stopped on exit.
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { resolve } from 'node:path';

export interface EmbeddedRedisOptions {
  dataDir: string;
  /** Fixed port (a restart keeps its address); unset picks a free loopback port. */
  port?: number;
  /** Fixed password; unset draws a random one (it never leaves this process but in the child's stdin). */
  password?: string;
  /** Milliseconds to wait for "Ready to accept connections". */
  startTimeoutMs?: number;
  /**
   * Milliseconds stop() waits for the server to exit after SIGTERM before it sends SIGKILL (default 15 s): a server
   * stopped (SIGSTOP) or stuck on a hung disk must not hold serve's shutdown for good. The append-only file is
   * written as Redis answers, so the kill loses at most what the disk had not yet taken.
   */
  stopTimeoutMs?: number;
  /**
   * maxmemory in megabytes (0 or unset: no cap). The policy is always noeviction: BullMQ must never lose a
   * queue key to eviction, so at the cap Redis refuses writes and the API answers 503 before it gets there.
   */
  maxMemoryMb?: number;
  onLog?: (line: string) => void;
  /**
   * Told of what the operator should know: a redis-server left by a killed process, stopped before this start;
   * the server exiting on its own, and each attempt to start it again.
   */
  onWarning?: (message: string) => void;
}

export interface EmbeddedRedis {
  url: string;
  port: number;
  password: string;
  /** The redis-server running now (another after a restart). */
  readonly pid: number;
  /**
   * Stops the server with SIGTERM (it flushes the append-only file first) and waits for it to exit, with SIGKILL
   * past `stopTimeoutMs`.
   */
  stop(): Promise<void>;
}

/** A redis-server this process started, and how it ended. */
interface ServerProcess extends EmbeddedRedis {
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/**
 * The wait before starting the server again after it exited on its own, doubled after each start that failed or
 * ran less than `healthyAfterMs` (a server that dies at once, its append-only file corrupt or memory short, is not
 * started in a tight loop), back to the first after one that ran that long.
 */
const restartDelay = { firstMs: 500, maxMs: 30_000 } as const;
const healthyAfterMs = 60_000;

/** redis-server is not on PATH: the one line the operator needs. */
export class RedisMissingError extends Error {
  override name = 'RedisMissingError';
  constructor() {
    super('redis-server was not found on PATH: install it (apt-get install redis-server) or set REDIS_URL');
  }
}

/**
 * The server could not be started, for a reason the operator can act on: its data directory unusable, or
 * redis-server refusing to start (a corrupt append-only file: the message carries Redis's own line, which names the
 * file and the fix). One line, no stack trace.
 */
export class EmbeddedRedisError extends Error {
  override name = 'EmbeddedRedisError';
}

const running = new Set<ChildProcess>();
let isExitHookInstalled = false;

function installExitHook(): void {
  if (isExitHookInstalled) return;
  isExitHookInstalled = true;
  // Last resort for paths that skip stop() (an uncaught error): never leave a redis-server behind.
  process.on('exit', () => {
    for (const child of running) child.kill('SIGTERM');
  });
}

export async function freeLoopbackPort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => resolvePort(port));
    });
  });
}

/**
 * Two redis-servers appending to one data directory would corrupt it: the directory holds a lock naming this
 * process and, once it runs, its redis-server. A process killed without its cleanup (SIGKILL, the OOM killer)
 * leaves its redis-server running on the directory: the next start stops that one (SIGTERM, so it flushes its
 * append-only file; SIGKILL past a deadline) before starting its own.
 */
async function lockDataDir(
  dataDir: string,
  onWarning: (message: string) => void,
): Promise<{ unlock: () => Promise<void>; noteServer: (pid: number) => Promise<void> }> {
  const lockPath = resolve(dataDir, 'reach-redis.lock');
  for (let attempt = 0; attempt < 2; attempt += 1) {
    try {
      await writeFile(lockPath, String(process.pid), { flag: 'wx', mode: 0o600 });
      return {
        unlock: () => rm(lockPath, { force: true }),
        noteServer: (pid) => writeFile(lockPath, `${process.pid} ${pid}`, { mode: 0o600 }),
      };
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      const [holder, server] = (await readFile(lockPath, 'utf8').catch(() => ''))
        .trim()
        .split(/\s+/)
        .map(Number);
      if (Number.isInteger(holder) && (holder as number) > 0 && isAlive(holder as number)) {
        throw new DataDirInUseError(dataDir, holder as number);
      }
      if (server !== undefined && Number.isInteger(server) && server > 0 && isRedisServerRunning(server)) {
        onWarning(
          `the Redis data directory ${dataDir} was still served by redis-server ${server}, left running by process ${holder} that is gone: stopped it`,
        );
        await stopOrphan(server);
      }
      await rm(lockPath, { force: true }); // left by a process that is gone
    }
  }
  throw new DataDirInUseError(dataDir, 0);
}

/** Whether `pid` is a redis-server that runs (not a zombie, not another program that took the pid since). */
function isRedisServerRunning(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    if (stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z')) return false;
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').startsWith('redis-server');
  } catch {
    return false;
  }
}

/** Ends an orphaned redis-server: SIGTERM and up to 15 s to flush and exit, then SIGKILL. */
async function stopOrphan(pid: number): Promise<void> {
  const endsWithin = async (ms: number) => {
    for (let waited = 0; waited < ms; waited += 50) {
      if (!isRedisServerRunning(pid)) return true;
      await new Promise((wake) => setTimeout(wake, 50));
    }
    return !isRedisServerRunning(pid);
  };
  try {
    process.kill(pid, 'SIGTERM');
    if (await endsWithin(15_000)) return;
    process.kill(pid, 'SIGKILL');
    await endsWithin(5000);
  } catch {
    // gone between the check and the signal
  }
}

/** Whether a process with this pid exists (one owned by another user counts). */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export class DataDirInUseError extends Error {
  override name = 'DataDirInUseError';
  constructor(dataDir: string, pid: number) {
    super(`the Redis data directory ${dataDir} is in use by process ${pid}: stop it or set REDIS_DATA_DIR`);
  }
}

/**
 * Starts the server and keeps it running until stop(): one that exits on its own (killed, the OOM killer, a crash)
 * is started again on the same port, password and data directory, so the service's connections, which reconnect
 * by themselves, find it where it was, with its data (Redis writes the append-only file as it answers, so the
 * death of the process alone, unlike the machine's, loses nothing but a write the disk was too slow to take).
 * Before, serve ran on with its Redis gone: every request 503 until restarted.
 */
export async function startEmbeddedRedis(options: EmbeddedRedisOptions): Promise<EmbeddedRedis> {
  const dataDir = resolve(options.dataDir);
  const warn = options.onWarning ?? (() => {});
  const { unlock, noteServer } = await (async () => {
    try {
      await mkdir(dataDir, { recursive: true, mode: 0o700 });
      return await lockDataDir(dataDir, warn);
    } catch (error) {
      if (error instanceof DataDirInUseError || !(error as NodeJS.ErrnoException).code) throw error;
      // Permissions, a read-only or full file system: the system's message names the path and the reason.
      throw new EmbeddedRedisError(`cannot use the Redis data directory: ${(error as Error).message}`);
    }
  })();
  let current: ServerProcess;
  try {
    current = await startLocked(options, dataDir);
    await noteServer(current.pid).catch(async (error: unknown) => {
      await current.stop();
      throw error;
    });
  } catch (error) {
    await unlock();
    throw error;
  }
  const { port, password } = current;
  let isStopping = false;
  let delayMs: number = restartDelay.firstMs;
  let restartTimer: NodeJS.Timeout | undefined;
  let restarting: Promise<void> | undefined;

  const supervise = (server: ServerProcess, startedAtMs: number) => {
    void server.exited.then(({ code, signal }) => {
      if (isStopping) return;
      if (Date.now() - startedAtMs >= healthyAfterMs) delayMs = restartDelay.firstMs;
      warn(
        `redis-server ${server.pid} exited on its own (${signal ?? `code ${code}`}): starting it again on port ${port} in ${delayMs} ms`,
      );
      scheduleRestart();
    });
  };
  const scheduleRestart = () => {
    restartTimer = setTimeout(() => {
      restartTimer = undefined;
      restarting = restart().finally(() => {
        restarting = undefined;
      });
    }, delayMs);
    delayMs = Math.min(delayMs * 2, restartDelay.maxMs);
  };
  const restart = async () => {
    if (isStopping) return;
    let server: ServerProcess;
    try {
      server = await spawnRedis({ ...options, dataDir, port, password });
    } catch (error) {
      if (isStopping) return;
      warn(`redis-server did not start again (${(error as Error).message}): next attempt in ${delayMs} ms`);
      scheduleRestart();
      return;
    }
    current = server;
    supervise(server, Date.now());
    if (isStopping) return; // stop() stops it once this start has ended
    await noteServer(server.pid).catch(() => {}); // the lock still names this process, which is what guards it
    warn(`redis-server started again (pid ${server.pid}) on port ${port}`);
  };

  supervise(current, Date.now());
  return {
    url: current.url,
    port,
    password,
    get pid() {
      return current.pid;
    },
    async stop() {
      isStopping = true;
      clearTimeout(restartTimer);
      await restarting;
      await current.stop();
      await unlock();
    },
  };
}

async function startLocked(options: EmbeddedRedisOptions, dataDir: string): Promise<ServerProcess> {
  const password = options.password ?? randomBytes(24).toString('hex');
  const maxAttempts = options.port === undefined ? 5 : 1;
  let lastError: Error | undefined;
  for (let attempt = 1; attempt <= maxAttempts; attempt += 1) {
    const port = options.port ?? (await freeLoopbackPort());
    try {
      return await spawnRedis({ ...options, dataDir, port, password });
    } catch (error) {
      if (error instanceof RedisMissingError) throw error;
      lastError = error as Error;
      // Another process took the free port between our probe and redis binding it: draw again.
      if (!/Address already in use/i.test(lastError.message)) throw lastError;
    }
  }
  throw lastError ?? new Error('redis-server did not start');
}

function spawnRedis(options: EmbeddedRedisOptions & { dataDir: string; port: number; password: string }) {
  return new Promise<ServerProcess>((resolveStart, reject) => {
    // The configuration goes in on stdin so the password never shows in `ps`.
    const config = [
      'bind 127.0.0.1',
      `port ${options.port}`,
      `requirepass ${options.password}`,
      `dir ${JSON.stringify(options.dataDir)}`,
      'appendonly yes',
      'appendfsync everysec',
      // Redis rewrites the AOF (a fork writing the whole dataset, on the same cores as the workers) once it has
      // doubled since the last rewrite and is past this size. At 100,000 monitors the AOF grows by about 1.8 MB/s,
      // so Redis's default of 64 MB forked three times in the first minute after a bulk creation and about every
      // 90 s after. With 512 MB the file on disk may reach max(512 MB, twice the dataset) between rewrites.
      'auto-aof-rewrite-min-size 512mb',
      'save ""',
      'daemonize no',
      'protected-mode yes',
      'loglevel notice',
      'logfile ""',
      `maxmemory ${options.maxMemoryMb ?? 0}mb`,
      'maxmemory-policy noeviction',
    ].join('\n');
    // A process group of its own: a Ctrl-C (or any signal sent to serve's whole group) must not stop Redis while
    // the workers drain into it; serve stops it last.
    const child = spawn('redis-server', ['-'], { stdio: ['pipe', 'pipe', 'pipe'], detached: true });
    const recent: string[] = [];
    let isReady = false;
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(
        new EmbeddedRedisError(
          `redis-server did not become ready within ${options.startTimeoutMs ?? 10_000} ms (data directory ${options.dataDir})`,
        ),
      );
    }, options.startTimeoutMs ?? 10_000);
    const onLine = (line: string) => {
      options.onLog?.(line);
      recent.push(line);
      if (recent.length > 20) recent.shift();
      if (!isReady && line.includes('Ready to accept connections')) {
        isReady = true;
        clearTimeout(timer);
        running.add(child);
        installExitHook();
        const stopTimeoutMs = options.stopTimeoutMs ?? 15_000;
        resolveStart(
          handle(child, options.port, options.password, stopTimeoutMs, () =>
            options.onWarning?.(
              `redis-server ${child.pid} did not exit within ${stopTimeoutMs} ms of SIGTERM: killed (SIGKILL)`,
            ),
          ),
        );
      }
    };
    let buffered = '';
    const onData = (chunk: Buffer) => {
      buffered += chunk.toString('utf8');
      const lines = buffered.split('\n');
      buffered = lines.pop() ?? '';
      for (const line of lines) onLine(line);
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.once('error', (error: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      reject(error.code === 'ENOENT' ? new RedisMissingError() : error);
    });
    child.once('exit', (code, signal) => {
      running.delete(child);
      if (isReady) return;
      clearTimeout(timer);
      reject(
        new EmbeddedRedisError(
          `redis-server exited (${signal ?? `code ${code}`}) before it was ready: ${reasonOf(recent)} (data directory ${options.dataDir})`,
        ),
      );
    });
    child.stdin.end(`${config}\n`);
  });
}

/**
 * Why redis-server would not start, from its last lines: its last warning ("14491:M 01 Dec 2026 13:03:14.192 # Bad
 * file format reading the append only file ...") without the pid and time, else its last line.
 */
function reasonOf(lines: string[]): string {
  const warning = lines.findLast((line) => / # /.test(line));
  if (warning !== undefined) return warning.slice(warning.indexOf(' # ') + 3).trim();
  return lines.findLast((line) => line.trim() !== '')?.trim() ?? 'no output';
}

function handle(
  child: ChildProcess,
  port: number,
  password: string,
  stopTimeoutMs: number,
  onKill: () => void,
): ServerProcess {
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolveExit) => {
    if (child.exitCode !== null || child.signalCode !== null)
      resolveExit({ code: child.exitCode, signal: child.signalCode });
    else child.once('exit', (code, signal) => resolveExit({ code, signal }));
  });
  return {
    url: `redis://:${password}@127.0.0.1:${port}`,
    port,
    password,
    pid: child.pid ?? 0,
    exited,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        let timer: NodeJS.Timeout | undefined;
        const isKilled = await Promise.race([
          exited.then(() => false),
          new Promise<boolean>((resolveTimer) => {
            timer = setTimeout(() => resolveTimer(true), stopTimeoutMs);
          }),
        ]);
        clearTimeout(timer);
        if (isKilled) {
          onKill();
          child.kill('SIGKILL');
        }
      }
      await exited;
      running.delete(child);
    },
  };
}
