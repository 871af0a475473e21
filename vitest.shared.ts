/**
 * Settings every vitest project shares. Workspace packages resolve to their TypeScript sources
 * through the `@troutbox/source` export condition, so tests need no build step.
 */
export const conditions = ['@troutbox/source', 'module', 'node', 'development|production'];

export const shared = {
  resolve: { conditions },
  ssr: { resolve: { conditions } },
};

export const sharedTest = { testTimeout: 60_000, hookTimeout: 60_000, pool: 'forks' as const };
