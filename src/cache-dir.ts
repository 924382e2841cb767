import { mkdirSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';

/**
 * Where onnx-distillery keeps derived data it can rebuild (teacher logits, demo data splits):
 * $DISTILLERY_CACHE_DIR, else $XDG_CACHE_HOME/onnx-distillery, else ~/.cache/onnx-distillery.
 */
export function cacheDir(...parts: string[]): string {
  const root =
    process.env.DISTILLERY_CACHE_DIR ||
    join(process.env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'onnx-distillery');
  const dir = join(root, ...parts);
  mkdirSync(dir, { recursive: true });
  return dir;
}
