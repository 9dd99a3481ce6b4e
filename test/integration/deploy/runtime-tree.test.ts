// The image's runtime tree, assembled as the Dockerfile's stages do (without Docker), and run from it alone.
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { once } from 'node:events';
import { cp, mkdir, mkdtemp, readdir, readFile, rename, rm } from 'node:fs/promises';
import { isBuiltin } from 'node:module';
import { tmpdir } from 'node:os';
import { basename, join, relative } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isAlive } from '../../../src/redis/embedded.js';
import {
  type CommandForm,
  type CopyInstruction,
  commandForm,
  composeCommand,
  composeEnvironment,
  composeHealthcheck,
  type DockerStage,
  healthcheckCommand,
  lastInstruction,
  parseCopyInstruction,
  readCompose,
  readDockerfile,
  repoRoot,
  stageEnvironment,
} from '../../support/deploy-artifacts.js';
import { freeClosedPort, startHttpServer, type TestServer } from '../../support/http-servers.js';
import { startRedis, type TestRedis } from '../../support/redis.js';
import { eventually, getJson, postJson } from '../service/support.js';

/** Each RUN of a stage (`npm ci` from the registry or the npm cache, `npm run build`): give it time. */
const runTimeoutMs = 180_000;

const stages = readDockerfile();
const finalStage = stages.at(-1) as DockerStage;
const stageRunCount = stages
  .slice(0, -1)
  .flatMap((stage) => stage.instructions)
  .filter((item) => item.keyword === 'RUN').length;

let tree: string;
/** The final stage's WORKDIR (/app): its relative COPY destinations, ENTRYPOINT and CMD resolve here. */
let app: string;
let site: TestServer;
const children = new Set<ChildProcess>();
/** redis-server processes started by a `serve` child, killed here if that child died without stopping them. */
const embeddedRedisPids = new Set<number>();

/** Runs a RUN instruction's shell command, as `/bin/sh -c` in the image would. */
function runShell(command: string, cwd: string, timeoutMs: number): Promise<void> {
  // The caller's environment stays: it may hold the registry, proxy or cache settings npm needs on this machine.
  const env = { ...process.env, npm_config_audit: 'false', npm_config_fund: 'false' };
  return new Promise((resolve, reject) => {
    execFile('/bin/sh', ['-c', command], { cwd, timeout: timeoutMs, env }, (error, stdout, stderr) => {
      // tsc reports on stdout, npm on stderr: show both (their ends) when a step fails.
      const printed = `${stdout}${stderr}`.slice(-4000);
      if (error) reject(new Error(`${command} failed (${error.code ?? error.signal}):\n${printed}`));
      else resolve();
    });
  });
}

/** COPY from the build context (the repository; .dockerignore excludes nothing these sources hold). */
async function copyFromContext(copy: CopyInstruction, directory: string): Promise<void> {
  for (const source of copy.sources) {
    const destination = join(directory, copy.destination);
    const target = copy.destination.endsWith('/') ? join(destination, basename(source)) : destination;
    await cp(join(repoRoot, source), target, { recursive: true });
  }
}

/** Stage name → the directory standing for its WORKDIR, once the stage has run. */
const stageDirectories = new Map<string, string>();

/** Runs a named stage (WORKDIR, COPY from the context, RUN) once, in a directory standing for its WORKDIR. */
async function runStage(name: string): Promise<string> {
  const done = stageDirectories.get(name);
  if (done) return done;
  const stage = stages.find((candidate) => candidate.name === name);
  if (!stage) throw new Error(`the Dockerfile has no stage ${name}`);
  const directory = join(tree, `stage-${name}`);
  await mkdir(directory);
  for (const instruction of stage.instructions) {
    // ENV here only points npm at the build's CA secret: the machine's own npm settings stand in for it.
    if (instruction.keyword === 'WORKDIR' || instruction.keyword === 'ENV') continue;
    if (instruction.keyword === 'COPY') {
      const copy = parseCopyInstruction(instruction.args);
      if (copy.from !== undefined) throw new Error(`stage ${name}: COPY --from is not supported here`);
      await copyFromContext(copy, directory);
      continue;
    }
    if (instruction.keyword === 'RUN') {
      const run = commandForm(instruction.args);
      if (run.form !== 'shell') throw new Error(`stage ${name}: exec-form RUN is not supported here`);
      await runShell(run.command, directory, runTimeoutMs);
      continue;
    }
    throw new Error(`stage ${name}: ${instruction.keyword} is not supported here`);
  }
  stageDirectories.set(name, directory);
  return directory;
}

