// Real Redis topologies on loopback for the suites: a server on a unix socket only, a master with a replica
// and three Sentinels, and a Cluster of masters with replicas. Every process is stopped by its pid. Their ports
// are held by this test process (freeClosedPort) until it ends, so no other suite's port-0 bind or outgoing
// connection can take one between drawing it and the process binding it (redis binds with SO_REUSEADDR).
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { freeClosedPort } from './http-servers.js';

const run = promisify(execFile);

/** Every process started here, killed on exit if a suite forgot (or timed out before) its stop. */
const started = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of started) child.kill('SIGKILL');
});

export interface RedisProcess {
  pid: number;
  port: number;
  /** Sends the signal (SIGTERM unless named) and waits for the process to exit. */
  stop(signal?: NodeJS.Signals): Promise<void>;
  /** Lines the process printed, for a failure's message. */
  log: string[];
}

/** Starts `binary` on a config file written to `dir`, resolving once a log line matches `readyPattern`. */
async function startProcess(
  binary: 'redis-server' | 'redis-sentinel',
  dir: string,
  name: string,
  port: number,
  config: string[],
  readyPattern: RegExp,
): Promise<RedisProcess> {
  // Sentinels rewrite their config file, so each process gets a file of its own rather than stdin.
  const configPath = join(dir, `${name}.conf`);
  await writeFile(configPath, `${[...config, 'daemonize no', 'logfile ""', `dir ${dir}`].join('\n')}\n`, {
    mode: 0o600,
  });
  const child = spawn(binary, [configPath], { stdio: ['ignore', 'pipe', 'pipe'] });
  started.add(child);
  const log: string[] = [];
  const exited = once(child, 'exit');
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${name} did not start within 15 s: ${log.slice(-3).join(' | ')}`));
    }, 15_000);
    let buffered = '';
    const onData = (chunk: Buffer) => {
      buffered += chunk.toString('utf8');
      const lines = buffered.split('\n');
      buffered = lines.pop() ?? '';
      for (const line of lines) {
        log.push(line);
        if (log.length > 200) log.shift();
        if (readyPattern.test(line)) {
          clearTimeout(timer);
          resolve();
        }
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.once('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`${name} exited (${signal ?? code}): ${log.slice(-3).join(' | ')}`));
    });
  });
  return {
    pid: child.pid ?? 0,
    port,
    log,
    async stop(signal = 'SIGTERM') {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill(signal);
        await exited;
      }
      started.delete(child);
    },
  };
}

const quietServer = ['bind 127.0.0.1', 'save ""', 'appendonly no', 'protected-mode yes', 'loglevel notice'];

/** A certificate (naming 127.0.0.1), its key and the CA that signed it, as files: the servers talk TLS only. */
export interface TlsFiles {
  certFile: string;
  keyFile: string;
  caFile: string;
}

/** The port a process listens on: plain, or TLS only (with TLS for replication and the cluster bus too). */
function listening(port: number, tls: TlsFiles | undefined): string[] {
  if (!tls) return [`port ${port}`];
  return [
    'port 0',
    `tls-port ${port}`,
    `tls-cert-file ${tls.certFile}`,
    `tls-key-file ${tls.keyFile}`,
    `tls-ca-cert-file ${tls.caFile}`,
    'tls-auth-clients no',
    'tls-replication yes',
  ];
}

/** redis-cli's arguments to reach a server of the topology. */
function cliTarget(port: number, tls: TlsFiles | undefined): string[] {
  return ['-p', String(port), ...(tls ? ['--tls', '--cacert', tls.caFile] : [])];
}

export interface SocketRedis {
  /** unix:///…/redis.sock */
  url: string;
  socketPath: string;
  password: string;
  server: RedisProcess;
  dispose(): Promise<void>;
}

/** A redis-server listening on a unix socket only (port 0: no TCP at all), so nothing can reach it another way. */
export async function startSocketRedis(): Promise<SocketRedis> {
  const dir = await mkdtemp(join(tmpdir(), 'reach-test-socket-'));
  const socketPath = join(dir, 'redis.sock');
  const password = randomBytes(12).toString('hex');
  const server = await startProcess(
    'redis-server',
    dir,
    'socket',
    0,
    [...quietServer, 'port 0', `unixsocket ${socketPath}`, 'unixsocketperm 700', `requirepass ${password}`],
    /ready to accept connections/i,
  );
  return {
    url: `unix://${socketPath}`,
    socketPath,
    password,
    server,
    async dispose() {
      await server.stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

export interface SentinelSet {
  masterName: string;
  password: string;
  master: RedisProcess;
  replica: RedisProcess;
  sentinels: RedisProcess[];
  /** REDIS_SENTINELS, REDIS_SENTINEL_NAME and REDIS_PASSWORD for the service. */
  env: Record<string, string>;
  /** The port of the server the Sentinels call master now. */
  currentMasterPort(): Promise<number>;
  /** Runs a redis-cli command against a data node (with its password); resolves with its output. */
  cli(port: number, ...args: string[]): Promise<string>;
  dispose(): Promise<void>;
}

/**
 * A master, its replica and three Sentinels (quorum 2) with short failover times: a master gone for 1 s is
 * judged down, and a failover is retried after 3 s.
 */
export async function startSentinelSet(options: { tls?: TlsFiles } = {}): Promise<SentinelSet> {
  const { tls } = options;
  const dir = await mkdtemp(join(tmpdir(), 'reach-test-sentinel-'));
  const password = randomBytes(12).toString('hex');
  const masterName = 'reach-test';
  const dataServer = (port: number) => [
    ...quietServer,
    ...listening(port, tls),
    `requirepass ${password}`,
    `masterauth ${password}`,
    'repl-diskless-sync yes',
    'repl-diskless-sync-delay 0',
  ];
  const masterPort = await freeClosedPort();
  const master = await startProcess(
    'redis-server',
    dir,
    'master',
    masterPort,
    dataServer(masterPort),
    /Ready to accept connections/,
  );
  const replicaPort = await freeClosedPort();
  const replica = await startProcess(
    'redis-server',
    dir,
    'replica',
    replicaPort,
    [...dataServer(replicaPort), `replicaof 127.0.0.1 ${masterPort}`],
    /MASTER <-> REPLICA sync: Finished with success/,
  );
  const sentinels: RedisProcess[] = [];
  for (let index = 0; index < 3; index += 1) {
    const port = await freeClosedPort();
    sentinels.push(
      await startProcess(
        'redis-sentinel',
        dir,
        `sentinel-${index}`,
        port,
        [
          'bind 127.0.0.1',
          ...listening(port, tls),
          `sentinel monitor ${masterName} 127.0.0.1 ${masterPort} 2`,
          `sentinel auth-pass ${masterName} ${password}`,
          `sentinel down-after-milliseconds ${masterName} 1000`,
          `sentinel failover-timeout ${masterName} 3000`,
          `sentinel parallel-syncs ${masterName} 1`,
        ],
        /\+monitor master/,
      ),
    );
  }
  const firstSentinel = sentinels[0] as RedisProcess;
  // A failover needs a quorum of Sentinels that know each other (they meet through hello messages every 2 s)
  // and know the replica: wait for that, or the master's death would find them strangers.
  for (const sentinel of sentinels) {
    for (let attempt = 0; ; attempt += 1) {
      const { stdout } = await run('redis-cli', [
        ...cliTarget(sentinel.port, tls),
        'SENTINEL',
        'master',
        masterName,
      ]);
      const fields = stdout.trim().split('\n');
      const field = (name: string) => Number(fields[fields.indexOf(name) + 1]);
      if (field('num-other-sentinels') === 2 && field('num-slaves') === 1) break;
      if (attempt >= 100) throw new Error(`sentinel ${sentinel.port} never met the others: ${stdout}`);
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  }
  return {
    masterName,
    password,
    master,
    replica,
    sentinels,
    env: {
      REDIS_SENTINELS: sentinels.map((sentinel) => `127.0.0.1:${sentinel.port}`).join(','),
      REDIS_SENTINEL_NAME: masterName,
      REDIS_PASSWORD: password,
    },
    async currentMasterPort() {
      const { stdout } = await run('redis-cli', [
        ...cliTarget(firstSentinel.port, tls),
        'SENTINEL',
        'get-master-addr-by-name',
        masterName,
      ]);
      return Number(stdout.trim().split('\n')[1]);
    },
    async cli(port, ...args) {
      const { stdout } = await run(
        'redis-cli',
        [...cliTarget(port, tls), '--no-auth-warning', '-a', password, ...args],
        { timeout: 30_000 },
      );
      return stdout.trim();
    },
    async dispose() {
      for (const sentinel of sentinels) await sentinel.stop();
      await replica.stop();
      await master.stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

export interface TestCluster {
  password: string;
  nodes: RedisProcess[];
  /** REDIS_CLUSTER_NODES and REDIS_PASSWORD for the service. */
  env: Record<string, string>;
  /** Runs a redis-cli command against one node; resolves with its output. */
  cli(port: number, ...args: string[]): Promise<string>;
  /** The node (a master) serving the slot of `key`. */
  masterOf(key: string): Promise<RedisProcess>;
  /** Resolves when every node still running reports cluster_state:ok and `port` is no longer a master of any slot. */
  waitForFailover(port: number): Promise<void>;
  dispose(): Promise<void>;
}

/** `masters` masters with one replica each, joined by `redis-cli --cluster create`, cluster-node-timeout 1 s. */
export async function startCluster(masters = 3, options: { tls?: TlsFiles } = {}): Promise<TestCluster> {
  const { tls } = options;
  const dir = await mkdtemp(join(tmpdir(), 'reach-test-cluster-'));
  const password = randomBytes(12).toString('hex');
  const nodes: RedisProcess[] = [];
  for (let index = 0; index < masters * 2; index += 1) {
    const port = await freeClosedPort();
    const busPort = await freeClosedPort();
    nodes.push(
      await startProcess(
        'redis-server',
        dir,
        `node-${port}`,
        port,
        [
          ...quietServer,
          ...listening(port, tls),
          ...(tls ? ['tls-cluster yes'] : []),
          `cluster-port ${busPort}`,
          'cluster-enabled yes',
          `cluster-config-file ${join(dir, `nodes-${port}.conf`)}`,
          'cluster-node-timeout 1000',
          // A replica that lost touch with its master a while ago under load still takes over: the test is about
          // the service following a promotion, not about Redis's data-age caution.
          'cluster-replica-validity-factor 0',
          `requirepass ${password}`,
          `masterauth ${password}`,
        ],
        /Ready to accept connections/,
      ),
    );
  }
  const cli = async (port: number, ...args: string[]) => {
    try {
      const { stdout } = await run(
        'redis-cli',
        [...cliTarget(port, tls), '--no-auth-warning', '-a', password, ...args],
        { timeout: 30_000 },
      );
      return stdout;
    } catch (error) {
      // The failure's own words (redis-cli prints them on stdout), not only the command line.
      const output = `${(error as { stdout?: string }).stdout ?? ''}`
        .trim()
        .split('\n')
        .slice(-3)
        .join(' | ');
      throw new Error(`${(error as Error).message.split('\n')[0]}: ${output}`);
    }
  };
  const first = nodes[0] as RedisProcess;
  await cli(
    first.port,
    '--cluster',
    'create',
    ...nodes.map((node) => `127.0.0.1:${node.port}`),
    '--cluster-replicas',
    '1',
    '--cluster-yes',
  );
  const waitUntil = async (what: string, check: () => Promise<boolean>) => {
    for (let attempt = 0; attempt < 250; attempt += 1) {
      if (await check().catch(() => false)) return;
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    throw new Error(`the cluster never reached: ${what}`);
  };
  const stopped = new Set<number>();
  const handles: RedisProcess[] = nodes.map((node) => ({
    ...node,
    async stop(signal) {
      stopped.add(node.port);
      await node.stop(signal);
    },
  }));
  const live = () => handles.filter((node) => !stopped.has(node.port));
  const allOk = async () => {
    for (const node of live())
      if (!(await cli(node.port, 'CLUSTER', 'INFO')).includes('cluster_state:ok')) return false;
    return true;
  };
  await waitUntil('cluster_state:ok on every node', allOk);
  // Every replica attached and in sync, so a master's death later has a replica to promote.
  await waitUntil('every replica in sync', async () => {
    const lines = (await cli(first.port, 'CLUSTER', 'NODES')).trim().split('\n');
    return (
      lines.filter((line) => / (slave|replica) /.test(line) && line.includes('connected')).length === masters
    );
  });
  return {
    password,
    nodes: handles,
    env: {
      REDIS_CLUSTER_NODES: nodes
        .slice(0, masters)
        .map((node) => `127.0.0.1:${node.port}`)
        .join(','),
      REDIS_PASSWORD: password,
    },
    cli,
    async masterOf(key) {
      const slot = Number((await cli(first.port, 'CLUSTER', 'KEYSLOT', key)).trim());
      const lines = (await cli(live()[0]?.port ?? first.port, 'CLUSTER', 'NODES')).trim().split('\n');
      for (const line of lines) {
        const fields = line.split(' ');
        if (!fields[2]?.includes('master') || fields[2].includes('fail')) continue;
        const port = Number(/:(\d+)@/.exec(fields[1] ?? '')?.[1]);
        for (const range of fields.slice(8)) {
          const [from, to = from] = range.split('-').map(Number);
          if (from !== undefined && to !== undefined && slot >= from && slot <= to) {
            const node = handles.find((candidate) => candidate.port === port);
            if (node) return node;
          }
        }
      }
      throw new Error(`no master serves slot ${slot}`);
    },
    async waitForFailover(port) {
      await waitUntil(`a replica promoted in place of ${port}`, async () => {
        const someone = live()[0];
        if (!someone) return false;
        const lines = (await cli(someone.port, 'CLUSTER', 'NODES')).trim().split('\n');
        const dead = lines.find((line) => line.includes(`:${port}@`));
        return (dead?.split(' ').slice(8).length ?? 0) === 0 && (await allOk());
      });
    },
    async dispose() {
      for (const node of nodes) await node.stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
