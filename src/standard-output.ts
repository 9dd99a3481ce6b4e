// Standard output failing under the CLI (`reach probe --file LIST | head -3` closes the pipe): the run is told to
// stop, and the command exits the way a Unix tool stopped by SIGPIPE does, instead of crashing on EPIPE. Under the
// service's commands, whose standard output is their log, a failing output is dropped and the service runs on.
import { closeSync, openSync } from 'node:fs';
import type { Writable } from 'node:stream';
import { isatty } from 'node:tty';

/** 128 + SIGPIPE (13): what a shell shows for a tool a closed pipe ended (`yes | head -1`); nothing is printed. */
export const exitOutputClosed = 141;

/** EX_IOERR (sysexits.h): standard output failed for another reason (a full disk behind `> file`). */
export const exitOutputFailed = 74;

/** How to exit once standard output failed, and the one line to print when the reason is not a closed pipe. */
export interface OutputFailure {
  exitCode: number;
  line?: string;
}

export interface OutputWatch {
  /** Aborted once standard output can take nothing more: the run stops taking URLs and aborts its probes. */
  readonly signal: AbortSignal;
  failure(): OutputFailure | undefined;
}

/**
 * Listens for standard output's errors (Node ignores SIGPIPE: a write to a closed pipe is an EPIPE error event,
 * fatal when nobody listens). Standard error's are dropped: diagnostics have no one left to read them, and the
 * run is not the worse for it.
 */
export function watchOutput(
  stdout: Writable,
  stderr: Writable,
  onFailure: (failure: OutputFailure) => void,
): OutputWatch {
  const closed = new AbortController();
  let failure: OutputFailure | undefined;
  stdout.on('error', (error: NodeJS.ErrnoException) => {
    if (failure) return;
    // A write after the pipe closed fails again with ERR_STREAM_DESTROYED: the same cause.
    failure =
      error.code === 'EPIPE' || error.code === 'ERR_STREAM_DESTROYED'
        ? { exitCode: exitOutputClosed }
        : {
            exitCode: exitOutputFailed,
            line: `reach: cannot write to standard output (${error.code ?? error.message})`,
          };
    closed.abort(new Error('standard output closed'));
    onFailure(failure);
  });
  stderr.on('error', () => {});
  return { signal: closed.signal, failure: () => failure };
}

/**
 * The service's commands (serve, api, worker): standard output is their log, standard error their one-line
 * notices, and neither is the work. Once one fails, its later lines are dropped and the service runs on: EPIPE when
 * the log's reader has gone, EIO on every write once the terminal that started serve hung up (an SSH session
 * ending). The hangup's SIGHUP then drains and exits as designed; before, the unhandled error event crashed the
 * process mid-drain, or pino's own destination retried its buffered lines at exit forever (sonic-boom retries
 * any error but EAGAIN in its final flush) and serve never exited, holding its port and its Redis.
 */
export function dropFailedServiceOutput(stdout: Writable, stderr: Writable): void {
  stdout.on('error', () => {});
  stderr.on('error', () => {});
}

/** Where the service's logger writes: standard output while it takes lines (see dropFailedServiceOutput). */
export function serviceLogDestination(stdout: Writable): { write(line: string): void } {
  return {
    write: (line) => {
      // false once the stream failed (Node marks a failed stdio stream destroyed, without closing the descriptor).
      if (stdout.writable) stdout.write(line);
    },
  };
}

/** The standard descriptors that were a terminal when the process started. */
const startedOnTerminal = [0, 1, 2].filter((fd) => isatty(fd));

/**
 * Called just before a service's command exits: points each standard descriptor whose terminal has hung up at
 * /dev/null. At exit Node 20 restores the terminal settings it found at start, and aborts when that fails
 * (nodejs/node#51519, fixed in later lines): serve, stopped by a hangup, drained cleanly and then crashed at its
 * last step, killed by SIGABRT or SIGSEGV. The restore skips a descriptor that no longer holds the same file. A hung-up
 * terminal answers every request with EIO, so it no longer counts as one.
 */
export function releaseHungUpTerminal(): void {
  for (const fd of startedOnTerminal) {
    if (isatty(fd)) continue;
    try {
      closeSync(fd);
      // The lowest free descriptor: this one, unless another thread took it first (then it is not the terminal
      // either, and nothing is written after this).
      openSync('/dev/null', 'r+');
    } catch {
      // Nothing to release: the restore then finds the descriptor closed, which it allows.
    }
  }
}
