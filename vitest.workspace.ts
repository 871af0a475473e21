import { existsSync, readdirSync } from 'node:fs';
import { defineConfig } from 'vitest/config';
import { shared, sharedTest } from './vitest.shared.js';

// One project per package or example. A folder with its own `vitest.config.ts` (a
// `defineProject` with, say, a globalSetup that generates a client) uses it; the rest share
// the inline settings below. A project file should spread `shared` and `sharedTest` from
// ./vitest.shared.ts, since file projects do not inherit this root config. (Vitest 4 only
// accepts project files named like `vitest.config.*`; a `vitest.project.ts` is passed on so
// that vitest says so rather than the file being silently ignored.)
const projectFile = (dir: string) =>
  ['vitest.config.ts', 'vitest.project.ts'].map((f) => `${dir}/${f}`).find((f) => existsSync(f));
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
        projectFile(dir) ?? {
          extends: true as const,
          test: {
            name: dir.split('/')[1]!,
            include: [`${dir}/src/**/*.test.ts`, `${dir}/test/**/*.test.ts`],
          },
        },
    ),
  },
});
