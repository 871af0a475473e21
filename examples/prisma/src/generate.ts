// Copy the current outbox models from @troutbox/prisma next to the example's models, then run
// `prisma generate` for both databases (into src/generated, git-ignored). In your project this is
// a one-time copy of the model for your database and your usual `prisma generate`.
import { execFileSync } from 'node:child_process';
import { copyFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { outboxModelPaths } from '@troutbox/prisma';
import { prismaFolders, root } from './database.js';

export function generateClient(): void {
  const cli = join(
    dirname(createRequire(import.meta.url).resolve('prisma/package.json')),
    'build',
    'index.js',
  );
  for (const database of ['postgres', 'mysql'] as const) {
    const schema = prismaFolders[database].schema;
    copyFileSync(outboxModelPaths[database], join(root, schema, 'outbox.prisma'));
    execFileSync(process.execPath, [cli, 'generate', '--schema', schema], {
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
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href)
  generateClient();
