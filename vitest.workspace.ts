import { defineConfig } from 'vitest/config';

// Resolve workspace packages to their TypeScript sources, so tests need no build step.
const conditions = ['@troutbox/source', 'module', 'node', 'development|production'];

export default defineConfig({
  resolve: { conditions },
  ssr: { resolve: { conditions } },
  test: {
    projects: ['packages/*', 'examples/*'].map((glob) => ({
      extends: true as const,
      test: { include: [`${glob}/src/**/*.test.ts`, `${glob}/test/**/*.test.ts`], name: glob.split('/')[0] },
    })),
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: 'forks',
  },
});
