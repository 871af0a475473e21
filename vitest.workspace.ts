import { existsSync, readdirSync } from 'node:fs';
import { defineConfig } from 'vitest/config';

// Resolve workspace packages to their TypeScript sources, so tests need no build step.
const conditions = ['@troutbox/source', 'module', 'node', 'development|production'];

// One project per package or example. A folder with its own `vitest.project.ts` (a
// `defineProject` with, say, a globalSetup that generates a client) uses it; the rest share
// the inline settings below.
const folders = ['packages', 'examples'].flatMap((root) =>
  readdirSync(root, { withFileTypes: true })
    .filter((d) => d.isDirectory())
    .map((d) => `${root}/${d.name}`),
);

export default defineConfig({
  resolve: { conditions },
  ssr: { resolve: { conditions } },
  test: {
    projects: folders.map((dir) =>
      existsSync(`${dir}/vitest.project.ts`)
        ? `${dir}/vitest.project.ts`
        : {
            extends: true as const,
            test: { name: dir.split('/')[1]!, include: [`${dir}/src/**/*.test.ts`, `${dir}/test/**/*.test.ts`] },
          },
    ),
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: 'forks',
  },
});
