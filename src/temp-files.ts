import { unlinkSync } from 'node:fs';

/**
 * Temporary files being written right now (model writes go to `<out>.<hex>.tmp`, then are
 * renamed). Without this, Ctrl-C or SIGTERM during a long write kills the process with the
 * temporary file left behind; with a file registered, those signals remove it first and then
 * end the process as the signal would have.
 */
const live = new Set<string>();
const signals = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;

function removeAll(): void {
  for (const path of live) {
    try {
      unlinkSync(path);
    } catch {
      // already renamed into place or never created
    }
  }
  live.clear();
}

function onSignal(signal: NodeJS.Signals): void {
  removeAll();
  detach();
  // Other listeners (a training loop's graceful stop) would keep the process alive: a write
  // that was interrupted ends the process, with the signal's own exit status.
  process.removeAllListeners(signal);
  process.kill(process.pid, signal);
}

function attach(): void {
  for (const s of signals) process.on(s, onSignal);
  process.on('exit', removeAll);
}

function detach(): void {
  for (const s of signals) process.off(s, onSignal);
  process.off('exit', removeAll);
}

/** Registers a temporary file; call the returned function once it is renamed or removed. */
export function trackTempFile(path: string): () => void {
  if (live.size === 0) attach();
  live.add(path);
  return () => {
    if (!live.delete(path)) return;
    if (live.size === 0) detach();
  };
}

/** The temporary files registered now (for tests). */
export function liveTempFiles(): string[] {
  return [...live];
}
