import type { Dialect } from './dialect/dialect.js';
import { OutboxError, transactionEnded } from './errors.js';
import { type Executor, isTransactional, type TransactionState } from './executor.js';
import { type EncodedMessage, encodeMessages, type MessageLimits, type NewMessage } from './message.js';
import { optionNames, rejectUnknownOptions } from './options.js';
import { resolveLimits } from './store.js';
import { withTraceContext } from './telemetry.js';
import { signalLocalWrite } from './wakeups.js';

/** Options of {@link createOutbox}. */
export interface OutboxOptions {
  /** The database dialect and table (`postgres({ schema, table })`). */
  dialect: Dialect;
  /** Limits checked before anything is written. */
  limits?: Partial<MessageLimits>;
  /**
   * Called after each `add` statement succeeded (not after the commit, which the outbox does
   * not see). Used to wake a relay in the same process; keep it cheap. `relay.wake()` is made
   * for this: it keeps looking for a short while, so the commit that follows is picked up.
   *
   * @example
   * ```ts
   * const relay = createRelay({ store, sender });
   * const outbox = createOutbox({ dialect, onAdd: () => relay.wake() });
   * ```
   */
  onAdd?: (count: number) => void;
  /**
   * Copy the active OpenTelemetry trace context into each message's `traceparent` and
   * `tracestate` headers (unless the message sets its own), so the relay's send span links to
   * the span that produced it.
   * @defaultValue true
   */
  traceContext?: boolean;
  /**
   * Accept writes through a handle that is not in a transaction (a pool): each commits on its
   * own, whatever happens to the caller's transaction. Off by default: such a write is refused
   * with `NOT_IN_TRANSACTION` before any SQL, where the handle can tell.
   * @defaultValue false
   */
  autocommit?: boolean;
}

/** The producer side: writes messages in the caller's transaction. */
export interface Outbox {
  readonly dialect: Dialect;
  /**
   * Validate, then write one message or many (one statement for up to `dialect.maxRowsPerInsert`)
   * on `db`, which should be the executor of the transaction that makes the business change.
   * Nothing is written when any message is invalid.
   * @returns the number of messages written
   */
  add(db: Executor, messages: NewMessage | readonly NewMessage[]): Promise<number>;
  /** Validate and encode without writing. */
  encode(messages: NewMessage | readonly NewMessage[]): EncodedMessage[];
  /** Write already-encoded messages. */
  insertEncoded(db: Executor, encoded: readonly EncodedMessage[]): Promise<void>;
}

/**
 * Split messages into insert statements within the dialect's row and byte limits, in order.
 * One chunk (the input itself) in the common case.
 */
export function insertChunks(
  dialect: Dialect,
  encoded: readonly EncodedMessage[],
): (readonly EncodedMessage[])[] {
  const maxRows = dialect.maxRowsPerInsert;
  const maxBytes = dialect.maxBytesPerInsert ?? Number.POSITIVE_INFINITY;
  if (encoded.length <= maxRows && maxBytes === Number.POSITIVE_INFINITY) return [encoded];
  const chunks: (readonly EncodedMessage[])[] = [];
  let start = 0;
  let bytes = 0;
  for (let i = 0; i < encoded.length; i++) {
    const size = encoded[i]!.payload.byteLength;
    if (i > start && (i - start >= maxRows || bytes + size > maxBytes)) {
      chunks.push(encoded.slice(start, i));
      start = i;
      bytes = 0;
    }
    bytes += size;
  }
  chunks.push(start === 0 ? encoded : encoded.slice(start));
  return chunks;
}

// The same text on PostgreSQL and MySQL; a savepoint of an outer one of the same name nests.
const SAVEPOINT = 'SAVEPOINT troutbox_add';
const RELEASE_SAVEPOINT = 'RELEASE SAVEPOINT troutbox_add';
const ROLLBACK_TO_SAVEPOINT = 'ROLLBACK TO SAVEPOINT troutbox_add';

/** Options of {@link writeMessages}. */
export interface WriteOptions {
  /** Who is writing, for error messages (`outbox.add`, `addMessage`…). @defaultValue `'outbox.add'` */
  readonly caller?: string;
  /**
   * Allow writes through a handle that is not in a transaction (a pool, an ORM's root client):
   * each such write commits on its own, whatever the caller's transaction does. A handle whose
   * transaction has ended is refused even so.
   * @defaultValue false
   */
  readonly autocommit?: boolean;
}

/**
 * Refuse a write through `db` when it says it is not in an open transaction (see
 * {@link Executor.transactionState}): before any SQL, with `NOT_IN_TRANSACTION`.
 * Returns the state it read (undefined: the handle cannot tell).
 */
export function checkTransaction(db: Executor, options: WriteOptions = {}): TransactionState | undefined {
  const caller = options.caller ?? 'outbox.add';
  const state = typeof db.transactionState === 'function' ? db.transactionState() : undefined;
  if (state === 'ended') throw transactionEnded(caller);
  if (state === 'autocommit' && options.autocommit !== true) {
    throw new OutboxError(
      'NOT_IN_TRANSACTION',
      `${caller} needs the handle of an open transaction (the message would commit on its own, even if your transaction rolls back); pass the transaction's handle, or opt into autocommit (autocommit: true) where the outbox is created`,
      { operation: caller },
    );
  }
  return state;
}

