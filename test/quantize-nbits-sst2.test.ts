import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { writeTransformersFolder } from '../src/publish/transformers-folder.js';
import { SST2_DATA, SST2_MODEL as MODEL, hasSharedFiles, useTempDir } from './shared-fixtures.js';

const DATA = join(SST2_DATA, 'validation.tsv');
const hasShared = hasSharedFiles('the SST-2 q4/fp16 acceptance test (real exporter graph, 872 sentences)', MODEL, DATA);

describe.skipIf(!hasShared)('sst2-bert-mini as q4, fp16 and q4f16 (PyTorch exporter graph: decomposed LayerNorm, -10000 mask, Erf GELU)', () => {
  const dir = useTempDir('nbits-sst2-');

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
