/**
 * The one thing a database or ORM adapter provides: run parameterised SQL on a connection or
 * inside the caller's transaction. Placeholders are the dialect's own (`$1` for PostgreSQL,
 * `?` for MySQL); adapters pass SQL text and values through untouched.
 */
export interface Executor {
  query<Row = Record<string, unknown>>(
    sql: string,
    params?: readonly unknown[],
    options?: QueryOptions,
  ): Promise<QueryResult<Row>>;
  /**
   * Where this handle stands, when the driver or ORM can tell without a round trip (see
   * {@link TransactionState}); `undefined`, or no method at all, when it cannot. Writes of
   * `outbox.add` check it before any SQL: `autocommit` is refused unless the outbox was created
   * with `autocommit: true`, and `ended` is always refused.
   */
  transactionState?(): TransactionState | undefined;
}

/**
 * Where an executor stands relative to a transaction:
 * - `transaction`: inside an open transaction; statements commit or roll back with it.
 * - `autocommit`: not in a transaction (a pool, an ORM's root client): each statement commits
 *   on its own.
 * - `ended`: the handle of a transaction that has committed or rolled back.
 */
export type TransactionState = 'transaction' | 'autocommit' | 'ended';

/** Hints for one statement; an executor may ignore them. */
export interface QueryOptions {
  /**
   * A name for a statement troutbox runs again and again with the same text (the relay's
   * claim). An executor that can (node-postgres, unless created with `prepare: false`) prepares
   * it once per connection under this name and reuses its plan.
   */
  readonly name?: string;
}

/** Rows of a statement, and the number of rows it changed where the driver tells. */
export interface QueryResult<Row> {
  rows: Row[];
  rowCount: number;
  /**
   * Whether the session was inside a transaction after this statement, where the protocol says
   * so with the result (MySQL's server status flags); absent elsewhere. A write of several
   * statements through a handle that cannot tell beforehand checks it after its first one.
   */
  inTransaction?: boolean;
}

/**
 * An executor that can also open its own transactions: what the relay and the admin API need.
 * `transaction` commits when `fn` resolves and rolls back when it throws, and gives `fn` an
 * executor bound to one connection.
 */
export interface TransactionalExecutor extends Executor {
  transaction<T>(fn: (tx: Executor) => Promise<T>, options?: TransactionOptions): Promise<T>;
  /**
   * Hold one connection for `fn` outside any transaction (for session-level advisory locks and
   * LISTEN). Optional: adapters over a single connection need not implement it.
   */
  withConnection?<T>(fn: (conn: Executor) => Promise<T>): Promise<T>;
  /**
   * `LISTEN` on `channel` on a connection of its own, for as long as the subscription is open:
   * `onNotify` for each notification, `onLost` once if that connection fails or ends (the
   * subscription is then dead; the relay opens a new one, with backoff). Optional: an executor
   * without it (an ORM's) leaves the relay polling. PostgreSQL executors only.
   *
   * @example
   * ```ts
   * const sub = await db.listen!('troutbox:public.outbox_messages', () => relay.wake(), (e) => console.warn(e));
   * await sub.close();
   * ```
   */
  listen?(
    channel: string,
    onNotify: () => void,
    onLost: (error: Error) => void,
  ): Promise<NotificationSubscription>;
}

/** An open `LISTEN` of {@link TransactionalExecutor.listen}. */
export interface NotificationSubscription {
  /** Stop listening and release the connection. Never rejects. */
  close(): Promise<void>;
}

/** Isolation levels a dialect may ask for. */
export type IsolationLevel = 'read committed' | 'repeatable read' | 'serializable';

/** Options of {@link TransactionalExecutor.transaction}. Adapters that cannot honour one should use the closest stronger level. */
export interface TransactionOptions {
  isolationLevel?: IsolationLevel;
}

/** True when `db` can open transactions itself. */
export function isTransactional(db: Executor): db is TransactionalExecutor {
  return typeof (db as Partial<TransactionalExecutor>).transaction === 'function';
}
