// Standard output failing under the CLI (`reach probe --file LIST | head -3` closes the pipe): the run is told to
// stop, and the command exits the way a Unix tool stopped by SIGPIPE does, instead of crashing on EPIPE.
import type { Writable } from 'node:stream';

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
