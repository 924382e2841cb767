import chalk from 'chalk';
import type { Ora } from 'ora';
import { isAbsolute, relative } from 'node:path';

/** What commands do with a progress line (ora's spinner, or a silent stand-in). */
export interface Progress {
  text: string;
  readonly isSpinning: boolean;
  start(): Progress;
  stop(): Progress;
  clear(): Progress;
  render(): Progress;
}

// A terminal with no width (a pty nobody sized) sends ora's line clearing into an endless loop.
const progressShown = Boolean(process.stderr.isTTY) && (process.stderr.columns ?? 0) > 0 && !process.env.CI;
// ora (and its dependencies) load only where a spinner can be shown: a terminal, not CI.
const ora = progressShown ? (await import('ora')).default : undefined;

class SilentProgress implements Progress {
  text = '';
  isSpinning = false;
  start(): this {
    this.isSpinning = true;
    return this;
  }
  stop(): this {
    this.isSpinning = false;
    return this;
  }
  clear(): this {
    return this;
  }
  render(): this {
    return this;
  }
}

/** Progress goes to stderr and only when stderr is a TTY (CI logs and pipes stay clean). */
export function spinner(text: string, opts: { quiet?: boolean } = {}): Progress {
  if (!ora || opts.quiet) return new SilentProgress();
  // discardStdin off: ora would put stdin in raw mode, which spins on a terminal whose input is gone.
  const spin: Ora = ora({ text, stream: process.stderr, discardStdin: false });
  return spin;
}

/** Write a JSON document to stdout (machines read this). */
export function printJson(value: unknown): void {
  process.stdout.write(JSON.stringify(value, null, 2) + '\n');
}

export type Cell = string | number | null | undefined;

/**
 * A plain aligned table for people. Numbers are right-aligned, and so is a whole column (header
 * included) whose cells all read as numbers ("98.35 %", "0.49 ms", "12.70x", "1,255,938").
 */
export function formatTable(headers: string[], rows: Cell[][], opts: { title?: string } = {}): string {
  const text = (c: Cell) => (c === null || c === undefined ? '-' : String(c));
  const widths = headers.map((h, i) => Math.max(visibleLength(h), ...rows.map((r) => visibleLength(text(r[i])))));
  const numericColumn = headers.map(
    (_, i) => rows.length > 0 && rows.every((r) => r[i] === null || r[i] === undefined || r[i] === '-' || r[i] === '' || looksNumeric(r[i]!)),
  );
  const pad = (s: string, w: number, right: boolean) => {
    const fill = ' '.repeat(Math.max(0, w - visibleLength(s)));
    return right ? fill + s : s + fill;
  };
  const lines: string[] = [];
  if (opts.title) lines.push(chalk.bold(opts.title));
  lines.push(headers.map((h, i) => pad(chalk.bold(h), widths[i]!, numericColumn[i]!)).join('  ').trimEnd());
  lines.push(widths.map((w) => '-'.repeat(w)).join('  '));
  for (const r of rows) {
    lines.push(r.map((c, i) => pad(text(c), widths[i]!, typeof c === 'number' || numericColumn[i]!)).join('  ').trimEnd());
  }
  return lines.join('\n');
}

function looksNumeric(c: string | number): boolean {
  return typeof c === 'number' || /^[-+]?[\d,]*\.?\d+(e[-+]?\d+)?\s*(%|x|ms|s|\/s|[KMG]?i?B)?( [~!])?$/.test(c.replace(ansi, '').trim());
}

const ansi = /\u001b\[[0-9;]*m/g;
function visibleLength(s: string): number {
  return s.replace(ansi, '').length;
}

export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 ** 2) return `${(n / 1024).toFixed(1)} KiB`;
  if (n < 1024 ** 3) return `${(n / 1024 ** 2).toFixed(1)} MiB`;
  return `${(n / 1024 ** 3).toFixed(2)} GiB`;
}

export function warn(message: string): void {
  process.stderr.write(chalk.yellow('warning: ') + message + '\n');
}

/** A path as the user would type it: relative when it is under the working directory. */
export function shownPath(path: string): string {
  const rel = relative(process.cwd(), path);
  return rel && !rel.startsWith('..') && !isAbsolute(rel) ? rel : path;
}
