/**
 * Test helpers for troutbox adapters: the conformance suite every store and executor pair must
 * pass, a recording sender, and condition waits. Needs `vitest`.
 * @packageDocumentation
 */
export { type ConformanceHarness, runConformanceSuite } from './conformance.js';
export { type RecordingSender, recordingSender } from './recording-sender.js';
export { uniqueName, waitFor } from './wait.js';
