import type { Dialect, Outbox, TransactionalExecutor } from '@troutbox/core';

/** An order as the example places it. */
export interface NewOrder {
  readonly customer: string;
  readonly totalCents: number;
}

/** The example's app on one database: its drizzle database, migrated, and what the relay needs. */
export interface Shop {
  /** Core's dialect for the outbox table (its name, its SQL). */
  readonly dialect: Dialect;
  /** The drizzle database as a core executor, for the relay. */
  readonly executor: TransactionalExecutor;
  /**
   * Insert the order and its OrderPlaced message in one drizzle transaction, with `outbox`; with
   * `fail`, throw after both writes so the transaction rolls back.
   */
  placeOrder(order: NewOrder, outbox: Outbox, fail?: boolean): Promise<string>;
  close(): Promise<void>;
}
