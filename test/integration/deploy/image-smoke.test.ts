// The container image built and run for real: scripts/image-smoke.sh (rootful podman, no registry), which CI runs.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { repoRoot } from '../../support/deploy-artifacts.js';

const script = path.join(repoRoot, 'scripts/image-smoke.sh');
/** What the script needs installed; .ci/run installs them on a fresh CI machine. */
const requiredTools = ['podman', 'podman-compose', 'runc', 'netavark', 'debootstrap'];
/** The script's exit status for "skipped": here it would mean the checks below missed a reason. */
const skippedStatus = 77;

function findMissingTools(): string[] {
  const searchPath = `${process.env.PATH ?? ''}:/usr/local/sbin:/usr/sbin:/sbin:/usr/lib/podman:/usr/libexec/podman`;
  return requiredTools.filter(
    (tool) => !searchPath.split(':').some((dir) => dir !== '' && existsSync(path.join(dir, tool))),
  );
}

function findSkipReason(): string | undefined {
  if (process.platform !== 'linux' || !existsSync('/etc/debian_version')) {
    return 'the image smoke test debootstraps its base image from a Debian host';
  }
  if (process.getuid?.() !== 0) return 'the image smoke test needs root (run: sudo scripts/image-smoke.sh)';
  const missing = findMissingTools();
  if (missing.length > 0) return `the image smoke test needs ${missing.join(', ')} (.ci/run installs them)`;
  return undefined;
}

const skipReason = findSkipReason();
if (skipReason) console.warn(`image smoke test skipped: ${skipReason}`);

/** The whole run: debootstrap, two npm ci, the build, the service and the compose stack (30 min at load 24 here). */
const scriptTimeoutMs = 45 * 60_000;

function runScript(): Promise<{ status: number | null; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn('bash', [script], { cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => {
      output += chunk.toString('utf8');
    });
    child.stderr.on('data', (chunk: Buffer) => {
      output += chunk.toString('utf8');
    });
    // SIGTERM, not SIGKILL: the script's trap tears down what it made.
    const timer = setTimeout(() => child.kill('SIGTERM'), scriptTimeoutMs - 60_000);
    child.on('error', reject);
    child.on('close', (status) => {
      clearTimeout(timer);
      resolve({ status, output });
    });
  });
}

describe.skipIf(skipReason !== undefined)('the container image, built and run with podman', () => {
  it(
    'builds from the Dockerfile on a local base, serves as a non-root user, probes loopback, drains on stop, ' +
      'and runs the compose stack whose two workers both take probes, leaving nothing behind',
    async () => {
      const { status, output } = await runScript();
      expect(status, output).not.toBe(skippedStatus);
      expect(status, output).toBe(0);
      for (const line of [
        "ok: the image's HEALTHCHECK passes",
        'ok: every process runs as node',
        'ok: POST /probe?wait of a loopback site answers a completed ok report',
        'ok: podman stop drains and exits 0',
        'ok: the probe in flight at the stop completed before the exit',
        'ok: both workers took probes',
        'ok: api and workers exit 0 on stop',
        'verified: image built and run, compose stack with two workers',
      ]) {
        expect(output, output).toContain(`image-smoke: ${line}`);
      }
      expect(output).not.toContain('FAILED');
    },
    scriptTimeoutMs,
  );
});
