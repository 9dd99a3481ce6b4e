// Reads the container artifacts (Dockerfile, docker-compose.yml) as Docker and Compose would, for the deploy tests.
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { parseDocument } from 'yaml';
import { z } from 'zod';

export const repoRoot = resolve(import.meta.dirname, '../..');

export interface DockerInstruction {
  /** Upper case: FROM, RUN, COPY, ENV, ... */
  keyword: string;
  /** Everything after the keyword, continuation lines joined. */
  args: string;
  /** 1-based line where the instruction starts. */
  line: number;
  /** RUN's options before its command (`--mount=type=secret,id=npm_ca`); absent elsewhere. */
  flags?: string[];
}

export interface DockerStage {
  /** The `AS name`, if any. */
  name: string | undefined;
  base: string;
  instructions: DockerInstruction[];
}

/** The Dockerfile's build stages in order. Throws on forms this reader does not understand, never guesses. */
export function parseDockerfile(text: string): DockerStage[] {
  const instructions: DockerInstruction[] = [];
  let pending = '';
  let startLine = 0;
  text.split(/\r?\n/).forEach((raw, index) => {
    const trimmed = raw.trim();
    // Comment lines are dropped even inside a continuation, as Docker does; so are blank ones.
    if (trimmed === '' || trimmed.startsWith('#')) return;
    if (pending === '') startLine = index + 1;
    if (trimmed.endsWith('\\')) {
      pending += `${trimmed.slice(0, -1).trim()} `;
      return;
    }
    pending += trimmed;
    const match = /^([A-Za-z]+)\s+([\s\S]+)$/.exec(pending);
    if (!match?.[1] || !match[2]) throw new Error(`Dockerfile line ${startLine}: cannot read ${pending}`);
    instructions.push({ keyword: match[1].toUpperCase(), args: match[2].trim(), line: startLine });
    pending = '';
  });
  if (pending !== '') throw new Error(`Dockerfile line ${startLine}: continuation never ends`);

  const stages: DockerStage[] = [];
  /** ARGs declared before the first FROM, with their defaults: only FROM lines may use them. */
  const globalArgs: Record<string, string> = {};
  for (const instruction of instructions) {
    if (instruction.keyword === 'FROM') {
      const from = /^(\S+)(?:\s+AS\s+(\S+))?$/i.exec(instruction.args);
      if (!from?.[1] || from[1].startsWith('--')) {
        throw new Error(`Dockerfile line ${instruction.line}: unsupported FROM ${instruction.args}`);
      }
      stages.push({
        name: from[2],
        base: substituteArgs(from[1], globalArgs, instruction.line),
        instructions: [],
      });
      continue;
    }
    const stage = stages.at(-1);
    if (!stage && instruction.keyword === 'ARG') {
      const arg = /^([A-Za-z_][A-Za-z0-9_]*)(?:=(\S*))?$/.exec(instruction.args);
      if (!arg?.[1])
        throw new Error(`Dockerfile line ${instruction.line}: cannot read ARG ${instruction.args}`);
      globalArgs[arg[1]] = arg[2] ?? '';
      continue;
    }
    if (!stage) throw new Error(`Dockerfile line ${instruction.line}: ${instruction.keyword} before FROM`);
    stage.instructions.push(instruction.keyword === 'RUN' ? withRunFlags(instruction) : instruction);
  }
  return stages;
}

/** `$NAME` and `${NAME}` in a FROM line, from the global ARGs' defaults; an undeclared name throws. */
function substituteArgs(text: string, args: Record<string, string>, line: number): string {
  return text.replace(
    /\$\{([A-Za-z_][A-Za-z0-9_]*)\}|\$([A-Za-z_][A-Za-z0-9_]*)/g,
    (_whole, braced, bare) => {
      const name = (braced ?? bare) as string;
      const value = args[name];
      if (value === undefined)
        throw new Error(`Dockerfile line ${line}: FROM uses ${name}, not a global ARG`);
      return value;
    },
  );
}

/** RUN's own options (`--mount=type=secret,...`) moved from its args to its flags: args is the command alone. */
function withRunFlags(instruction: DockerInstruction): DockerInstruction {
  const flags: string[] = [];
  let args = instruction.args;
  for (let flag = /^(--[a-z]+=\S+)\s+/.exec(args); flag?.[1]; flag = /^(--[a-z]+=\S+)\s+/.exec(args)) {
    if (!/^--(mount|network|security)=/.test(flag[1])) {
      throw new Error(`Dockerfile line ${instruction.line}: unsupported RUN option ${flag[1]}`);
    }
    flags.push(flag[1]);
    args = args.slice(flag[0].length);
  }
  return { ...instruction, args, flags };
}