/**
 * Write encoded messages on `db`: the dialect's statements for each chunk (row and byte limits),
 * in order. The handle must be in an open transaction where it can tell (see
 * {@link checkTransaction}); with `autocommit`, a write of more than one statement on an executor
 * that can open a transaction (a pool) runs in a transaction of its own, so it is all or nothing
 * there too. Then wakes this process's relays of the table. The one write path of `outbox.add`
 * and `store.add`.
 *
 * @example
 * ```ts
 * const encoded = encodeMessages([{ topic: 'orders', key: 'o-1', payload: { id: 'o-1' } }]);
 * await writeMessages(dialect, pgClient(client), encoded); // inside the caller's transaction
 * ```
 */
export async function writeMessages(
  dialect: Dialect,
  db: Executor,
  encoded: readonly EncodedMessage[],
  options: WriteOptions = {},
): Promise<void> {
  const caller = options.caller ?? 'outbox.add';
  if (typeof db?.query !== 'function') {
    throw new OutboxError('INVALID_OPTION', `${caller} needs an executor with query(sql, params)`);
  }
  const state = checkTransaction(db, options);
  if (encoded.length === 0) return;
  const chunks = insertChunks(dialect, encoded);
  const statements = chunks.flatMap((chunk) => dialect.insert(chunk));
  const notInTransaction = () =>
    new OutboxError(
      'NOT_IN_TRANSACTION',
      `${caller} of ${encoded.length} messages needs ${statements.length} statements, which must run in one transaction; this handle is not in one (begin a transaction first, or opt into autocommit where the outbox is created)`,
      { operation: caller },
    );
  if (statements.length === 1) {
    await db.query(statements[0]!.sql, statements[0]!.params);
  } else if (state !== 'transaction' && isTransactional(db)) {
    // A pool (or an ORM's root client): autocommit was allowed, or the handle cannot tell.
    await db.transaction(async (tx) => {
      for (const { sql, params } of statements) await tx.query(sql, params);
    });
  } else if (chunks.length > 1) {
    // Messages split over several INSERTs, in the caller's transaction: under a savepoint, so a
    // failure part-way leaves none of them behind, even for a caller who catches the error and
    // commits (MySQL keeps a transaction's earlier statements after a failed one). A handle that
    // could not tell beforehand says with the savepoint's own result whether it is in a
    // transaction (a bare mysql2 connection), before any message is written.
    const opened = await db.query(SAVEPOINT);
    if (state === undefined && opened?.inTransaction === false && options.autocommit !== true)
      throw notInTransaction();
    try {
      for (const { sql, params } of statements) await db.query(sql, params);
    } catch (error) {
      await db.query(ROLLBACK_TO_SAVEPOINT).catch(() => {});
      throw error;
    }
    await db.query(RELEASE_SAVEPOINT);
  } else {
    // One chunk in two statements (MySQL's key counters, then the messages): a failure of the
    // second leaves only reserved sequence numbers behind, a gap the ordered claim steps over.
    for (let i = 0; i < statements.length; i++) {
      const { sql, params } = statements[i]!;
      const result = await db.query(sql, params);
      // A handle that could not tell beforehand (a bare mysql2 connection) says after the first
      // statement whether it ran in autocommit: the rest would not be atomic with it, and on an
      // ordered MySQL table the first statement only reserved key sequence numbers.
      if (i === 0 && state === undefined && result?.inTransaction === false && options.autocommit !== true)
        throw notInTransaction();
    }
  }
  signalLocalWrite(dialect.channel);
}

/**
 * Create the producer side of an outbox.
 *
 * @example
 * ```ts
 * const outbox = createOutbox({ dialect: postgres() });
 * await client.query('BEGIN');
 * await client.query('INSERT INTO orders (id, total) VALUES ($1, $2)', [id, total]);
 * await outbox.add(pgClient(client), { topic: 'orders', key: id, payload: { type: 'OrderPlaced', id, total } });
 * await client.query('COMMIT');
 * ```
 */
export function createOutbox(options: OutboxOptions): Outbox {
  rejectUnknownOptions('createOutbox', options, optionNames.createOutbox);
  if (!options || typeof options.dialect?.insert !== 'function') {
    throw new OutboxError('INVALID_OPTION', 'createOutbox needs a dialect (postgres(), mysql())');
  }
  const { dialect, onAdd } = options;
  if (onAdd !== undefined && typeof onAdd !== 'function') {
    throw new OutboxError('INVALID_OPTION', 'onAdd must be a function');
  }
  const limits = resolveLimits(options.limits);
  const traceContext = options.traceContext ?? true;
  if (options.autocommit !== undefined && typeof options.autocommit !== 'boolean') {
    throw new OutboxError(
      'INVALID_OPTION',
      `autocommit must be a boolean, got ${String(options.autocommit)}`,
    );
  }
  const writeOptions: WriteOptions = { caller: 'outbox.add', autocommit: options.autocommit === true };
  const encode = (messages: NewMessage | readonly NewMessage[]) =>
    encodeMessages(traceContext ? withTraceContext(messages) : messages, limits, dialect.timestampRange);
  async function insertEncoded(db: Executor, encoded: readonly EncodedMessage[]): Promise<void> {
    await writeMessages(dialect, db, encoded, writeOptions);
    if (encoded.length === 0) return;
    try {
      onAdd?.(encoded.length);
    } catch {
      // A wake-up hint must never fail (and so roll back) the caller's business transaction.
    }
  }
  return {
    dialect,
    encode,
    insertEncoded,
    async add(db, messages) {
      const encoded = encode(messages);
      await insertEncoded(db, encoded);
      return encoded.length;
    },
  };
}
