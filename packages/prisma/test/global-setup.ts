// Generates the Prisma test clients, one per database, before any test file loads them, so
// `pnpm test` works from a clean clone. Skips the work when the schema files have not changed
// since the last run.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const packageRoot = join(here, '..');

/** Each client: its folder under test/generated, the test schema and the shipped outbox model. */
const clients = [
  {
    name: 'postgres',
    schema: join(here, 'prisma', 'postgres.prisma'),
    model: join(packageRoot, 'prisma', 'outbox.prisma'),
  },
  {
    name: 'mysql',
    schema: join(here, 'prisma', 'mysql.prisma'),
    model: join(packageRoot, 'prisma', 'outbox.mysql.prisma'),
  },
];

function generate(cli: string, { name, schema, model }: (typeof clients)[number]): void {
  const generated = join(here, 'generated', name);
  const hash = createHash('sha256');
  for (const file of [schema, model]) hash.update(readFileSync(file));
  hash.update(readFileSync(join(dirname(cli), '..', 'package.json')));
  const stamp = hash.digest('hex');
  const stampFile = join(generated, 'stamp');
  if (
    existsSync(stampFile) &&
    readFileSync(stampFile, 'utf8') === stamp &&
    existsSync(join(generated, 'client'))
  ) {
    return;
  }
  rmSync(generated, { recursive: true, force: true });
  const schemaDir = join(generated, 'schema');
  mkdirSync(schemaDir, { recursive: true });
  copyFileSync(schema, join(schemaDir, 'schema.prisma'));
  copyFileSync(model, join(schemaDir, 'outbox.prisma'));
  execFileSync(process.execPath, [cli, 'generate', '--schema', schemaDir], {
    cwd: packageRoot,
    stdio: 'pipe',
    env: {
      ...process.env,
      // `prisma generate` needs no schema engine, but the CLI looks for one and would try to
      // download it; any existing file satisfies the lookup offline.
      PRISMA_SCHEMA_ENGINE_BINARY: process.env.PRISMA_SCHEMA_ENGINE_BINARY ?? process.execPath,
      PRISMA_HIDE_UPDATE_MESSAGE: '1',
      CHECKPOINT_DISABLE: '1',
    },
  });
  writeFileSync(stampFile, stamp);
}

export default function setup(): void {
  const require = createRequire(import.meta.url);
  const cli = join(dirname(require.resolve('prisma/package.json')), 'build', 'index.js');
  // Anything else in generated/ (an older layout) would linger next to the clients.
  const generated = join(here, 'generated');
  if (existsSync(generated)) {
    for (const entry of readdirSync(generated)) {
      if (!clients.some((c) => c.name === entry))
        rmSync(join(generated, entry), { recursive: true, force: true });
    }
  }
  for (const client of clients) generate(cli, client);
}

// `pnpm --filter @troutbox/prisma typecheck` generates the clients first, so it also works from a clean clone.
if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) setup();
