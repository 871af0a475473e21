import { existsSync, readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';
import { shared, sharedTest } from './vitest.shared.js';

// One project per package or example. A folder with its own `vitest.project.ts` or
// `vitest.config.ts` (a `defineProject` with, say, a globalSetup that generates a client) uses
// it; the rest share the inline settings below. A project file should spread `shared` and
// `sharedTest` from ./vitest.shared.ts. Vitest 4 rejects a project file path whose name is not
// `vitest.config.*`, so a project file is given as what an inline project `extends`.
// Paths are resolved from this file, so a package's own `test` script can run its project with
// `--root ../.. --config vitest.workspace.ts` from its folder.
const here = fileURLToPath(new URL('.', import.meta.url));
const projectFile = (dir: string) =>
  ['vitest.project.ts', 'vitest.config.ts']
    .map((f) => `./${dir}/${f}`)
    .find((f) => existsSync(`${here}${f}`));
const folders = ['packages', 'examples'].flatMap((root) =>
  readdirSync(`${here}${root}`, { withFileTypes: true })
    .filter((d) => d.isDirectory())
    .map((d) => `${root}/${d.name}`),
);

export default defineConfig({
  ...shared,
  test: {
    ...sharedTest,
    projects: folders.map(
      (dir) =>
        (projectFile(dir) ? { extends: projectFile(dir)! } : undefined) ?? {
          extends: true as const,
          test: {
            // packages/kysely and examples/kysely need different names.
            name: dir.startsWith('examples/') ? `example-${dir.split('/')[1]}` : dir.split('/')[1]!,
            include: [`${dir}/src/**/*.test.ts`, `${dir}/test/**/*.test.ts`],
          },
        },
    ),
  },
});