/**
 * The final stage's files, each from where the Dockerfile takes it: the build context, or a stage run here for
 * real (the build stage's `npm ci` and `npm run build`, the production-dependencies stage's `npm ci --omit=dev`).
 * The final stage's RUN lines install redis-server and tini and make /data: system packages this machine
 * provides (redis-server) or the test does without (tini: the test signals node directly).
 */
async function assembleTree(): Promise<void> {
  for (const instruction of finalStage.instructions.filter((item) => item.keyword === 'COPY')) {
    const copy = parseCopyInstruction(instruction.args);
    if (copy.from === undefined) {
      await copyFromContext(copy, app);
      continue;
    }
    const from = stages.find((stage) => stage.name === copy.from) as DockerStage;
    const stageDirectory = await runStage(copy.from);
    const stageWorkdir = lastInstruction(from, 'WORKDIR')?.args ?? '/';
    for (const source of copy.sources) {
      // rename, not copy: node_modules/.bin holds relative symbolic links that must stay relative.
      await rename(join(stageDirectory, relative(stageWorkdir, source)), join(app, copy.destination));
    }
  }
  for (const directory of stageDirectories.values()) await rm(directory, { recursive: true, force: true });
}

/** The image's environment, with the loopback host and a private data directory in place of /data. */
function imageEnvironment(overrides: Record<string, string> = {}): Record<string, string> {
  return {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    ...stageEnvironment(finalStage),
    HOST: '127.0.0.1',
    REDIS_DATA_DIR: join(tree, 'data', 'redis'),
    ...overrides,
  };
}

/** ENTRYPOINT without tini (the test signals node itself), with `node` as this Node.js binary. */
function entrypoint(): string[] {
  const form = commandForm(lastInstruction(finalStage, 'ENTRYPOINT')?.args ?? '');
  if (form.form !== 'exec') throw new Error('ENTRYPOINT is not in exec form');
  const [init, separator, node, ...rest] = form.argv;
  expect([init?.endsWith('/tini'), separator, node]).toEqual([true, '--', 'node']);
  return [process.execPath, ...rest];
}

interface TreeProcess {
  child: ChildProcess;
  /** Resolves with the first output line matching, printed before or after the call. */
  line(pattern: RegExp): Promise<string>;
  /** Everything printed so far (for failure messages). */
  output(): string;
}

