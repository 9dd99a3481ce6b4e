// Processes inside the lab's namespaces: a command run to its end, and a long-lived daemon (reach serve,
// reach worker) that is ready when it logs a line, and is stopped by its own pid.
import { type ChildProcess, spawn } from 'node:child_process';
import path from 'node:path';
import { createInterface } from 'node:readline';

export const repoRoot = path.resolve(import.meta.dirname, '../..');
export const cliPath = path.join(repoRoot, 'dist/cli.js');

export interface ProcessResult {
  exitCode: number | null;
  stdout: string;
  stderr: string;
}

/** Runs a command inside a lab namespace to its end. */
export function runInNamespace(namespace: string, command: string[]): Promise<ProcessResult> {
  return new Promise((resolve, reject) => {
    const child = spawn('ip', ['netns', 'exec', namespace, ...command], {
      cwd: repoRoot,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      stdout += chunk;
    });
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
      stderr += chunk;
    });
    child.once('error', reject);
    child.once('close', (exitCode) => resolve({ exitCode, stdout, stderr }));
  });
}

/**
 * A reach process (serve, api, worker) inside a lab namespace. `ip netns exec` execs the command, so the child's
 * pid is reach's own: stopping it by pid stops nothing else.
 */
export class LabProcess {
  private child: ChildProcess | undefined;
  private output = '';

  constructor(
    readonly label: string,
    private readonly namespace: string,
    private readonly args: string[],
    private readonly env: Record<string, string>,
  ) {}

  get pid(): number | undefined {
    return this.child?.pid;
  }

  /** What the process printed so far (its log lines): shown when a test fails. */
  get log(): string {
    return this.output;
  }

  /** Starts the process and resolves once it has printed every one of `readyMessages` (pino `msg` values). */
  async start(readyMessages: string[], timeoutMs = 90_000): Promise<void> {
    const child = spawn('ip', ['netns', 'exec', this.namespace, process.execPath, cliPath, ...this.args], {
      cwd: repoRoot,
      env: { ...process.env, LOG_LEVEL: 'info', ...this.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.child = child;
    child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
      this.output += chunk;
    });
    const lines = createInterface({ input: child.stdout as NodeJS.ReadableStream });
    const waiting = new Set(readyMessages);
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`${this.label} did not start in ${timeoutMs} ms:\n${this.output}`)),
        timeoutMs,
      );
      child.once('exit', (code, signal) => {
        clearTimeout(timer);
        reject(new Error(`${this.label} exited (${code ?? signal}) before it was ready:\n${this.output}`));
      });
      lines.on('line', (line) => {
        this.output += `${line}\n`;
        for (const message of waiting) if (line.includes(`"msg":"${message}"`)) waiting.delete(message);
        if (waiting.size === 0) {
          clearTimeout(timer);
          resolve();
        }
      });
    });
  }

  /** Kills the process at once (SIGKILL), as a machine that dies would: no shutdown, no withdrawal. */
  async kill(): Promise<void> {
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.kill('SIGKILL');
    await exited;
  }

  /** SIGTERM, then SIGKILL if it has not exited after `deadlineMs`. */
  async close(deadlineMs = 15_000): Promise<void> {
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), deadlineMs);
    await exited;
    clearTimeout(timer);
  }
}
