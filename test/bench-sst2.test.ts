// bench on the project's real teacher (../shared/models/sst2-bert-mini), synthetic and real inputs.
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { benchModels } from '../src/bench/index.js';

const SHARED = resolve(import.meta.dirname, '../../shared');
const model = resolve(SHARED, 'models/sst2-bert-mini/model.onnx');
const data = resolve(SHARED, 'data/sst2/validation.tsv');
const hasShared = existsSync(model) && existsSync(data);
if (!hasShared) console.warn('bench-sst2: ../shared is absent; skipping the sst2-bert-mini benchmark tests');

describe.skipIf(!hasShared)('bench sst2-bert-mini', () => {
  it('benchmarks batch 1 / seq 64 with BERT-like synthetic ids, all nodes on CPU', async () => {
    const r = await benchModels([model], { seqLens: [64], warmup: 3, iterations: 20 });
    expect(r.models[0]).toMatchObject({ label: 'sst2-bert-mini', vocabSize: 30522, weightKind: 'fp32', parameters: 11056386, fileBytes: 44318226 });
    expect(Object.keys(r.models[0]!.placement!.byProvider)).toEqual(['CPUExecutionProvider']);
    expect(r.runs).toHaveLength(1);
    expect(r.runs[0]).toMatchObject({ batchSize: 1, seqLen: 64, tokensPerBatch: 64 });
    expect(r.runs[0]!.latencyMs.count).toBe(20);
    await expect(benchModels([model], { seqLens: [128], iterations: 1 })).rejects.toThrow(/--seq-len 128 is longer than the model's 64 positions/);
  }, 60_000);

  it('feeds real sentences through the tokenizer next to the model', async () => {
    const r = await benchModels([model], { data, batchSizes: [4], warmup: 1, iterations: 3, placement: false });
    const run = r.runs[0]!;
    expect(r.settings.inputs).toBe('data');
    // Padded to the longest of the first four dev sentences; tokens count only real ones.
    expect(run.seqLen).toBeGreaterThan(5);
    expect(run.seqLen).toBeLessThanOrEqual(64);
    expect(run.tokensPerBatch).toBeLessThan(4 * run.seqLen!);
    const fixed = await benchModels([model], { data, batchSizes: [2], seqLens: [32], warmup: 0, iterations: 2, placement: false });
    expect(fixed.runs[0]).toMatchObject({ batchSize: 2, seqLen: 32 });
  }, 60_000);
});
