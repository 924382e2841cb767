import { createRequire } from 'node:module';
import type * as Commander from 'commander';

// commander is CommonJS: required, not imported, because Node first scans a CommonJS file that
// ESM imports for its export names (see src/onnx/proto.ts); `distillery --version` 0.50 -> 0.40 s.
const commander = createRequire(import.meta.url)('commander') as typeof Commander;

export const { Command, CommanderError, InvalidArgumentError } = commander;
export type Command = Commander.Command;
