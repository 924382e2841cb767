import { InvalidArgumentError } from './commander.js';

/** The same --threads in every command: 0 (or no flag) lets onnxruntime choose, one thread per core. */
export const threadsHelp = 'onnxruntime intra-op threads (0 or omitted: onnxruntime chooses, one per core)';

/** Parses --threads: a non-negative integer; 0 becomes undefined (onnxruntime's choice). */
export function parseThreads(value: string): number | undefined {
  const n = Number(value);
  if (value.trim() === '' || !Number.isInteger(n) || n < 0) throw new InvalidArgumentError('--threads must be a non-negative integer (0: one per core)');
  return n === 0 ? undefined : n;
}
