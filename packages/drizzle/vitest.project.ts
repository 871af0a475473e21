import { defineProject } from 'vitest/config';
import { shared, sharedTest } from '../../vitest.shared.js';

// The shared settings, plus vitest's typecheck mode for the type tests (`*.test-d.ts`). With
// this file the package also runs alone: `npx vitest run --config packages/drizzle/vitest.project.ts`.
export default defineProject({
  ...shared,
  test: {
    ...sharedTest,
    name: 'drizzle',
    include: ['packages/drizzle/src/**/*.test.ts'],
    typecheck: {
      enabled: true,
      include: ['packages/drizzle/src/**/*.test-d.ts'],
      tsconfig: 'packages/drizzle/tsconfig.json',
    },
  },
});
