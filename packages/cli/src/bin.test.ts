import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type Fixture, mariadbDatabase, postgresDatabase, seed } from '../test/support.js';
import { exitCodes } from './cli-error.js';

const packageDir = fileURLToPath(new URL('..', import.meta.url));

/** Run src/bin.ts in a real Node process, as `troutbox` runs from dist after a build. */
function troutbox(args: readonly string[], env: Record<string, string> = {}) {
  return new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve, reject) => {
    const child = spawn(
      process.execPath,
      ['--conditions=@troutbox/source', '--import', 'tsx', 'src/bin.ts', ...args],
      // stdin is a pipe here, never a terminal: what a cron job or CI step gets.
      { cwd: packageDir, env: { PATH: process.env.PATH ?? '', ...env }, stdio: ['pipe', 'pipe', 'pipe'] },
    );
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => {
      stdout += d;
    });
    child.stderr.on('data', (d) => {
      stderr += d;
    });
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
    child.stdin.end();
  });
}

describe.each([postgresDatabase, mariadbDatabase])('the troutbox process on $name', (database) => {
  let f: Fixture;
  beforeEach(async () => {
    f = await database.create();
    await seed(f);
  });
  afterEach(async () => {
    await f.close();
  });

  it('prints status as JSON, exits 0, and ends by itself (pools closed)', async () => {
    const r = await troutbox(['status', '--json', '--schema', f.target[3]!], { DATABASE_URL: database.url });
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ pending: 4, due: 3, dead: 3, sent: 3 });
  });

  it('exits with the documented codes: a purge it cannot confirm, a missing table', async () => {
    const purge = await troutbox(['dead', 'purge', '--all', ...f.target]);
    expect(purge.code).toBe(exitCodes.NOT_CONFIRMED);
    expect(purge.stderr).toContain('refusing to purge without confirmation');
    expect((await f.store.stats()).dead).toBe(3);

    const missing = await troutbox(['status', ...f.target, '--table', 'missing_outbox']);
    expect(missing.code).toBe(exitCodes.TABLE_MISSING);
  });
});
