// The progress line a batch redraws on a terminal's stderr: done/total, rate, time left, counts by cause.
import type { BatchTally } from './output.js';

export function formatProgress(tally: BatchTally, total: number | undefined, elapsedMs: number): string {
  const rate = elapsedMs > 0 ? (tally.done * 1000) / elapsedMs : 0;
  const parts = [
    total === undefined ? `${tally.done} done` : `${tally.done}/${total}`,
    `${rate.toFixed(1)}/s`,
  ];
  if (total !== undefined && rate > 0 && total > tally.done)
    parts.push(`ETA ${formatSeconds(Math.ceil((total - tally.done) / rate))}`);
  const causes = [...tally.byCause.entries()].sort((a, b) => b[1] - a[1]);
  for (const [cause, count] of causes) parts.push(`${cause} ${count}`);
  return parts.join(' · ');
}

function formatSeconds(seconds: number): string {
  return seconds >= 60
    ? `${Math.floor(seconds / 60)}m${String(seconds % 60).padStart(2, '0')}s`
    : `${seconds}s`;
}

/** Redraws the line at most every `intervalMs` on a stream that is a terminal; stop() erases it. */
export function startProgress(
  stream: NodeJS.WriteStream,
  render: () => string,
  intervalMs = 250,
): { stop(): void } {
  const draw = () => stream.write(`\r\u001b[K${render().slice(0, (stream.columns ?? 80) - 1)}`);
  const timer = setInterval(draw, intervalMs);
  timer.unref();
  return {
    stop() {
      clearInterval(timer);
      stream.write('\r\u001b[K');
    },
  };
}
