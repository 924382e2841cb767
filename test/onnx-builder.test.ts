import { describe, expect, it } from 'vitest';
import * as ort from 'onnxruntime-node';
import { buildBertClassifier, defaultBertConfig } from '../src/architectures/bert.js';
import { checkModel, encodeModel, decodeModel, GraphBuilder, DataType, topologicalSort, modelStats } from '../src/onnx/index.js';

const tiny = { ...defaultBertConfig, vocabSize: 50, numLabels: 3, hiddenSize: 16, numHeads: 2, intermediateSize: 32, numLayers: 2, maxPositions: 16 };

function feeds(batch: number, seq: number) {
  const ids = BigInt64Array.from({ length: batch * seq }, (_, i) => BigInt(1 + (i * 7) % 49));
  const mask = new BigInt64Array(batch * seq).fill(1n);
  mask[seq - 1] = 0n;
  return {
    input_ids: new ort.Tensor('int64', ids, [batch, seq]),
    attention_mask: new ort.Tensor('int64', mask, [batch, seq]),
    token_type_ids: new ort.Tensor('int64', new BigInt64Array(batch * seq), [batch, seq]),
  };
}

describe('graph builder', () => {
  it('builds a BERT classifier that is valid ONNX and runs in onnxruntime', async () => {
    const model = buildBertClassifier(tiny, { seed: 1 });
    expect(checkModel(model)).toEqual([]);
    const session = await ort.InferenceSession.create(encodeModel(model));
    const out = await session.run(feeds(2, 5));
    expect(out.logits!.dims).toEqual([2, 3]);
    expect([...(out.logits!.data as Float32Array)].every(Number.isFinite)).toBe(true);
    const stats = modelStats(model);
    // word + pos + type + LN, per layer 4 HxH + 2 FFN + biases + 2 LN, pooler, classifier.
    const H = 16, F = 32;
    const expected = 50 * H + 16 * H + 2 * H + 2 * H + 2 * (4 * (H * H + H) + (H * F + F) + (F * H + H) + 4 * H) + (H * H + H) + (3 * H + 3);
    expect(stats.parameters).toBe(expected);
  });

  it('is deterministic for a seed and differs across seeds', () => {
    const a = encodeModel(buildBertClassifier(tiny, { seed: 3 }));
    const b = encodeModel(buildBertClassifier(tiny, { seed: 3 }));
    const c = encodeModel(buildBertClassifier(tiny, { seed: 4 }));
    expect(Buffer.compare(Buffer.from(a), Buffer.from(b))).toBe(0);
    expect(Buffer.compare(Buffer.from(a), Buffer.from(c))).not.toBe(0);
  });

  it('hands out unique names and the checker catches broken graphs', () => {
    const b = new GraphBuilder({ opset: 17 });
    const x = b.input('x', DataType.FLOAT, [2]);
    const y1 = b.op('Relu', [x]);
    const y2 = b.op('Relu', [x]);
    expect(y1).not.toBe(y2);
    b.node('Add', [y1, y2], { outputs: ['y'] });
    b.output('y');
    const model = b.build();
    expect(checkModel(model)).toEqual([]);
    // Out of order: the checker reports it, topologicalSort repairs it.
    model.graph!.node!.reverse();
    expect(checkModel(model).join('\n')).toMatch(/not defined before this node/);
    model.graph!.node = topologicalSort(model.graph!);
    expect(checkModel(model)).toEqual([]);
    // Undeclared input and missing opset import.
    model.graph!.node!.push({ opType: 'Neg', input: ['nope'], output: ['z'], name: 'neg', domain: 'com.example' });
    const problems = checkModel(model).join('\n');
    expect(problems).toMatch(/"nope" is not defined/);
    expect(problems).toMatch(/domain "com.example" is not in opset_import/);
  });

  it('round-trips through encode/decode', () => {
    const model = buildBertClassifier(tiny, { seed: 2 });
    const bytes = encodeModel(model);
    const again = encodeModel(decodeModel(bytes));
    expect(Buffer.compare(Buffer.from(bytes), Buffer.from(again))).toBe(0);
  });
});
