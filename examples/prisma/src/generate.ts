// Copy the current outbox model from @troutbox/prisma next to the example's models, then run
// `prisma generate` (into src/generated, git-ignored). In your project this is a one-time copy
// and your usual `prisma generate`.
import { execFileSync } from 'node:child_process';
import { copyFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { outboxModelPath } from '@troutbox/prisma';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');

export function generateClient(): void {
  copyFileSync(outboxModelPath, join(root, 'prisma', 'schema', 'outbox.prisma'));
  const cli = join(
    dirname(createRequire(import.meta.url).resolve('prisma/package.json')),
    'build',
    'index.js',
  );
  execFileSync(process.execPath, [cli, 'generate', '--schema', 'prisma/schema'], {
    cwd: root,
    stdio: 'pipe',
    env: {
      ...process.env,
      // Generating needs no schema engine, but the CLI looks for one and would download it;
      // offline, any existing file satisfies the lookup.
      PRISMA_SCHEMA_ENGINE_BINARY: process.env.PRISMA_SCHEMA_ENGINE_BINARY ?? process.execPath,
      PRISMA_HIDE_UPDATE_MESSAGE: '1',
      CHECKPOINT_DISABLE: '1',
    },
  });
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href)
  generateClient();
