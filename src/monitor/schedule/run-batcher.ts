// One-off runs (re-checks) asked for by many runs at once, queued together: those asked for in the same turn of
// the event loop, or while the previous batch is being queued, go in one addBulk, not one round trip each.
export interface OneOffRun {
  monitorId: string;
  trigger: 'recheck' | 'manual';
  delayMs?: number;
  jobId?: string;
}

interface Waiting {
  run: OneOffRun;
  resolve(): void;
  reject(error: unknown): void;
}

/** Runs queued in one addBulk at most. */
const maxBatch = 1000;

export class RunBatcher {
  private readonly waiting: Waiting[] = [];
  private isSending = false;

  constructor(private readonly send: (runs: OneOffRun[]) => Promise<void>) {}

  /** Resolves once the run is queued (with the batch it went in), rejects if that batch failed. */
  add(run: OneOffRun): Promise<void> {
    return new Promise((resolve, reject) => {
      this.waiting.push({ run, resolve, reject });
      if (this.isSending) return;
      this.isSending = true;
      // After the current turn: runs whose replies arrived in the same read of the socket join this batch.
      setImmediate(() => void this.sendAll());
    });
  }

  private async sendAll(): Promise<void> {
    try {
      while (this.waiting.length > 0) {
        const batch = this.waiting.splice(0, maxBatch);
        try {
          await this.send(batch.map((item) => item.run));
          for (const item of batch) item.resolve();
        } catch (error) {
          for (const item of batch) item.reject(error);
        }
      }
    } finally {
      this.isSending = false;
    }
  }
}
