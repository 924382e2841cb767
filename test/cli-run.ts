// Runs the CLI in process (fast) or as a child process (signals, exit status), for the tests of
// user-facing failures. Child processes run the compiled CLI: `distBuilt` says whether dist/ is
// there and not older than the sources it needs.
import { spawn } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { vi } from 'vitest';
import { main } from '../src/cli/main.js';

export const repoRoot = resolve(import.meta.dirname, '..');
export const fixtures = join(repoRoot, 'fixtures');
const ansi = /\u001b\[[0-9;]*m/g;

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `distillery ...args` in this process; returns exit code and what it printed. */
export async function cli(...args: string[]): Promise<CliResult> {
  let stdout = '';
  let stderr = '';
  const out = vi.spyOn(process.stdout, 'write').mockImplementation((s: string | Uint8Array) => ((stdout += String(s)), true));
  const err = vi.spyOn(process.stderr, 'write').mockImplementation((s: string | Uint8Array) => ((stderr += String(s)), true));
  try {
    const code = await main(['node', 'distillery', ...args]);
    return { code, stdout: stdout.replace(ansi, ''), stderr: stderr.replace(ansi, '') };
  } finally {
    out.mockRestore();
    err.mockRestore();
    process.exitCode = undefined;
  }
}

function newestMtime(dir: string): number {
  let newest = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    newest = Math.max(newest, e.isDirectory() ? newestMtime(p) : statSync(p).mtimeMs);
  }
  return newest;
}

/** dist/ holds a build at least as new as every source file (else spawned-CLI tests skip). */
export const distBuilt =
  existsSync(join(repoRoot, 'dist/src/cli/main.js')) && statSync(join(repoRoot, 'dist/src/cli/main.js')).mtimeMs >= newestMtime(join(repoRoot, 'src')) - 1;
if (!distBuilt) console.warn('dist/ is missing or older than src/: the tests that spawn the CLI skip (run `npm run build`)');

export interface SpawnedResult extends CliResult {
  code: number;
  signal: NodeJS.Signals | null;
}

/**
 * Runs the compiled CLI as a child process. `onStart` gets the child (to send it signals);
 * resolves when it exits.
 */
export function spawnCli(args: string[], onStart?: (child: ReturnType<typeof spawn>) => void, cwd = repoRoot): Promise<SpawnedResult> {
  return spawnNode([join(repoRoot, 'bin/distillery.js'), ...args], onStart, cwd);
}

export function spawnNode(args: string[], onStart?: (child: ReturnType<typeof spawn>) => void, cwd = repoRoot): Promise<SpawnedResult> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(process.execPath, args, { cwd, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, NO_COLOR: '1' } });
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (d) => (stdout += d));
    child.stderr!.on('data', (d) => (stderr += d));
    child.on('error', reject);
    child.on('exit', (code, signal) => resolvePromise({ code: code ?? -1, signal, stdout: stdout.replace(ansi, ''), stderr: stderr.replace(ansi, '') }));
    onStart?.(child);
  });
}
