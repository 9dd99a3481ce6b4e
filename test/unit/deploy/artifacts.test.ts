// The Dockerfile and docker-compose.yml checked against the code they run: roles, variables, ports, stages.
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig, serviceVariableNames } from '../../../src/config.js';
import { loadMonitorConfig, monitorVariableNames } from '../../../src/monitor/config.js';
import {
  type ComposeService,
  commandForm,
  composeCommand,
  composeEnvironment,
  composeHealthcheck,
  type DockerStage,
  durationMs,
  healthcheckCommand,
  lastInstruction,
  parseCopyInstruction,
  readCompose,
  readDockerfile,
  repoRoot,
  stageEnvironment,
} from '../../support/deploy-artifacts.js';

/** Every variable reach's configuration reads: the service schema's fields and the monitoring variables. */
const knownVariables = new Set<string>([...serviceVariableNames, ...monitorVariableNames]);

/** Read by the platform rather than by reach's configuration: Express runs in production mode with it. */
const platformVariables = new Set(['NODE_ENV']);

/**
 * Settings that the API process and the worker processes both act on, so Compose must give both the same value:
 * the Redis they share, the queue names, the address policy (the API refuses submissions with it, the workers
 * refuse connections with it), the first-tick delay (the API creates schedules, the workers re-create them)
 * and the public base URL (the API's status page, the workers' alert links).
 */
const settingsReadByBothRoles = [
  'REDIS_URL',
  'QUEUE_NAME',
  'PROBE_ALLOW_PRIVATE',
  'MONITOR_FIRST_TICK_DELAY_SECONDS',
  'PUBLIC_BASE_URL',
];

