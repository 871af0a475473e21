// Numbered PostgreSQL migrations. `{{schema}}` and `{{table}}` are replaced by the quoted
// identifiers, `{{name}}` by the bare table name (inside quotes, for index names). Names are
// validated as plain identifiers before they get here, so the substitution cannot inject SQL.
// Never edit a released migration: add the next number.

export interface MigrationSource {
  readonly version: number;
  readonly name: string;
  readonly up: readonly string[];
  readonly down: readonly string[];
}

/**
 * Per-key ordering (`ordering: 'key'`): the producer bumps `<table>_keys.seq` for each key in the
 * statement that inserts the messages, and stores the value in `seq`. The key row stays locked
 * until the producer commits, so a key's seq values follow the commit order of its transactions.
 * An ordered producer writes `seq = 0` for a message without a key. Rows written without
 * ordering keep seq NULL and cost nothing in either index below.
 *
 * `key_seq_idx` holds the keyed pending messages by (key, seq): the ordered claim walks it from
 * key to key (one probe a key, starting where the relay's last walk ended) and reads each key's
 * first pending message and the run after it. `unkeyed_idx` holds the unkeyed pending messages
 * of an ordered table in due order, so that the claim finds them without walking keyed ones.
 */
export const orderingMigration: MigrationSource = {
  version: 2,
  name: 'key_ordering',
  up: [
    'ALTER TABLE {{schema}}.{{table}} ADD COLUMN IF NOT EXISTS seq bigint',
    `CREATE INDEX IF NOT EXISTS "{{name}}_key_seq_idx" ON {{schema}}.{{table}} (key, seq) WHERE status = 'pending' AND seq > 0`,
    `CREATE INDEX IF NOT EXISTS "{{name}}_unkeyed_idx" ON {{schema}}.{{table}} (available_at, id) WHERE status = 'pending' AND seq = 0`,
    `CREATE TABLE IF NOT EXISTS {{schema}}."{{name}}_keys" (key text PRIMARY KEY, seq bigint NOT NULL)`,
  ],
  down: [
    `DROP TABLE IF EXISTS {{schema}}."{{name}}_keys"`,
    `DROP INDEX IF EXISTS {{schema}}."{{name}}_unkeyed_idx"`,
    `DROP INDEX IF EXISTS {{schema}}."{{name}}_key_seq_idx"`,
    'ALTER TABLE {{schema}}.{{table}} DROP COLUMN IF EXISTS seq',
  ],
};

export const postgresMigrationSources: readonly MigrationSource[] = [
  {
    version: 1,
    name: 'create_outbox',
    up: [
      `CREATE TABLE IF NOT EXISTS {{schema}}.{{table}} (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  topic text NOT NULL,
  key text,
  payload bytea NOT NULL,
  content_type text NOT NULL DEFAULT 'application/json',
  headers jsonb NOT NULL DEFAULT '{}'::jsonb,
  status text NOT NULL DEFAULT 'pending',
  attempts integer NOT NULL DEFAULT 0,
  available_at timestamptz NOT NULL DEFAULT now(),
  created_at timestamptz NOT NULL DEFAULT now(),
  sent_at timestamptz,
  last_error text,
  CONSTRAINT "{{name}}_status_check" CHECK (status IN ('pending', 'sent', 'dead'))
)`,
      // The claim query walks this index in order and stops at the first row not yet due; sent
      // and dead rows are not in it, so it stays as small as the backlog.
      `CREATE INDEX IF NOT EXISTS "{{name}}_pending_idx" ON {{schema}}.{{table}} (available_at, id) WHERE status = 'pending'`,
      `CREATE INDEX IF NOT EXISTS "{{name}}_dead_idx" ON {{schema}}.{{table}} (id) WHERE status = 'dead'`,
      `CREATE INDEX IF NOT EXISTS "{{name}}_sent_idx" ON {{schema}}.{{table}} (sent_at) WHERE status = 'sent'`,
    ],
    down: [`DROP TABLE IF EXISTS {{schema}}.{{table}}`],
  },
  orderingMigration,
];

/**
 * The same migrations for a table partitioned by range of `created_at` (`postgres({ partitioned })`).
 * The primary key must hold the partition key, so it is `(id, created_at)`; ids stay unique
 * (one identity sequence) and every lookup by id walks each partition's primary-key index. The
 * DEFAULT partition catches rows for which no range exists yet. `{{comment}}` is the stored
 * configuration, built from validated values only.
 */
export function postgresPartitionedMigrationSources(comment: string): readonly MigrationSource[] {
  return [
    {
      version: 1,
      name: 'create_outbox',
      up: [
        `CREATE TABLE IF NOT EXISTS {{schema}}.{{table}} (
  id bigint GENERATED ALWAYS AS IDENTITY,
  topic text NOT NULL,
  key text,
  payload bytea NOT NULL,
  content_type text NOT NULL DEFAULT 'application/json',
  headers jsonb NOT NULL DEFAULT '{}'::jsonb,
  status text NOT NULL DEFAULT 'pending',
  attempts integer NOT NULL DEFAULT 0,
  available_at timestamptz NOT NULL DEFAULT now(),
  created_at timestamptz NOT NULL DEFAULT now(),
  sent_at timestamptz,
  last_error text,
  CONSTRAINT "{{name}}_pkey" PRIMARY KEY (id, created_at),
  CONSTRAINT "{{name}}_status_check" CHECK (status IN ('pending', 'sent', 'dead'))
) PARTITION BY RANGE (created_at)`,
        `CREATE TABLE IF NOT EXISTS {{schema}}."{{name}}_default" PARTITION OF {{schema}}.{{table}} DEFAULT`,
        `CREATE INDEX IF NOT EXISTS "{{name}}_pending_idx" ON {{schema}}.{{table}} (available_at, id) WHERE status = 'pending'`,
        `CREATE INDEX IF NOT EXISTS "{{name}}_dead_idx" ON {{schema}}.{{table}} (id) WHERE status = 'dead'`,
        `CREATE INDEX IF NOT EXISTS "{{name}}_sent_idx" ON {{schema}}.{{table}} (sent_at) WHERE status = 'sent'`,
        `COMMENT ON TABLE {{schema}}.{{table}} IS '${comment.replaceAll("'", "''")}'`,
      ],
      down: [`DROP TABLE IF EXISTS {{schema}}.{{table}}`],
    },
    orderingMigration,
  ];
}
