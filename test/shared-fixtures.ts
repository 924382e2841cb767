import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll } from 'vitest';
import { openSession, ort } from '../src/runtime/session.js';

/** ../shared next to the checkout: data and models that are never copied into the repository. */
export const SHARED = resolve(dirname(fileURLToPath(import.meta.url)), '../../shared');
export const SST2_MODEL_DIR = join(SHARED, 'models/sst2-bert-mini');
export const SST2_MODEL = join(SST2_MODEL_DIR, 'model.onnx');
export const SST2_DATA = join(SHARED, 'data/sst2');

/**
 * True when every file exists; otherwise warns once, naming what is skipped, so a run without
 * ../shared says which acceptance test it left out instead of passing silently.
 */
export function hasSharedFiles(skipping: string, ...paths: string[]): boolean {
  const missing = paths.filter((p) => !existsSync(p));
  if (missing.length > 0) console.warn(`../shared is absent (${missing[0]}): skipping ${skipping}`);
  return missing.length === 0;
}

/** A fresh temporary folder for one describe block, removed after it. */
export function useTempDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** Logits [n, 2] of every sentence, run one at a time (batch 1, no padding), as deployed. */
export async function sst2Logits(path: string, encoded: Array<{ ids: number[] }>): Promise<Float32Array> {
  const { session } = await openSession(path, { threads: 2 });
  const out = new Float32Array(encoded.length * 2);
  for (let i = 0; i < encoded.length; i++) {
    const ids = encoded[i]!.ids;
    const L = ids.length;
    const r = await session.run({
      input_ids: new ort.Tensor('int64', BigInt64Array.from(ids, BigInt), [1, L]),
      attention_mask: new ort.Tensor('int64', new BigInt64Array(L).fill(1n), [1, L]),
      token_type_ids: new ort.Tensor('int64', new BigInt64Array(L), [1, L]),
    });
    out.set(r.logits!.data as Float32Array, i * 2);
  }
  await session.release();
  return out;
}
