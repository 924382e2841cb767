import type { Command } from 'commander';
import * as inspect from './inspect.js';
import * as quantize from './quantize.js';
import * as evaluate from './eval.js';
import * as bench from './bench.js';
import * as distill from './distill.js';
import * as train from './train.js';
import * as demo from './demo.js';

/**
 * Every subcommand lives in its own file under src/cli/ and exports `register(program)`.
 * This list is the only place that knows them all.
 */
export function registerCommands(program: Command): void {
  for (const mod of [inspect, quantize, evaluate, bench, distill, train, demo]) mod.register(program);
}
