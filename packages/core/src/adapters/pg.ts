import { OutboxError, transactionEnded } from '../errors.js';
import type {
  Executor,
  IsolationLevel,
  NotificationSubscription,
  QueryOptions,
  QueryResult,
  TransactionalExecutor,
  TransactionOptions,
  TransactionState,
} from '../executor.js';
import { quotePg } from '../identifiers.js';
import { optionNames, rejectUnknownOptions } from '../options.js';

/** The part of a node-postgres `Client` / `PoolClient` that troutbox uses. `pg` itself is not a dependency. */
export interface PgClientLike {
  /**
   * node-postgres' `query`. With `prepare` (the default), statements troutbox names are passed
   * as a query config instead, `{ name, text, values }`, which node-postgres prepares once per
   * connection.
   */
  query(text: string, values?: any[]): Promise<{ rows: any[]; rowCount: number | null }>;
}

type NamedQuery = (config: { name: string; text: string; values?: unknown[] }) => Promise<{
  rows: any[];
  rowCount: number | null;
}>;

/** A checked-out node-postgres client. */
export interface PgPoolClientLike extends PgClientLike {
  release(destroy?: boolean | Error): void;
  on(event: 'error', listener: (error: Error) => void): unknown;
  removeListener(event: 'error', listener: (error: Error) => void): unknown;
}

/** A node-postgres `Client` as a dedicated listening connection uses it. */
export interface PgListenClientLike {
  connect?(): Promise<unknown>;
  query(text: string): Promise<unknown>;
  on(event: 'notification', listener: (message: { channel: string }) => void): unknown;
  on(event: 'error', listener: (error: Error) => void): unknown;
  on(event: 'end', listener: () => void): unknown;
}

/** The part of a node-postgres `Pool` that troutbox uses. */
export interface PgPoolLike extends PgClientLike {
  connect(): Promise<PgPoolClientLike>;
  on(event: 'error', listener: (error: Error, client: unknown) => void): unknown;
  listenerCount(event: 'error'): number;
  /**
   * The pool's client class and settings (node-postgres has both): `listen` opens its
   * connection with them, outside the pool, so a relay's LISTEN never takes a pooled connection.
   */
  Client?: new (
    options: any,
  ) => PgListenClientLike & { end(): Promise<void> };
  options?: unknown;
}

export interface PgExecutorOptions {
  /**
   * Prepare the statements troutbox names (the relay's claim) once per connection and reuse
   * their plans, instead of planning them on every batch. Turn it off behind a connection
   * pooler in transaction mode that does not keep prepared statements (PgBouncer before 1.21,
   * or without `max_prepared_statements`).
   * @defaultValue true
   */
  prepare?: boolean;
}

export interface PgPoolExecutorOptions extends PgExecutorOptions {
  /**
   * Called with connection errors that node-postgres emits as events (a server restart, a
   * terminated backend). Without a listener such an event crashes the process; troutbox adds
   * one to the pool when the pool has none, and one to every client it checks out.
   * @defaultValue ignore: the failed query already rejects and the relay retries.
   */
  onConnectionError?: (error: Error) => void;
}

const BEGIN: Record<IsolationLevel, string> = {
  'read committed': 'BEGIN ISOLATION LEVEL READ COMMITTED',
  'repeatable read': 'BEGIN ISOLATION LEVEL REPEATABLE READ',
  serializable: 'BEGIN ISOLATION LEVEL SERIALIZABLE',
};

function beginStatement(opts?: TransactionOptions): string {
  if (opts?.isolationLevel === undefined) return 'BEGIN';
  const sql = BEGIN[opts.isolationLevel];
  if (!sql)
    throw new OutboxError('INVALID_OPTION', `unknown isolation level ${JSON.stringify(opts.isolationLevel)}`);
  return sql;
}

/**
 * What node-postgres says of a client's session (`getTransactionStatus()`: `I` idle, `T` in a
 * transaction, `E` in a failed one); a `Pool` is never in a transaction.
 */
function clientState(client: PgClientLike): TransactionState | undefined {
  const c = client as { getTransactionStatus?: () => unknown; connect?: unknown; idleCount?: unknown };
  if (typeof c.getTransactionStatus === 'function') {
    const status = c.getTransactionStatus();
    if (status === 'I') return 'autocommit';
    if (status === 'T' || status === 'E') return 'transaction';
    return undefined;
  }
  if (typeof c.connect === 'function' && typeof c.idleCount === 'number') return 'autocommit';
  return undefined;
}

function wrap(
  client: PgClientLike,
  prepare: boolean,
  state: () => TransactionState | undefined = () => clientState(client),
): Executor {
  return {
    transactionState: state,
    async query<Row>(
      sql: string,
      params?: readonly unknown[],
      options?: QueryOptions,
    ): Promise<QueryResult<Row>> {
      if (state?.() === 'ended') throw transactionEnded();
      const values = params as unknown[] | undefined;
      const result =
        prepare && options?.name
          ? await (client.query as unknown as NamedQuery).call(client, {
              name: options.name,
              text: sql,
              ...(values ? { values } : {}),
            })
          : await client.query(sql, values);
      return { rows: result.rows as Row[], rowCount: result.rowCount ?? 0 };
    },
  };
}

