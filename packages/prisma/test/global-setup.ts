// Generates the Prisma test client before any test file loads it, so `pnpm test` works from a
// clean clone. Skips the work when the schema files have not changed since the last run.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const packageRoot = join(here, '..');
const generated = join(here, 'generated');
const schemaDir = join(generated, 'schema');
const sources = [join(here, 'prisma', 'schema.prisma'), join(packageRoot, 'prisma', 'outbox.prisma')];

export default function setup(): void {
  const require = createRequire(import.meta.url);
  const cli = join(dirname(require.resolve('prisma/package.json')), 'build', 'index.js');
  const hash = createHash('sha256');
  for (const file of sources) hash.update(readFileSync(file));
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
  mkdirSync(schemaDir, { recursive: true });
  for (const file of sources) copyFileSync(file, join(schemaDir, file.split(/[\\/]/).at(-1)!));
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

// `pnpm --filter @troutbox/prisma typecheck` generates the client first, so it also works from a clean clone.
if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) setup();
