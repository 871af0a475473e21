import type pg from 'pg';

/** Each alternative runs twice: configured as its documentation recommends for throughput, and as installed. */
export type VariantName = 'tuned' | 'defaults';

export type SystemId = 'troutbox' | 'raw' | 'graphile-worker' | 'pg-boss' | 'pg-transactional-outbox';

/** A running consumer (relay, worker, listener) inside a worker process. */
export interface Consumer {
  start(): Promise<void>;
  stop(): Promise<void>;
}

export interface ConsumerOptions {
  databaseUrl: string;
  schema: string;
  variant: VariantName;
  /**
   * Called once per message the handler sees. `seq` is read from the payload only when the
   * run measures latency, so the drain handler stays a no-op.
   */
  onHandled(seq: number | undefined): void;
  /** Parse `seq` out of each payload (latency runs). */
  wantSeq: boolean;
}

/** The system's "enqueue inside my transaction" call, on a client with an open transaction. */
export interface Producer {
  enqueue(client: pg.PoolClient, seq: number): Promise<void>;
  close(): Promise<void>;
}

export interface System {
  id: SystemId;
  label: string;
  /** npm package measured, for its version on the chart; none for the raw loop. */
  packageName?: string;
  /** The configuration of each variant, as printed in the results. */
  variants: Partial<Record<VariantName, string>>;
  /** Whether the steady-state latency run applies (the raw loop has no wake-up to speak of). */
  latency: boolean;
  /** Create an empty schema with the system's tables; returns the schema name. */
  create(admin: pg.Pool, variant: VariantName): Promise<string>;
  /** Create a schema holding `count` pending messages, enqueued with the system's fastest bulk API. */
  seedBacklog(admin: pg.Pool, count: number, variant: VariantName): Promise<string>;
  /**
   * `wake` is the in-process consumer's wake-up when producer and consumer share a process
   * (the latency run), wired the way the system's docs show; systems that wake through the
   * database ignore it.
   */
  producer(schema: string, variant: VariantName, databaseUrl: string, wake?: () => void): Promise<Producer>;
  /** Build the consumer without starting it. */
  consumer(options: ConsumerOptions): Promise<Consumer & { wake?: () => void }>;
}

/** The same ~120-byte domain event in every system (as `seed()` in ../drain.ts writes it). */
export function eventPayload(seq: number) {
  return { type: 'OrderPlaced', seq, orderId: seq, total: seq % 977, currency: 'EUR', note: 'x'.repeat(40) };
}

/** SQL expression building the same event for `generate_series(...) AS g`. */
export const eventPayloadSql =
  "json_build_object('type', 'OrderPlaced', 'seq', g, 'orderId', g, 'total', g % 977, 'currency', 'EUR', 'note', repeat('x', 40))";
