#!/usr/bin/env node
import { main } from './main.js';

// An exit code, not process.exit(): stdout is flushed and the pools are closed first.
process.exitCode = await main(process.argv.slice(2));