/** The CLI's service commands: the case labels that fall through to runService() in src/cli.ts's switch. */
function cliServiceCommands(): string[] {
  const source = readFileSync(resolve(repoRoot, 'src/cli.ts'), 'utf8');
  const block = /((?:\s*case '[a-z-]+':)+)\s*return await runService\(/.exec(source);
  if (!block?.[1]) throw new Error('src/cli.ts: found no case labels before `return await runService(`');
  return [...block[1].matchAll(/case '([a-z-]+)':/g)].map((match) => match[1] as string);
}

const stages = readDockerfile();
const finalStage = stages.at(-1) as DockerStage;
const imageEnvironment = stageEnvironment(finalStage);
const compose = readCompose();

function service(name: string): ComposeService {
  const found = compose.services[name];
  if (!found) throw new Error(`docker-compose.yml has no ${name} service`);
  return found;
}

/** The environment a container of this service starts with: the image's ENV, then Compose's `environment:`. */
function containerEnvironment(name: string, operator: Record<string, string> = {}): Record<string, string> {
  return { ...imageEnvironment, ...composeEnvironment(service(name), operator) };
}

function stageNamed(name: string): DockerStage {
  const found = stages.find((stage) => stage.name === name);
  if (!found) throw new Error(`the Dockerfile has no stage named ${name}`);
  return found;
}

function installsPackages(command: string): boolean {
  return /\bnpm\s+(ci|install|i|add)\b|\byarn\b|\bpnpm\b/.test(command);
}

describe('docker-compose.yml', () => {
  it('has the redis, api and worker services, the api and worker built from this Dockerfile', () => {
    expect(Object.keys(compose.services)).toEqual(expect.arrayContaining(['redis', 'api', 'worker']));
    for (const name of ['api', 'worker']) {
      const build = service(name).build;
      expect(typeof build === 'string' ? build : build?.context, name).toBe('.');
    }
  });

  it('runs the api and worker roles of the CLI, each in its own service', () => {
    const accepted = cliServiceCommands();
    expect(accepted).toEqual(expect.arrayContaining(['api', 'worker']));
    expect(composeCommand(service('api'))).toEqual(['api']);
    expect(composeCommand(service('worker'))).toEqual(['worker']);
  });

  it.each(['api', 'worker'])('sets only variables the configuration reads on the %s service', (name) => {
    const unknown = Object.keys(composeEnvironment(service(name))).filter(
      (variable) => !knownVariables.has(variable),
    );
    expect(unknown).toEqual([]);
  });

  it.each(['api', 'worker'])(
    'gives the %s service an environment the configuration accepts, with the defaults',
    (name) => {
      const environment = containerEnvironment(name);
      expect(() => loadConfig(environment)).not.toThrow();
      expect(() => loadMonitorConfig(environment)).not.toThrow();
    },
  );

  it('gives the settings both roles act on the same value in both services', () => {
    for (const name of settingsReadByBothRoles) {
      expect({ name, value: rawValue('api', name) }).toEqual({ name, value: rawValue('worker', name) });
    }
  });

  it("passes the operator's PROBE_ALLOW_PRIVATE to the API, which checks submissions, and to the workers", () => {
    for (const isAllowed of [true, false]) {
      const operator = { PROBE_ALLOW_PRIVATE: String(isAllowed) };
      expect(loadConfig(containerEnvironment('api', operator)).isPrivateAllowed).toBe(isAllowed);
      expect(loadConfig(containerEnvironment('worker', operator)).isPrivateAllowed).toBe(isAllowed);
    }
  });

  it('points both roles at the compose redis service, started and healthy first', () => {
    for (const name of ['api', 'worker']) {
      const redis = loadConfig(containerEnvironment(name)).redis;
      expect(redis?.mode, name).toBe('server');
      const host = redis?.mode === 'server' ? redis.host : '';
      expect(compose.services[host], `${name}: REDIS_URL names ${host}`).toBeDefined();
      expect(host).toBe('redis');
      // The redis service runs redis-server without --port: the default port.
      expect(redis?.mode === 'server' ? redis.port : 0).toBe(6379);
      expect(service('redis').command ?? []).not.toContain('--port');
      expect(service(name).depends_on).toMatchObject({ redis: { condition: 'service_healthy' } });
    }
  });

  it('keeps Redis data in an append-only file on a named volume', () => {
    const command = composeCommand(service('redis')) ?? [];
    expect(command[command.indexOf('--appendonly') + 1]).toBe('yes');
    const volume = (service('redis').volumes ?? []).find((item) => item.endsWith(':/data'));
    expect(volume).toBeDefined();
    expect(Object.keys(compose.volumes ?? {})).toContain(volume?.split(':')[0]);
  });

  it('publishes the API on the port it listens on', () => {
    const port = loadConfig(containerEnvironment('api')).port;
    const published = (service('api').ports ?? []).map((mapping) => String(mapping).split(':').at(-1));
    expect(published).toEqual([String(port)]);
  });

  it("checks a worker's health on its metrics port (the image's check is for the API, which a worker lacks)", () => {
    const metricsPort = loadConfig(containerEnvironment('worker')).workerMetricsPort;
    expect(metricsPort).toBeGreaterThan(0); // 0 would mean no metrics server, so nothing to check
    const check = composeHealthcheck(service('worker'));
    expect(check).toBeDefined();
    const text = check?.form === 'shell' ? check.command : (check?.argv.join(' ') ?? '');
    const urls = [...text.matchAll(/http:\/\/127\.0\.0\.1:(\d+)\/readyz/g)];
    expect(urls.map((match) => Number(match[1]))).toEqual([metricsPort]);
  });

  it('writes health checks as strings, the form podman-compose 1.0.3 neither mangles nor consumes per replica', () => {
    for (const [name, entry] of Object.entries(compose.services)) {
      if (entry.healthcheck?.test !== undefined) expect(typeof entry.healthcheck.test, name).toBe('string');
    }
  });

  it('interpolates no variable with an empty default, which podman-compose 1.0.3 passes on literally', () => {
    const values = JSON.stringify(compose);
    expect(values.match(/\$\{[A-Za-z_][A-Za-z0-9_]*:?-\}/g) ?? []).toEqual([]);
  });

  it.each(['api', 'worker'])('gives the %s service longer to stop than its shutdown deadline', (name) => {
    const grace = service(name).stop_grace_period;
    expect(grace).toBeDefined();
    const deadlineMs = loadConfig(containerEnvironment(name)).shutdownDeadlineMs;
    expect(durationMs(grace as string)).toBeGreaterThan(deadlineMs);
  });
});

describe('Dockerfile', () => {
  it('runs dist/cli.js with node under tini, serving by default', () => {
    const entrypoint = commandForm(lastInstruction(finalStage, 'ENTRYPOINT')?.args ?? '');
    expect(entrypoint.form).toBe('exec');
    const argv = entrypoint.form === 'exec' ? entrypoint.argv : [];
    expect(argv).toEqual(['/usr/bin/tini', '--', 'node', 'dist/cli.js']);
    const cmd = commandForm(lastInstruction(finalStage, 'CMD')?.args ?? '');
    expect(cmd).toEqual({ form: 'exec', argv: ['serve'] });
    expect(cliServiceCommands()).toContain('serve');
  });

  it('runs as a user other than root', () => {
    const user = lastInstruction(finalStage, 'USER')?.args;
    expect(user).toBeDefined();
    const [name, group] = (user as string).split(':');
    expect(['root', '0']).not.toContain(name);
    expect(['root', '0']).not.toContain(group ?? '');
    // ENTRYPOINT and CMD come after USER, so the service itself runs as that user.
    const userLine = lastInstruction(finalStage, 'USER')?.line ?? 0;
    expect(lastInstruction(finalStage, 'ENTRYPOINT')?.line ?? 0).toBeGreaterThan(userLine);
  });

  it('takes node_modules only from a stage that installs production dependencies (npm ci --omit=dev)', () => {
    const finalRuns = finalStage.instructions.filter((item) => item.keyword === 'RUN');
    expect(finalRuns.filter((item) => installsPackages(item.args))).toEqual([]);
    const copies = finalStage.instructions
      .filter((item) => item.keyword === 'COPY' || item.keyword === 'ADD')
      .map((item) => ({ keyword: item.keyword, ...parseCopyInstruction(item.args) }));
    // Nothing copies the whole context (which could carry a development node_modules).
    expect(copies.flatMap((copy) => copy.sources).filter((source) => /^\.\/?$/.test(source))).toEqual([]);
    const modules = copies.filter((copy) => copy.sources.some((source) => source.includes('node_modules')));
    expect(modules).toHaveLength(1);
    const [nodeModules] = modules;
    expect(nodeModules?.from).toBeDefined();
    const dependencies = stageNamed(nodeModules?.from as string);
    const installs = dependencies.instructions.filter(
      (item) => item.keyword === 'RUN' && installsPackages(item.args),
    );
    expect(installs).toHaveLength(1);
    expect(installs[0]?.args).toMatch(/^npm ci\b/);
    expect(installs[0]?.args.split(/\s+/)).toContain('--omit=dev');
  });

  it("gives npm the build's CA secret only while `npm ci` runs, never in the final image", () => {
    for (const stage of stages.slice(0, -1)) {
      const installs = stage.instructions.filter(
        (item) => item.keyword === 'RUN' && installsPackages(item.args),
      );
      for (const install of installs) {
        const mount = (install.flags ?? []).find((flag) => flag.startsWith('--mount=type=secret,'));
        const options = new URLSearchParams(mount?.slice('--mount='.length).replaceAll(',', '&'));
        expect(options.get('id'), install.args).toBe('npm_ca');
        const target = options.get('target') ?? `/run/secrets/${options.get('id')}`;
        expect(stageEnvironment(stage).npm_config_cafile).toBe(target);
      }
    }
    expect(
      finalStage.instructions.filter((item) => item.flags !== undefined && item.flags.length > 0),
    ).toEqual([]);
    expect(stageEnvironment(finalStage).npm_config_cafile).toBeUndefined();
  });

  it('copies dist from a stage that builds it with the build script', () => {
    const copies = finalStage.instructions
      .filter((item) => item.keyword === 'COPY')
      .map((item) => parseCopyInstruction(item.args));
    const dist = copies.find((copy) => copy.destination.replace(/\/$/, '') === './dist');
    expect(dist?.from).toBeDefined();
    const build = stageNamed(dist?.from as string);
    expect(build.instructions.some((item) => item.keyword === 'RUN' && item.args === 'npm run build')).toBe(
      true,
    );
  });

  it('sets only variables the configuration reads (and NODE_ENV), with values it accepts', () => {
    const names = Object.keys(imageEnvironment);
    expect(names.length).toBeGreaterThan(0);
    expect(names.filter((name) => !knownVariables.has(name) && !platformVariables.has(name))).toEqual([]);
    expect(imageEnvironment.NODE_ENV).toBe('production');
    expect(() => loadConfig(imageEnvironment)).not.toThrow();
  });

  it("checks health on the API's /readyz at the port from the environment", () => {
    const check = healthcheckCommand(lastInstruction(finalStage, 'HEALTHCHECK')?.args ?? '');
    expect(check).toBeDefined();
    const text = check?.form === 'shell' ? check.command : (check?.argv.join(' ') ?? '');
    expect(text).toContain('/readyz');
    expect(text).toContain('process.env.PORT');
  });
});

/** The raw (uninterpolated) `environment:` entry, to compare the two services' wiring of a setting. */
function rawValue(name: string, variable: string): string | undefined {
  const environment = service(name).environment;
  if (Array.isArray(environment)) {
    const entry = environment.find((item) => item === variable || item.startsWith(`${variable}=`));
    return entry === undefined ? undefined : entry.slice(variable.length + 1);
  }
  const value = environment?.[variable];
  return value === undefined || value === null ? undefined : String(value);
}
