// Runs the built CLI as a child process and collects what it printed.
import { execFile, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export const cliPath = fileURLToPath(new URL('../../dist/cli.js', import.meta.url));

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

export function runCli(args: string[], timeoutMs = 30_000): Promise<CliResult> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [cliPath, ...args],
      { timeout: timeoutMs, env: { ...process.env, NO_COLOR: '1' } },
      (error, stdout, stderr) => {
        const code = error && typeof error.code === 'number' ? error.code : error ? null : 0;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

export interface CliProcessOptions {
  /** Written to the process's standard input, which is then closed. */
  stdin?: string;
  /** Sends SIGINT (a Ctrl-C) once this settles, e.g. when a test server has seen the probes arrive. */
  interruptWhen?: Promise<unknown>;
  timeoutMs?: number;
}

/** Runs the built CLI with standard input and, optionally, a Ctrl-C once it has printed a given text. */
export function runCliWith(args: string[], options: CliProcessOptions): Promise<CliResult> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [cliPath, ...args], {
      env: { ...process.env, NO_COLOR: '1' },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    void options.interruptWhen?.finally(() => child.kill('SIGINT'));
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
    });
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 30_000);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
    if (options.stdin !== undefined) child.stdin.end(options.stdin);
  });
}

export interface ClosedOutputResult extends CliResult {
  signal: NodeJS.Signals | null;
  /** The lines it had printed when its output was closed. */
  linesBeforeClose: string[];
  pid: number;
}

/**
 * Runs the built CLI and closes the read end of its standard output, as `| head -N` does: once it has printed
 * `afterLines` lines (0: at once) and `closeWhen`, if given, has settled. Killed after `timeoutMs`.
 */
export function runCliClosingOutput(
  args: string[],
  options: { afterLines: number; closeWhen?: () => Promise<unknown>; timeoutMs?: number },
): Promise<ClosedOutputResult> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [cliPath, ...args], {
      env: { ...process.env, NO_COLOR: '1' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    let linesBeforeClose: string[] = [];
    let isClosing = false;
    const close = async () => {
      isClosing = true;
      linesBeforeClose = stdout.split('\n').slice(0, options.afterLines);
      await options.closeWhen?.();
      child.stdout.destroy();
    };
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
      if (!isClosing && stdout.split('\n').length > options.afterLines) void close();
    });
    if (options.afterLines === 0) void close();
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 30_000);
    // 'close': it has exited and its stderr has been read to the end.
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr, linesBeforeClose, pid: child.pid as number });
    });
  });
}

/** Whether a process runs: false once it is gone or a zombie (ended, not yet reaped: where nothing reaps orphans). */
export function isRunning(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return false;
  }
}
