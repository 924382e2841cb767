/**
 * The JSONL training log: one JSON object per line, written as it happens (a `start` line
 * with the settings, a `step` line per optimizer step, `eval` lines, then `end` or `diverged`
 * / `interrupted`). A resumed run appends to the same file.
 */
import { closeSync, openSync, writeSync } from 'node:fs';
import { UserError } from '../errors.js';

export type LogRecord = { type: string } & Record<string, unknown>;

export class JsonlLog {
  private fd: number | undefined;

  private constructor(
    readonly path: string,
    fd: number,
  ) {
    this.fd = fd;
  }

  /** Opens the log: appended to when `append`, else created (or truncated). */
  static open(path: string, opts: { append: boolean }): JsonlLog {
    try {
      return new JsonlLog(path, openSync(path, opts.append ? 'a' : 'w'));
    } catch (e) {
      throw new UserError(`${path}: cannot write the training log (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
    }
  }

  write(record: LogRecord): void {
    if (this.fd === undefined) return;
    writeSync(this.fd, JSON.stringify({ ...record, time: new Date().toISOString() }, finiteOrString) + '\n');
  }

  close(): void {
    if (this.fd === undefined) return;
    closeSync(this.fd);
    this.fd = undefined;
  }
}

/** JSON has no NaN/Infinity: write them as strings so a diverged step still parses. */
function finiteOrString(_key: string, value: unknown): unknown {
  return typeof value === 'number' && !Number.isFinite(value) ? String(value) : value;
}
