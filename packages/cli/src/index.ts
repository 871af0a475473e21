/**
 * The `troutbox` command line, also usable in-process: `main(argv, io)` runs one command and
 * returns its exit code.
 *
 * @example
 * ```ts
 * import { main } from 'troutbox';
 * const code = await main(['status', '--json', '--url', 'postgres://localhost/app']);
 * ```
 * @packageDocumentation
 */
export { CliError, type CliErrorCode, exitCodes } from './cli-error.js';
export type { CommandSpec, OptionSpec } from './command.js';
export { type DatabaseSystem, type DatabaseTarget, parseDatabaseUrl } from './connection.js';
export type { CliIO, InputStream, OutputStream } from './io.js';
export { commands, main } from './main.js';
export type { MaintenanceReport, PartitionInfo, PartitionReport, PartitionSource } from './partitions.js';
