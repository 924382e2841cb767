import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The onnx-distillery package folder (works from src/ under vitest and from dist/ when built). */
export function packageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const pkg = join(dir, 'package.json');
    if (existsSync(pkg) && (JSON.parse(readFileSync(pkg, 'utf8')) as { name?: string }).name === 'onnx-distillery') return dir;
    const up = dirname(dir);
    if (up === dir) throw new Error('cannot find the onnx-distillery package folder');
    dir = up;
  }
}
