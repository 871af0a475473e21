// TypeORM handles typed by the shape troutbox uses. A DataSource, EntityManager or QueryRunner
// from any TypeORM 1.x copy fits, and no TypeORM class leaks into this package's public types,
// so two installed copies of TypeORM never make a handle "not assignable to itself".

/** The part of a TypeORM `QueryRunner` that troutbox uses. */
export interface QueryRunnerLike {
  readonly isTransactionActive: boolean;
  readonly isReleased: boolean;
  /** With `useStructuredResult: true`, TypeORM answers `{ records, affected }` on every driver. */
  query(
    query: string,
    parameters: any[] | undefined,
    useStructuredResult: true,
  ): Promise<StructuredResultLike>;
  connect(): Promise<unknown>;
  /** TypeORM sets the level for this transaction only (PostgreSQL and MySQL alike). */
  startTransaction(isolationLevel?: TransactionIsolationLevel): Promise<void>;
  commitTransaction(): Promise<void>;
  rollbackTransaction(): Promise<void>;
  release(): Promise<void>;
}

/** The isolation levels troutbox asks TypeORM for, in TypeORM's spelling. */
export type TransactionIsolationLevel = 'READ COMMITTED' | 'REPEATABLE READ' | 'SERIALIZABLE';

/** TypeORM's `QueryResult`: the rows and the number of rows a statement changed. */
export interface StructuredResultLike {
  records?: any[];
  affected?: number | null;
}

/** The part of a TypeORM `DataSource` that troutbox uses. */
export interface DataSourceLike {
  readonly options: { readonly type: string };
  /** Subscribers of the data source, where troutbox finds a registered `OutboxSubscriber`. */
  readonly subscribers: readonly unknown[];
  createQueryRunner(mode?: 'master' | 'slave'): QueryRunnerLike;
}

/** The part of a TypeORM `EntityManager` that troutbox uses. */
export interface EntityManagerLike {
  /** Set on the manager that `dataSource.transaction(async (manager) => …)` hands out. */
  readonly queryRunner?: QueryRunnerLike | undefined;
  readonly dataSource: DataSourceLike;
}
