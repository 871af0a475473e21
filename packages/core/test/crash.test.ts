import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { createRelay } from '../src/index.js';
import { waitFor } from '../src/testing/index.js';
import { createTestOutbox, databases, messages, scriptedSender, type TestOutbox } from './helpers.js';

const here = dirname(fileURLToPath(import.meta.url));
const lines = (file: string) =>
  existsSync(file) ? readFileSync(file, 'utf8').split('\n').filter(Boolean) : [];

describe.each(databases)('on $label', (database) => {
  const dir = mkdtempSync(join(tmpdir(), 'troutbox-crash-'));
  let db: TestOutbox | undefined;
  let child: ChildProcess | undefined;

  afterAll(async () => {
    if (child && child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await db?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('a relay killed with SIGKILL mid-run: a new relay delivers the rest; duplicates only from the killed batches', async () => {
    db = await createTestOutbox(database, { prefix: 'crash' });
    const total = 2000;
    const batchSize = 100;
    const concurrency = 2;
    await db.add(messages(total));
    const committedIds = await db.ids();

    const out = join(dir, 'delivered.txt');
    const committed = join(dir, 'committed.txt');
    let stderr = '';
    const proc = spawn(process.execPath, ['--import', 'tsx', join(here, 'fixtures/relay-child.ts')], {
      cwd: join(here, '..'),
      env: {
        ...process.env,
        DATABASE: database.name,
        NAMESPACE: db.namespace,
        OUT: out,
        COMMITTED: committed,
        HANG_AFTER: '700',
        BATCH_SIZE: String(batchSize),
        CONCURRENCY: String(concurrency),
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child = proc;
    proc.stderr!.on('data', (chunk) => {
      stderr += String(chunk);
    });
    const exited = new Promise<NodeJS.Signals | null>((resolve) =>
      proc.on('exit', (_, signal) => resolve(signal)),
    );

    // Killed once it delivered some messages but, by construction, not all of them.
    await waitFor(() => lines(out).length >= 700 || proc.exitCode !== null, {
      timeoutMs: 30_000,
      message: 'the child relay to deliver 700 messages',
    });
    expect(proc.exitCode, stderr).toBeNull();
    proc.kill('SIGKILL');
    expect(await exited).toBe('SIGKILL');

    const byChild = lines(out);
    const committedByChild = new Set(lines(committed));
    expect(byChild.length).toBeGreaterThanOrEqual(700);
    expect(byChild.length).toBeLessThan(total);

    // A new relay (in this process) picks up where the dead one left off. The dead process's
    // transactions are rolled back by the server when its connections drop.
    const sender = scriptedSender();
    const relay = createRelay({ store: db.store, sender, batchSize: 500, pollIntervalMs: 20 });
    await relay.start();
    try {
      await waitFor(async () => (await db!.store.stats()).sent === total, {
        timeoutMs: 30_000,
        message: 'every committed message recorded as sent',
      });
    } finally {
      await relay.stop();
    }

    const byNew = sender.deliveries.map((m) => m.id);
    const everything = new Set([...byChild, ...byNew]);
    expect([...everything].sort()).toEqual([...committedIds].sort());
    // Neither relay delivers a message twice on its own.
    expect(new Set(byChild).size).toBe(byChild.length);
    expect(new Set(byNew).size).toBe(byNew.length);

    const childSet = new Set(byChild);
    const duplicates = byNew.filter((id) => childSet.has(id));
    // Duplicates are the killed process's in-flight batches: delivered by the child first,
    // never recorded as sent by it, and at most one batch per concurrent loop.
    expect(duplicates.length).toBeGreaterThan(0);
    expect(duplicates.length).toBeLessThanOrEqual(concurrency * batchSize);
    expect(duplicates.filter((id) => committedByChild.has(id))).toEqual([]);
    console.info(
      `${database.label} crash: child delivered ${byChild.length} (${committedByChild.size} committed) before SIGKILL; new relay delivered ${byNew.length}, ${duplicates.length} duplicates`,
    );
  });
});
