import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { writeTransformersFolder } from '../src/publish/transformers-folder.js';

const SHARED = resolve(dirname(fileURLToPath(import.meta.url)), '../../shared');
const MODEL = join(SHARED, 'models/sst2-bert-mini/model.onnx');
const DATA = join(SHARED, 'data/sst2/validation.tsv');
const hasShared = existsSync(MODEL) && existsSync(DATA);
if (!hasShared) console.warn('../shared is absent: skipping the SST-2 q4/fp16 acceptance test (real exporter graph, 872 sentences)');

describe.skipIf(!hasShared)('sst2-bert-mini as q4, fp16 and q4f16 (PyTorch exporter graph: decomposed LayerNorm, -10000 mask, Erf GELU)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'nbits-sst2-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('q4 (block 32, symmetric, 4-bit embeddings): <= 0.18 of the size, <= 1.5 points lost; fp16: <= 0.51, <= 0.1 point', async () => {
    const report = await writeTransformersFolder(MODEL, join(dir, 'sst2'), { dtypes: ['q4', 'fp16', 'q4f16'], evalData: DATA, latency: false, threads: 2 });
    const [q4, fp16, q4f16] = report.files;
    expect(report.eval!.examples).toBe(872);
    expect(q4!.quantizedTensors).toBe(27); // 24 encoder MatMuls, pooler, word and position tables
    expect(q4!.ratio).toBeLessThanOrEqual(0.18);
    expect(q4!.dropPoints!).toBeLessThanOrEqual(1.5);
    expect(fp16!.ratio).toBeLessThanOrEqual(0.51);
    expect(fp16!.dropPoints!).toBeLessThanOrEqual(0.1);
    expect(q4f16!.ratio).toBeLessThan(q4!.ratio);
    expect(q4f16!.dropPoints!).toBeLessThanOrEqual(1.5);
  }, 300_000);
});