export function readDockerfile(): DockerStage[] {
  return parseDockerfile(readFileSync(resolve(repoRoot, 'Dockerfile'), 'utf8'));
}

export type CommandForm = { form: 'exec'; argv: string[] } | { form: 'shell'; command: string };

/** RUN/CMD/ENTRYPOINT arguments: a JSON array is the exec form, anything else runs under /bin/sh -c. */
export function commandForm(args: string): CommandForm {
  if (!args.startsWith('[')) return { form: 'shell', command: args };
  const argv = z.array(z.string()).parse(JSON.parse(args));
  return { form: 'exec', argv };
}

/** The variables one ENV instruction sets (`A=1 B="two words"`, or the old `NAME value` form). */
export function parseEnvInstruction(args: string): Record<string, string> {
  const first = /^([A-Za-z_][A-Za-z0-9_]*)(=|\s+)/.exec(args);
  if (!first?.[1]) throw new Error(`cannot read ENV ${args}`);
  if (first[2] !== '=') return { [first[1]]: args.slice(first[0].length) };
  const variables: Record<string, string> = {};
  const pair = /([A-Za-z_][A-Za-z0-9_]*)=("(?:[^"\\]|\\.)*"|'[^']*'|[^\s"']*)(?:\s+|$)/y;
  while (pair.lastIndex < args.length) {
    const start = pair.lastIndex;
    const match = pair.exec(args);
    if (!match?.[1] || match[2] === undefined) throw new Error(`cannot read ENV at ${args.slice(start)}`);
    const value = match[2];
    variables[match[1]] = value.startsWith('"')
      ? value.slice(1, -1).replace(/\\(.)/g, '$1')
      : value.startsWith("'")
        ? value.slice(1, -1)
        : value;
  }
  return variables;
}

export interface CopyInstruction {
  /** The stage named by --from, if any (else the build context). */
  from: string | undefined;
  sources: string[];
  destination: string;
}

export function parseCopyInstruction(args: string): CopyInstruction {
  const words = args.split(/\s+/);
  let from: string | undefined;
  while (words[0]?.startsWith('--')) {
    const flag = words.shift() as string;
    const fromFlag = /^--from=(.+)$/.exec(flag);
    if (fromFlag) from = fromFlag[1];
    else if (!/^--(chown|chmod)=/.test(flag)) throw new Error(`unsupported COPY flag ${flag}`);
  }
  if (words[0]?.startsWith('[')) throw new Error(`unsupported COPY JSON form: ${args}`);
  const destination = words.pop();
  if (destination === undefined || words.length === 0)
    throw new Error(`COPY needs sources and a destination`);
  return { from, sources: words, destination };
}

/** Every variable the stage's ENV instructions set, later ones winning. */
export function stageEnvironment(stage: DockerStage): Record<string, string> {
  return Object.assign(
    {},
    ...stage.instructions
      .filter((item) => item.keyword === 'ENV')
      .map((item) => parseEnvInstruction(item.args)),
  );
}

/** The stage's last instruction with this keyword (Docker uses the last CMD, ENTRYPOINT, USER...). */
export function lastInstruction(stage: DockerStage, keyword: string): DockerInstruction | undefined {
  return stage.instructions.filter((item) => item.keyword === keyword).at(-1);
}

/** The command of `HEALTHCHECK [--option=value]... CMD ...`; undefined for `HEALTHCHECK NONE`. */
export function healthcheckCommand(args: string): CommandForm | undefined {
  const words = args.split(/\s+/);
  while (words[0]?.startsWith('--')) words.shift();
  if (words[0] === 'NONE') return undefined;
  const cmd = /^((?:--\S+\s+)*)CMD\s+([\s\S]+)$/.exec(args);
  if (!cmd?.[2]) throw new Error(`cannot read HEALTHCHECK ${args}`);
  return commandForm(cmd[2]);
}

const environmentValue = z.union([z.string(), z.number(), z.boolean(), z.null()]);

const composeServiceSchema = z.object({
  image: z.string().optional(),
  build: z.union([z.string(), z.object({ context: z.string() }).loose()]).optional(),
  command: z.union([z.array(z.string()), z.string()]).optional(),
  environment: z.union([z.record(z.string(), environmentValue), z.array(z.string())]).optional(),
  healthcheck: z
    .object({ test: z.union([z.array(z.string()), z.string()]).optional(), disable: z.boolean().optional() })
    .loose()
    .optional(),
  ports: z.array(z.union([z.string(), z.number()])).optional(),
  depends_on: z
    .union([z.array(z.string()), z.record(z.string(), z.object({ condition: z.string() }).loose())])
    .optional(),
  stop_grace_period: z.string().optional(),
  volumes: z.array(z.string()).optional(),
});

