import { existsSync, readdirSync } from 'node:fs';
import { defineConfig } from 'vitest/config';
import { shared, sharedTest } from './vitest.shared.js';

// One project per package or example. A folder with its own `vitest.project.ts` (a
// `defineProject` with, say, a globalSetup that generates a client) uses it; the rest share
// the inline settings below. A project file should spread `shared` and `sharedTest` from
// ./vitest.shared.ts, since file projects do not inherit this root config.
const folders = ['packages', 'examples'].flatMap((root) =>
  readdirSync(root, { withFileTypes: true })
    .filter((d) => d.isDirectory())
    .map((d) => `${root}/${d.name}`),
);

export default defineConfig({
  ...shared,
  test: {
    ...sharedTest,
    projects: folders.map((dir) =>
      existsSync(`${dir}/vitest.project.ts`)
        ? `${dir}/vitest.project.ts`
        : {
            extends: true as const,
            test: { name: dir.split('/')[1]!, include: [`${dir}/src/**/*.test.ts`, `${dir}/test/**/*.test.ts`] },
          },
    ),
  },
});
