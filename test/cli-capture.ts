import { vi } from 'vitest';
import { main } from '../src/cli/main.js';

const ANSI = /\u001b\[[0-9;]*m/g;

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs the CLI in process; returns the exit code and what it printed, colours stripped. */
export async function cli(...args: string[]): Promise<CliResult> {
  let stdout = '';
  let stderr = '';
  const out = vi.spyOn(process.stdout, 'write').mockImplementation((s: string | Uint8Array) => ((stdout += String(s)), true));
  const err = vi.spyOn(process.stderr, 'write').mockImplementation((s: string | Uint8Array) => ((stderr += String(s)), true));
  try {
    const code = await main(['node', 'distillery', ...args]);
    return { code, stdout: stdout.replace(ANSI, ''), stderr: stderr.replace(ANSI, '') };
  } finally {
    out.mockRestore();
    err.mockRestore();
    process.exitCode = undefined;
  }
}
