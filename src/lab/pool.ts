/**
 * The lab service's DB pool, with Go database/sql DBStats semantics:
 * FIFO, at most `max` open connections, NO acquisition time-out (Go's default: wait forever).
 * WaitCount counts a request that found no idle connection (counted when it starts waiting,
 * as Go does); WaitDuration (ns) accumulates when the wait ends.
 */

export interface DbStats {
  MaxOpenConnections: number;
  OpenConnections: number;
  InUse: number;
  Idle: number;
  WaitCount: number;
  /** nanoseconds, like Go's time.Duration */
  WaitDuration: number;
  MaxIdleClosed: number;
  MaxLifetimeClosed: number;
}

export interface QueryResult {
  /** how long the request waited for a connection, ms */
  waitedMs: number;
}

export interface DbPool {
  readonly kind: 'in-process' | 'postgres';
  query(): Promise<QueryResult>;
  stats(): DbStats;
  /** requests currently queued for a connection */
  waiting(): number;
  close(): Promise<void>;
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
const nowNs = () => process.hrtime.bigint();

/** In-process pool: a "query" holds one of `max` slots for `queryMs`. */
export class MemoryPool implements DbPool {
  readonly kind = 'in-process' as const;
  private open = 0;
  private inUse = 0;
  private waitCount = 0;
  private waitNs = 0;
  private readonly waiters: Array<() => void> = [];

  constructor(
    private readonly max: number,
    private readonly queryMs: number,
  ) {
    if (max < 1) throw new Error('pool max must be >= 1');
  }

  private async acquire(): Promise<number> {
    if (this.inUse < this.max && this.waiters.length === 0) {
      this.inUse++;
      if (this.open < this.inUse) this.open = this.inUse; // lazily "dial" a new connection
      return 0;
    }
    this.waitCount++;
    const t0 = nowNs();
    // release() hands its connection straight to the first waiter (inUse unchanged)
    await new Promise<void>((resolve) => this.waiters.push(resolve));
    const ns = Number(nowNs() - t0);
    this.waitNs += ns;
    return ns / 1e6;
  }

  private release(): void {
    const next = this.waiters.shift();
    if (next) next();
    else this.inUse--;
  }

  async query(): Promise<QueryResult> {
    const waitedMs = await this.acquire();
    try {
      await sleep(this.queryMs);
    } finally {
      this.release();
    }
    return { waitedMs };
  }

  stats(): DbStats {
    return {
      MaxOpenConnections: this.max,
      OpenConnections: this.open,
      InUse: this.inUse,
      Idle: this.open - this.inUse,
      WaitCount: this.waitCount,
      WaitDuration: this.waitNs,
      MaxIdleClosed: 0,
      MaxLifetimeClosed: 0,
    };
  }

  waiting(): number {
    return this.waiters.length;
  }

  async close(): Promise<void> {
    /* nothing to close */
  }
}

/** PostgreSQL pool through node-postgres; a "query" is `SELECT pg_sleep(queryMs/1000)`. */
export class PgPool implements DbPool {
  readonly kind = 'postgres' as const;
  private waitCount = 0;
  private waitNs = 0;

  private constructor(
    private readonly pool: import('pg').Pool,
    private readonly max: number,
    private readonly queryMs: number,
  ) {}

  static async create(
    connectionString: string,
    max: number,
    queryMs: number,
    onError: (err: Error) => void,
  ): Promise<PgPool> {
    const pg = (await import('pg')).default;
    // connectionTimeoutMillis 0 = wait forever for a connection: the bug under study
    const pool = new pg.Pool({ connectionString, max, connectionTimeoutMillis: 0 });
    pool.on('error', onError);
    return new PgPool(pool, max, queryMs);
  }

  async query(): Promise<QueryResult> {
    const p = this.pool;
    const mustWait = p.waitingCount > 0 || (p.idleCount === 0 && p.totalCount >= this.max);
    if (mustWait) this.waitCount++;
    const t0 = nowNs();
    const client = await p.connect();
    let waitedMs = 0;
    if (mustWait) {
      const ns = Number(nowNs() - t0);
      this.waitNs += ns;
      waitedMs = ns / 1e6;
    }
    try {
      await client.query('SELECT pg_sleep($1)', [this.queryMs / 1000]);
      client.release();
    } catch (err) {
      client.release(err instanceof Error ? err : new Error(String(err)));
      throw err;
    }
    return { waitedMs };
  }

  stats(): DbStats {
    const p = this.pool;
    return {
      MaxOpenConnections: this.max,
      OpenConnections: p.totalCount,
      InUse: p.totalCount - p.idleCount,
      Idle: p.idleCount,
      WaitCount: this.waitCount,
      WaitDuration: this.waitNs,
      MaxIdleClosed: 0,
      MaxLifetimeClosed: 0,
    };
  }

  waiting(): number {
    return this.pool.waitingCount;
  }

  async close(): Promise<void> {
    await this.pool.end();
  }
}
