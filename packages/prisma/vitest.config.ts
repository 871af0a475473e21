import { fileURLToPath } from 'node:url';
import { defineProject } from 'vitest/config';
import { shared, sharedTest } from '../../vitest.shared.js';

// Own project file (found by ../../vitest.workspace.ts) for the globalSetup that generates the Prisma test client.
export default defineProject({
  ...shared,
  test: {
    ...sharedTest,
    name: 'prisma',
    root: fileURLToPath(new URL('.', import.meta.url)),
    include: ['src/**/*.test.ts', 'test/**/*.test.ts'],
    globalSetup: ['test/global-setup.ts'],
  },
});