function startFromTree(args: string[], env: Record<string, string>): TreeProcess {
  const [command, ...rest] = entrypoint();
  const child = spawn(command as string, [...rest, ...args], {
    cwd: app,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.add(child);
  const lines: string[] = [];
  const waiters: Array<{ pattern: RegExp; resolve: (line: string) => void }> = [];
  let partial = '';
  const onData = (chunk: Buffer) => {
    const parts = (partial + chunk.toString('utf8')).split('\n');
    partial = parts.pop() ?? '';
    for (const line of parts) {
      lines.push(line);
      for (const waiter of [...waiters]) {
        if (waiter.pattern.test(line)) {
          waiters.splice(waiters.indexOf(waiter), 1);
          waiter.resolve(line);
        }
      }
    }
  };
  child.stdout?.on('data', onData);
  child.stderr?.on('data', onData);
  const exited = once(child, 'exit').catch(() => [null]);
  return {
    child,
    output: () => [...lines, partial].join('\n'),
    line(pattern) {
      const seen = lines.find((line) => pattern.test(line));
      if (seen !== undefined) return Promise.resolve(seen);
      return new Promise((resolve, reject) => {
        waiters.push({ pattern, resolve });
        exited.then(([code]) =>
          reject(new Error(`exited (${code}) before printing ${pattern}:\n${lines.join('\n')}`)),
        );
      });
    },
  };
}

/** Runs a health check's command in the tree as Docker would in the container (shell form under /bin/sh). */
function runHealthcheck(check: CommandForm, env: Record<string, string>): Promise<number | null> {
  const [file, ...args] =
    check.form === 'shell'
      ? ['/bin/sh', '-c', check.command]
      : check.argv.map((word, index) => (index === 0 && word === 'node' ? process.execPath : word));
  return new Promise((resolve) => {
    execFile(file as string, args, { cwd: app, env, timeout: 10_000 }, (error) => {
      resolve(error ? (typeof error.code === 'number' ? error.code : null) : 0);
    });
  });
}

async function stop(running: TreeProcess): Promise<number | null> {
  if (running.child.exitCode !== null) return running.child.exitCode;
  const exited = once(running.child, 'exit');
  running.child.kill('SIGTERM');
  const [code] = (await exited) as [number | null];
  return code;
}

async function scriptFiles(directory: string): Promise<string[]> {
  const entries = await readdir(directory, { withFileTypes: true, recursive: true });
  return entries
    .filter((entry) => entry.isFile() && entry.name.endsWith('.js'))
    .map((entry) => join(entry.parentPath, entry.name));
}

beforeAll(
  async () => {
    tree = await mkdtemp(join(tmpdir(), 'reach-image-'));
    app = join(tree, 'app');
    await mkdir(app);
    await assembleTree();
    site = await startHttpServer((_request, response) => {
      response.writeHead(200, { 'content-type': 'text/html' }).end('<html><body>ok</body></html>');
    });
  },
  stageRunCount * runTimeoutMs + 60_000,
);

afterAll(async () => {
  for (const child of children) {
    if (child.exitCode === null && child.signalCode === null) {
      const exited = once(child, 'exit');
      child.kill('SIGKILL');
      await exited;
    }
  }
  for (const pid of embeddedRedisPids) if (isAlive(pid)) process.kill(pid, 'SIGKILL');
  await site?.close();
  if (tree) await rm(tree, { recursive: true, force: true });
});

describe('the runtime tree the Dockerfile assembles', () => {
  it('has dist importing only Node.js built-ins, its own files and production dependencies', async () => {
    const manifest = JSON.parse(await readFile(join(app, 'package.json'), 'utf8')) as {
      dependencies: Record<string, string>;
    };
    const allowed = new Set(Object.keys(manifest.dependencies));
    const files = await scriptFiles(join(app, 'dist'));
    expect(files.length).toBeGreaterThan(10);
    const outside: string[] = [];
    for (const file of files) {
      const source = await readFile(file, 'utf8');
      for (const match of source.matchAll(/(?:\bfrom\s*|\bimport\s*\(?\s*)['"]([^'"]+)['"]/g)) {
        const specifier = match[1] as string;
        if (specifier.startsWith('.') || isBuiltin(specifier)) continue;
        const name = specifier.startsWith('@')
          ? specifier.split('/').slice(0, 2).join('/')
          : (specifier.split('/')[0] as string);
        if (!allowed.has(name)) outside.push(`${relative(app, file)}: ${specifier}`);
      }
    }
    expect(outside).toEqual([]);
  });

  it('runs `probe --json` against a loopback site: exit 0 and an ok verdict', async () => {
    const [command, ...rest] = entrypoint();
    const result = await new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
      execFile(
        command as string,
        [...rest, 'probe', '--json', site.url('/')],
        { cwd: app, env: imageEnvironment({ NO_COLOR: '1' }), timeout: 30_000 },
        (error, stdout, stderr) => {
          resolve({ code: error ? (typeof error.code === 'number' ? error.code : null) : 0, stdout, stderr });
        },
      );
    });
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    const report = JSON.parse(result.stdout);
    expect(report.url).toBe(site.url('/'));
    expect(report.verdict.cause).toBe('ok');
  });

  it('serves by default with its own redis-server, answers a waited probe, passes the image health check, ' +
    'and exits 0 on SIGTERM with the redis-server gone', async () => {
    const cmd = commandForm(lastInstruction(finalStage, 'CMD')?.args ?? '');
    if (cmd.form !== 'exec') throw new Error('CMD is not in exec form');
    const port = String(await freeClosedPort());
    const environment = imageEnvironment({ PORT: port, PROBE_ALLOW_PRIVATE: 'true', LOG_LEVEL: 'info' });
    expect(environment.REDIS_URL).toBeUndefined();
    const service = startFromTree(cmd.argv, environment);

    const redisLine = JSON.parse(await service.line(/started embedded redis-server/)) as { pid: number };
    embeddedRedisPids.add(redisLine.pid);
    expect(isAlive(redisLine.pid)).toBe(true);
    const listening = JSON.parse(await service.line(/API listening/)) as { url: string };
    expect(listening.url).toBe(`http://127.0.0.1:${port}`);
    await eventually(
      async () => ((await getJson(`${listening.url}/readyz`)).status === 200 ? true : undefined),
      { what: '/readyz to answer 200', attempts: 100, intervalMs: 100 },
    );

    const check = healthcheckCommand(lastInstruction(finalStage, 'HEALTHCHECK')?.args ?? '');
    expect(check).toBeDefined();
    expect(await runHealthcheck(check as CommandForm, environment)).toBe(0);

    const answer = await postJson(`${listening.url}/probe?wait=10`, { url: site.url('/') });
    expect(answer.status).toBe(200);
    expect(answer.body.report.verdict.cause).toBe('ok');

    expect(await stop(service), service.output()).toBe(0);
    expect(isAlive(redisLine.pid)).toBe(false);
  }, 60_000);
});

describe('the compose api and worker services run from the tree', () => {
  let redis: TestRedis;

  beforeAll(async () => {
    redis = await startRedis();
  });

  afterAll(async () => {
    await redis?.dispose();
  });

  it("probe a loopback site together with the operator's PROBE_ALLOW_PRIVATE=true, the worker passing its health check", async () => {
    const compose = readCompose();
    const operator = { PROBE_ALLOW_PRIVATE: 'true' };
    const api = compose.services.api;
    const worker = compose.services.worker;
    if (!api || !worker) throw new Error('docker-compose.yml lacks the api or worker service');
    // Only addresses change: this test's Redis for the compose one, loopback ports for the containers' own.
    const apiPort = String(await freeClosedPort());
    const metricsPort = String(await freeClosedPort());
    const apiProcess = startFromTree(
      composeCommand(api) ?? [],
      imageEnvironment({ ...composeEnvironment(api, operator), REDIS_URL: redis.url, PORT: apiPort }),
    );
    const workerEnvironment = composeEnvironment(worker, operator);
    const composeMetricsPort = workerEnvironment.WORKER_METRICS_PORT;
    const workerProcess = startFromTree(
      composeCommand(worker) ?? [],
      imageEnvironment({ ...workerEnvironment, REDIS_URL: redis.url, WORKER_METRICS_PORT: metricsPort }),
    );

    const listening = JSON.parse(await apiProcess.line(/API listening/)) as { url: string };
    await workerProcess.line(/worker metrics listening/);
    const check = composeHealthcheck(worker);
    if (!check) throw new Error('the worker has no health check');
    const onTestPort = (text: string) => text.replaceAll(`:${composeMetricsPort}/`, `:${metricsPort}/`);
    const moved: CommandForm =
      check.form === 'shell'
        ? { form: 'shell', command: onTestPort(check.command) }
        : { form: 'exec', argv: check.argv.map(onTestPort) };
    expect(JSON.stringify(moved)).toContain(`127.0.0.1:${metricsPort}/readyz`);
    expect(await runHealthcheck(moved, imageEnvironment())).toBe(0);

    const answer = await postJson(`${listening.url}/probe?wait=10`, { url: site.url('/') });
    expect(answer.status, JSON.stringify(answer.body)).toBe(200);
    expect(answer.body.report.verdict.cause).toBe('ok');

    expect(await stop(apiProcess), apiProcess.output()).toBe(0);
    expect(await stop(workerProcess), workerProcess.output()).toBe(0);
  }, 60_000);
});