/** Whether the transaction a handle was made in is over. */
interface TransactionScope {
  ended: boolean;
}

// The transaction each client lent out by `pgTransaction` is in, while it lasts: `pgClient(client)`
// made inside it answers `ended` once it is over, even after the client has gone back to the
// pool (and perhaps into someone else's transaction).
const lentClients = new WeakMap<object, TransactionScope>();

/**
 * An executor on a node-postgres client that is already inside the caller's transaction. Inside
 * {@link pgTransaction} (the way to hold a client for a producer), it refuses writes once that
 * transaction is over.
 *
 * @example
 * ```ts
 * await pgTransaction(pool, async (client) => {
 *   await client.query('INSERT INTO orders …', […]);
 *   await outbox.add(pgClient(client), { topic: 'orders', payload: order });
 * });
 * ```
 */
export function pgClient(client: PgClientLike, options: PgExecutorOptions = {}): Executor {
  rejectUnknownOptions('pgClient', options, optionNames.pgClient);
  const scope = lentClients.get(client);
  return wrap(
    client,
    options.prepare ?? true,
    scope ? () => (scope.ended ? 'ended' : clientState(client)) : undefined,
  );
}

const ignore = () => {};

// A pool emits `error` for its idle clients when the server ends their connections (a restart):
// without a listener that event crashes the process.
function guardPool(pool: PgPoolLike, onError: (error: Error) => void): void {
  if (pool.listenerCount('error') === 0) pool.on('error', (error) => onError(error));
}

/**
 * Check out a client for `fn`, listening for its `error` events (which would crash the process
 * without a listener). It is returned to the pool only when `fn` says the session is back to a
 * known state; a client that failed mid-transaction, or whose connection broke, is destroyed.
 */
async function withClient<T>(
  pool: PgPoolLike,
  onError: (error: Error) => void,
  fn: (client: PgPoolClientLike, clean: () => void) => Promise<T>,
): Promise<T> {
  const client = await pool.connect();
  let brokenBy: Error | undefined;
  const listener = (error: Error) => {
    brokenBy = error;
    onError(error);
  };
  client.on('error', listener);
  let reusable = false;
  try {
    return await fn(client, () => {
      reusable = true;
    });
  } finally {
    client.removeListener('error', listener);
    client.release(
      reusable && !brokenBy ? undefined : (brokenBy ?? new Error('connection left in an unknown state')),
    );
  }
}

/** BEGIN, `fn`, then COMMIT, or ROLLBACK when `fn` throws; `scope.ended` once either is sent. */
async function inTransaction<T>(
  client: PgPoolClientLike,
  clean: () => void,
  opts: TransactionOptions | undefined,
  fn: (scope: TransactionScope) => Promise<T>,
): Promise<T> {
  await client.query(beginStatement(opts));
  const scope: TransactionScope = { ended: false };
  let result: T;
  try {
    result = await fn(scope);
  } catch (error) {
    // A rollback that succeeds leaves the connection clean: keep it, since a business
    // rollback is routine and a new connection costs a few milliseconds. Not when the
    // server lost a statement node-postgres believes prepared (DEALLOCATE ALL, DISCARD ALL,
    // a pooler's reset): the client would fail the same way on every later use.
    const lostPrepared = (error as { code?: unknown } | null)?.code === '26000';
    scope.ended = true;
    await client.query('ROLLBACK').then(lostPrepared ? undefined : clean, () => {});
    throw error;
  }
  scope.ended = true;
  await client.query('COMMIT');
  clean();
  return result;
}

/**
 * The client type a pool's `connect()` resolves to (`PoolClient` for node-postgres' `Pool`,
 * whose `connect` is overloaded with a callback form).
 */
export type PgPoolClientOf<P> = P extends {
  connect(): Promise<infer C>;
  connect(callback: (...args: any[]) => void): void;
}
  ? C
  : P extends { connect(): Promise<infer C> }
    ? C
    : PgPoolClientLike;

/** Options of {@link pgTransaction}. */
export interface PgTransactionOptions extends TransactionOptions {
  /**
   * Called with connection errors node-postgres emits as events while the client is out (a
   * server restart, a terminated backend), and for the pool's idle clients when the pool has no
   * `error` listener of its own.
   * @defaultValue ignore: the transaction already fails with the error.
   */
  onConnectionError?: (error: Error) => void;
}

