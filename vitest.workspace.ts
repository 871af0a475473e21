import { existsSync, readdirSync } from 'node:fs';
import { defineConfig } from 'vitest/config';
import { shared, sharedTest } from './vitest.shared.js';

// One project per package or example. A folder with its own `vitest.project.ts` or
// `vitest.config.ts` (a `defineProject` with, say, a globalSetup that generates a client) uses
// it; the rest share the inline settings below. A project file should spread `shared` and
// `sharedTest` from ./vitest.shared.ts. Vitest 4 rejects a project file path whose name is not
// `vitest.config.*`, so a project file is given as what an inline project `extends`.
const projectFile = (dir: string) =>
  ['vitest.project.ts', 'vitest.config.ts'].map((f) => `./${dir}/${f}`).find((f) => existsSync(f));
const folders = ['packages', 'examples'].flatMap((root) =>
  readdirSync(root, { withFileTypes: true })
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