export type ComposeService = z.infer<typeof composeServiceSchema>;

const composeFileSchema = z.object({
  services: z.record(z.string(), composeServiceSchema.loose()),
  volumes: z.record(z.string(), z.unknown()).optional(),
});

export type ComposeFile = z.infer<typeof composeFileSchema>;

/** docker-compose.yml, parsed by the yaml library; a YAML error or an unexpected shape fails here. */
export function readCompose(): ComposeFile {
  const document = parseDocument(readFileSync(resolve(repoRoot, 'docker-compose.yml'), 'utf8'));
  if (document.errors.length > 0) {
    throw new Error(`docker-compose.yml: ${document.errors.map((error) => error.message).join('; ')}`);
  }
  return composeFileSchema.parse(document.toJS());
}

/**
 * Compose's variable interpolation: `$$`, `$NAME`, `${NAME}`, `${NAME:-default}` (unset or empty) and
 * `${NAME-default}` (unset only). Other forms throw rather than being read wrong.
 */
export function interpolate(text: string, operator: Record<string, string | undefined>): string {
  return text.replace(/\$\$|\$\{([^}]*)\}|\$([A-Za-z_][A-Za-z0-9_]*)/g, (whole, inner, bare) => {
    if (whole === '$$') return '$';
    if (typeof bare === 'string') return operator[bare] ?? '';
    const parts = /^([A-Za-z_][A-Za-z0-9_]*)(?:(:-|-)([^$]*))?$/.exec(inner as string);
    if (!parts?.[1]) throw new Error(`unsupported interpolation ${whole}`);
    const value = operator[parts[1]];
    if (parts[2] === ':-') return value === undefined || value === '' ? (parts[3] ?? '') : value;
    if (parts[2] === '-') return value === undefined ? (parts[3] ?? '') : value;
    return value ?? '';
  });
}

/** The variables the service's `environment:` sets, interpolated against the operator's shell. */
export function composeEnvironment(
  service: ComposeService,
  operator: Record<string, string | undefined> = {},
): Record<string, string> {
  const entries: Array<[string, string | undefined]> = Array.isArray(service.environment)
    ? service.environment.map((item) => {
        const equals = item.indexOf('=');
        return equals < 0 ? [item, operator[item]] : [item.slice(0, equals), item.slice(equals + 1)];
      })
    : Object.entries(service.environment ?? {}).map(([name, value]) => [
        name,
        // A name without a value takes the operator's variable of that name, if set.
        value === null ? operator[name] : String(value),
      ]);
  const variables: Record<string, string> = {};
  for (const [name, value] of entries) {
    if (value !== undefined) variables[name] = interpolate(value, operator);
  }
  return variables;
}

/** The service's command as an argument list (a string is split on spaces, as Compose does without quotes). */
export function composeCommand(service: ComposeService): string[] | undefined {
  if (service.command === undefined) return undefined;
  return Array.isArray(service.command) ? service.command : service.command.split(/\s+/).filter(Boolean);
}

/**
 * A Compose `healthcheck.test` as the command it runs: a string or `["CMD-SHELL", command]` under /bin/sh -c,
 * `["CMD", ...argv]` directly; undefined for none or `["NONE"]`.
 */
export function composeHealthcheck(service: ComposeService): CommandForm | undefined {
  const test = service.healthcheck?.test;
  if (test === undefined || service.healthcheck?.disable === true) return undefined;
  if (typeof test === 'string') return { form: 'shell', command: test };
  const [kind, ...rest] = test;
  if (kind === 'NONE') return undefined;
  if (kind === 'CMD') return { form: 'exec', argv: rest };
  if (kind === 'CMD-SHELL' && rest.length === 1) return { form: 'shell', command: rest[0] as string };
  throw new Error(`cannot read the health check ${JSON.stringify(test)}`);
}

/** A Compose duration ("40s", "1m30s", "500ms") in milliseconds. */
export function durationMs(text: string): number {
  const units: Record<string, number> = { h: 3_600_000, m: 60_000, s: 1000, ms: 1, us: 0.001 };
  let total = 0;
  let rest = text.trim();
  if (rest === '') throw new Error('empty duration');
  while (rest.length > 0) {
    const part = /^(\d+(?:\.\d+)?)(h|ms|m|s|us)/.exec(rest);
    if (!part?.[1] || !part[2]) throw new Error(`cannot read the duration ${text}`);
    total += Number(part[1]) * (units[part[2]] ?? Number.NaN);
    rest = rest.slice(part[0].length);
  }
  return total;
}
