/**
 * Which database a `DATABASE_URL` names, by its scheme: `mysql://` and `mariadb://` are MySQL
 * or MariaDB (both through mysql2, which reads either), `postgres://` and `postgresql://`
 * PostgreSQL. Anything else is an error rather than a guess.
 *
 * @example
 * ```ts
 * databaseKind('mariadb://root@127.0.0.1:3306/test'); // 'mysql'
 * ```
 */
export function databaseKind(url: string): 'postgres' | 'mysql' {
  const scheme = /^([a-z][a-z0-9+.-]*):/i.exec(url)?.[1]?.toLowerCase();
  if (scheme === 'mysql' || scheme === 'mariadb') return 'mysql';
  if (scheme === 'postgres' || scheme === 'postgresql') return 'postgres';
  throw new Error(
    `DATABASE_URL must start with postgres://, postgresql://, mysql:// or mariadb://, got ${scheme ?? 'no scheme'}`,
  );
}
