import { Queue, UnrecoverableError, Worker, type Job } from 'bullmq';
import { Redis } from 'ioredis';

export const INVESTIGATIONS = 'investigations';
/** Approved actions; the job id is the approval's hash, so a double click enqueues once. */
export const ACTIONS = 'actions';

/** What the service needs of the queue: enqueue once per incident, and its depth for /metrics. */
export interface InvestigationQueue {
  /** Idempotent: the job id is the incident id, so a second enqueue of the same incident is a no-op. */
  enqueue(incidentId: string): Promise<void>;
  depth(): Promise<number>;
  close(): Promise<void>;
}

/** Thrown by a processor for a failure that a retry cannot fix (bad input, unknown host). */
export class PermanentFailure extends Error {
  constructor(message: string) {
    super(message);
    this.name = new.target.name;
  }
}

export function createInvestigationQueue(redisUrl: string, prefix: string, name: string = INVESTIGATIONS): InvestigationQueue {
  // Producers fail fast while Redis is down; the webhook answers 503 and the sender retries.
  const connection = new Redis(redisUrl, { enableOfflineQueue: false, maxRetriesPerRequest: 1 });
  connection.on('error', () => {});
  const queue = new Queue(name, { connection, prefix });
  queue.on('error', () => {});
  return {
    async enqueue(incidentId) {
      // Actions are not retried: one that failed half-way must be looked at by a human, not run again.
      await queue.add(name === ACTIONS ? 'act' : 'investigate', { incidentId }, { jobId: incidentId, attempts: name === ACTIONS ? 1 : 3, backoff: { type: 'exponential', delay: 2000 }, removeOnComplete: 1000, removeOnFail: 1000 });
    },
    async depth() {
      const c = await queue.getJobCounts('waiting', 'active', 'delayed', 'prioritized');
      return Object.values(c).reduce((a, b) => a + b, 0);
    },
    async close() {
      await queue.close();
      connection.disconnect();
    },
  };
}

export interface WorkerOptions {
  /** Queue name; default `investigations`. */
  queue?: string;
  redisUrl: string;
  prefix: string;
  concurrency: number;
  lockDurationMs: number;
  stalledIntervalMs: number;
  /** Runs one investigation. Throw PermanentFailure to stop retries. */
  process(incidentId: string, attempt: number): Promise<void>;
  onError(err: Error): void;
  onFailed(incidentId: string, err: Error, final: boolean): void;
}

export interface InvestigationWorker {
  /** Stops taking jobs and waits for active ones until the deadline, then gives up on them (they stall and are retried elsewhere). */
  close(deadlineMs: number): Promise<void>;
}

/**
 * BullMQ worker for investigations. A worker killed mid-job leaves the job locked until the lock
 * expires; another worker's stalled check then moves it back to the queue (at-least-once), and the
 * job id per incident keeps one investigation per incident at a time.
 */
export function startInvestigationWorker(opts: WorkerOptions): InvestigationWorker {
  const connection = new Redis(opts.redisUrl, { maxRetriesPerRequest: null });
  connection.on('error', (err) => opts.onError(err));
  const worker = new Worker(
    opts.queue ?? INVESTIGATIONS,
    async (job: Job<{ incidentId: string }>) => {
      try {
        await opts.process(job.data.incidentId, job.attemptsMade + 1);
      } catch (err) {
        if (err instanceof PermanentFailure) throw new UnrecoverableError(err.message);
        throw err;
      }
    },
    { connection, prefix: opts.prefix, concurrency: opts.concurrency, lockDuration: opts.lockDurationMs, stalledInterval: opts.stalledIntervalMs, maxStalledCount: 2 },
  );
  worker.on('error', (err) => opts.onError(err));
  worker.on('failed', (job, err) => {
    if (!job) return;
    const final = err instanceof UnrecoverableError || job.attemptsMade >= (job.opts.attempts ?? 1);
    opts.onFailed(job.data.incidentId, err, final);
  });
  return {
    async close(deadlineMs) {
      let timer: NodeJS.Timeout | undefined;
      const deadline = new Promise<'timeout'>((r) => (timer = setTimeout(() => r('timeout'), deadlineMs)));
      const closed = await Promise.race([worker.close().then(() => 'closed' as const), deadline]);
      clearTimeout(timer);
      if (closed === 'timeout') await worker.close(true).catch(() => undefined);
      connection.disconnect();
    },
  };
}
