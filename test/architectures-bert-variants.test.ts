import { describe, expect, it } from 'vitest';
import * as ort from 'onnxruntime-node';
import { buildBertClassifier, defaultBertConfig, type BertBuildOptions } from '../src/architectures/bert.js';
import { checkModel, encodeModel } from '../src/onnx/index.js';

const tiny = { ...defaultBertConfig, vocabSize: 50, numLabels: 3, hiddenSize: 16, numHeads: 2, intermediateSize: 32, numLayers: 2, maxPositions: 16 };

function feeds(inputs: 2 | 3, batch: number, seq: number) {
  const ids = BigInt64Array.from({ length: batch * seq }, (_, i) => BigInt(1 + ((i * 7) % 49)));
  const mask = new BigInt64Array(batch * seq).fill(1n);
  mask[seq - 1] = 0n;
  const f: Record<string, ort.Tensor> = {
    input_ids: new ort.Tensor('int64', ids, [batch, seq]),
    attention_mask: new ort.Tensor('int64', mask, [batch, seq]),
  };
  if (inputs === 3) f.token_type_ids = new ort.Tensor('int64', new BigInt64Array(batch * seq), [batch, seq]);
  return f;
}

async function logits(opts: BertBuildOptions) {
  const model = buildBertClassifier(tiny, { seed: 1, ...opts });
  expect(checkModel(model)).toEqual([]);
  const session = await ort.InferenceSession.create(encodeModel(model));
  const out = await session.run(feeds(opts.inputs ?? 3, 2, 5));
  expect(out.logits!.dims).toEqual([2, 3]);
  return out.logits!.data as Float32Array;
}

describe('builder variants', () => {
  const variants: BertBuildOptions[] = [
    { layerNorm: 'decomposed', opset: 14 },
    { layerNorm: 'decomposed', opset: 18 },
    { norm: 'pre' },
    { inputs: 2, pooling: 'mean' },
    { norm: 'pre', inputs: 2, pooling: 'mean', layerNorm: 'decomposed', opset: 13 },
  ];
  for (const v of variants) {
    it(`builds a valid graph that runs: ${JSON.stringify(v)}`, async () => {
      const l = await logits(v);
      expect([...l].every(Number.isFinite)).toBe(true);
    });
  }

  it('decomposed LayerNorm computes what the LayerNormalization op computes', async () => {
    const a = await logits({});
    const b = await logits({ layerNorm: 'decomposed', opset: 14 });
    for (let i = 0; i < a.length; i++) expect(b[i]).toBeCloseTo(a[i]!, 4);
  });

  it('writes the decomposed LayerNorm as PyTorch does (no LayerNormalization, Constant-node scalars)', () => {
    const model = buildBertClassifier(tiny, { layerNorm: 'decomposed', opset: 14 });
    const ops = model.graph!.node!.map((n) => n.opType);
    expect(ops).not.toContain('LayerNormalization');
    expect(ops.filter((o) => o === 'Sqrt')).toHaveLength(1 + 2 * tiny.numLayers);
    expect(ops).toContain('Constant');
  });

  it('refuses the LayerNormalization op below opset 17', () => {
    expect(() => buildBertClassifier(tiny, { opset: 14 })).toThrow(/opset 17/);
  });
});