/**
 * Run `fn` in a transaction on a client of `pool`: the producer's way to hold a node-postgres
 * client. BEGIN, then COMMIT when `fn` resolves or ROLLBACK when it throws (the error is
 * rethrown), and the client goes back to the pool — or is destroyed when its connection broke.
 * While the client is out it has an `error` listener, and the pool gets one if it has none: a
 * database restart (57P01, `pg_terminate_backend`) fails this transaction instead of crashing the
 * process with an unhandled `error` event, and the next transaction gets a fresh connection.
 *
 * `pgClient(client)` made inside `fn` refuses writes once the transaction is over. Do not
 * release the client, or send BEGIN, COMMIT or ROLLBACK yourself.
 *
 * @example
 * ```ts
 * await pgTransaction(pool, async (client) => {
 *   await client.query('INSERT INTO orders (id, total) VALUES ($1, $2)', [id, total]);
 *   await outbox.add(pgClient(client), { topic: 'orders', key: id, payload: { type: 'OrderPlaced', id, total } });
 * });
 * ```
 */
export async function pgTransaction<P extends PgPoolLike, T>(
  pool: P,
  fn: (client: PgPoolClientOf<P>) => Promise<T>,
  options: PgTransactionOptions = {},
): Promise<T> {
  rejectUnknownOptions('pgTransaction', options, optionNames.pgTransaction);
  if (typeof pool?.connect !== 'function' || typeof pool.listenerCount !== 'function') {
    throw new OutboxError('INVALID_OPTION', 'pgTransaction needs a node-postgres Pool');
  }
  const onError = options.onConnectionError ?? ignore;
  guardPool(pool, onError);
  return withClient(pool, onError, (client, clean) =>
    inTransaction(client, clean, options, async (scope) => {
      lentClients.set(client, scope);
      try {
        return await fn(client as PgPoolClientOf<P>);
      } finally {
        lentClients.delete(client);
      }
    }),
  );
}

/**
 * A transactional executor on a node-postgres `Pool`, for the relay and the admin API, and for
 * producers that write through troutbox's executor (`db.transaction(async (tx) => …)`; see
 * {@link pgTransaction} for the node-postgres client itself). Each transaction checks out one
 * client, and a client whose connection broke is destroyed rather than returned to the pool.
 *
 * @example
 * ```ts
 * const db = pgPool(pool);
 * await db.transaction(async (tx) => {
 *   await tx.query('INSERT INTO orders (id) VALUES ($1)', [id]);
 *   await outbox.add(tx, { topic: 'orders', key: id, payload: { id } });
 * });
 * ```
 */
export function pgPool(pool: PgPoolLike, options: PgPoolExecutorOptions = {}): TransactionalExecutor {
  rejectUnknownOptions('pgPool', options, optionNames.pgPool);
  const onError = options.onConnectionError ?? ignore;
  const prepare = options.prepare ?? true;
  guardPool(pool, onError);

  return {
    ...wrap(pool, prepare, () => 'autocommit'),
    async transaction<T>(fn: (tx: Executor) => Promise<T>, opts?: TransactionOptions): Promise<T> {
      return withClient(pool, onError, (client, clean) =>
        inTransaction(client, clean, opts, (scope) =>
          // The handle given to `fn` answers `ended` once this transaction is over, whatever the
          // client (back in the pool, perhaps in someone else's transaction) is doing by then.
          fn(wrap(client, prepare, () => (scope.ended ? 'ended' : 'transaction'))),
        ),
      );
    },
    async withConnection<T>(fn: (conn: Executor) => Promise<T>): Promise<T> {
      return withClient(pool, onError, async (client, clean) => {
        let released = false;
        const conn = wrap(client, prepare, () => (released ? 'ended' : clientState(client)));
        try {
          const result = await fn(conn);
          clean();
          return result;
        } finally {
          released = true;
        }
      });
    },
    async listen(channel, onNotify, onLost): Promise<NotificationSubscription> {
      let client: PgListenClientLike;
      let release: () => Promise<void>;
      if (typeof pool.Client === 'function' && pool.options !== undefined) {
        const own = new pool.Client(pool.options);
        client = own;
        release = () => own.end();
      } else {
        // A pool without its client class: hold one pooled connection, destroyed on close.
        const pooled = await pool.connect();
        client = pooled as unknown as PgListenClientLike;
        release = async () => pooled.release(new Error('listening connection closed'));
      }
      let closed = false;
      const lost = (error: Error) => {
        if (closed) return;
        closed = true;
        onError(error);
        release().catch(() => {});
        onLost(error);
      };
      // Before connecting: an `error` event without a listener would crash the process.
      client.on('error', lost);
      client.on('end', () => lost(new Error('the listening connection ended')));
      client.on('notification', (message) => {
        if (!closed && message.channel === channel) onNotify();
      });
      try {
        if (client.connect && typeof pool.Client === 'function') await client.connect();
        await client.query(`LISTEN ${quotePg(channel)}`);
      } catch (error) {
        closed = true;
        await release().catch(() => {});
        throw error;
      }
      return {
        async close() {
          if (closed) return;
          closed = true;
          await release().catch(() => {});
        },
      };
    },
  };
}
