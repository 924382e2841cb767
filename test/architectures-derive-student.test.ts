import { existsSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import * as ort from 'onnxruntime-node';
import { buildBertClassifier, defaultBertConfig, type BertBuildOptions } from '../src/architectures/bert.js';
import { deriveStudent, parseStudentLayers, spreadLayers } from '../src/architectures/derive-student.js';
import { findEncoderStructure } from '../src/architectures/encoder-structure.js';
import { checkModel, encodeModel, loadModel, tensorToArray, type ModelProto } from '../src/onnx/index.js';

const tiny = { ...defaultBertConfig, vocabSize: 50, numLabels: 3, hiddenSize: 16, numHeads: 2, intermediateSize: 32, numLayers: 4, maxPositions: 16 };

function feeds(model: ModelProto, batch = 2, seq = 6) {
  const ids = BigInt64Array.from({ length: batch * seq }, (_, i) => BigInt(1 + ((i * 7) % 49)));
  const mask = new BigInt64Array(batch * seq).fill(1n);
  mask[seq - 1] = 0n;
  mask[seq - 2] = 0n;
  const f: Record<string, ort.Tensor> = {
    input_ids: new ort.Tensor('int64', ids, [batch, seq]),
    attention_mask: new ort.Tensor('int64', mask, [batch, seq]),
  };
  if (model.graph!.input!.some((i) => i.name === 'token_type_ids')) f.token_type_ids = new ort.Tensor('int64', new BigInt64Array(batch * seq), [batch, seq]);
  return f;
}

async function run(model: ModelProto) {
  const session = await ort.InferenceSession.create(encodeModel(model));
  const out = await session.run(feeds(model));
  await session.release();
  return out.logits!.data as Float32Array;
}

const families: Array<[string, BertBuildOptions]> = [
  ['post-LN op', {}],
  ['post-LN decomposed opset 14', { layerNorm: 'decomposed', opset: 14 }],
  ['pre-LN op, 2 inputs, mean pooling', { norm: 'pre', inputs: 2, pooling: 'mean' }],
];

describe('spreadLayers / parseStudentLayers', () => {
  it("spreads evenly with first and last kept (DistilBERT's choice for 6 of 12)", () => {
    expect(spreadLayers(12, 6)).toEqual([0, 2, 4, 7, 9, 11]);
    expect(spreadLayers(4, 2)).toEqual([0, 3]);
    expect(spreadLayers(4, 4)).toEqual([0, 1, 2, 3]);
    expect(spreadLayers(4, 1)).toEqual([0]);
    expect(() => spreadLayers(4, 5)).toThrow(/has 4 layer/);
  });
  it('parses a count or a list', () => {
    expect(parseStudentLayers('2')).toBe(2);
    expect(parseStudentLayers('0,3')).toEqual([0, 3]);
    expect(parseStudentLayers('3,')).toEqual([3]);
    expect(() => parseStudentLayers('two')).toThrow(/layer count/);
    expect(() => parseStudentLayers('0')).toThrow(/layer count/);
  });
});

describe('deriveStudent', () => {
  for (const [name, opts] of families) {
    it(`keeping every layer gives the teacher's logits (${name})`, async () => {
      const teacher = buildBertClassifier(tiny, { seed: 3, ...opts });
      const before = encodeModel(teacher);
      const d = deriveStudent(teacher, { layers: 4 });
      expect(d.keptLayers).toEqual([0, 1, 2, 3]);
      expect(checkModel(d.model)).toEqual([]);
      expect([...(await run(d.model))]).toEqual([...(await run(teacher))]);
      // The teacher is left as it was.
      expect(Buffer.compare(Buffer.from(encodeModel(teacher)), Buffer.from(before))).toBe(0);
    });

    it(`2 of 4 layers: valid, runs, weights bit for bit, blocks rewired (${name})`, async () => {
      const teacher = buildBertClassifier(tiny, { seed: 3, ...opts });
      const d = deriveStudent(teacher, { layers: [1, 3] });
      expect(d.configChanges).toEqual({ num_hidden_layers: 2 });
      expect(checkModel(d.model)).toEqual([]);
      const logits = await run(d.model);
      expect(logits).toHaveLength(6);
      expect([...logits].every(Number.isFinite)).toBe(true);
      const teacherWeights = new Map(teacher.graph!.initializer!.map((t) => [t.name!, t]));
      const names = d.model.graph!.initializer!.map((t) => t.name!);
      for (const t of d.model.graph!.initializer!) {
        const a = tensorToArray(t);
        const b = tensorToArray(teacherWeights.get(t.name!)!);
        expect(Buffer.compare(Buffer.from(a.buffer, a.byteOffset, a.byteLength), Buffer.from(b.buffer, b.byteOffset, b.byteLength))).toBe(0);
      }
      expect(names.some((n) => n.startsWith('bert.encoder.layer.0.') || n.startsWith('bert.encoder.layer.2.'))).toBe(false);
      expect(names.filter((n) => n.startsWith('bert.encoder.layer.1.') || n.startsWith('bert.encoder.layer.3.'))).toHaveLength(32);
      // The student's own structure: 2 blocks, the first reading the embeddings.
      const s = findEncoderStructure(d.model);
      expect(s.layers).toHaveLength(2);
      expect(s.embeddingOutput).toBe(d.structure.embeddingOutput);
      expect(s.layers[1]!.output).toBe(d.structure.layers[3]!.output);
    });
  }

  it('matches an independent reference: a 1-layer teacher built with the same weights as block 2', async () => {
    // Keeping only layer 2 of a 4-layer teacher equals a 1-layer model whose layer 0 holds layer 2's weights.
    const teacher = buildBertClassifier(tiny, { seed: 5 });
    const d = deriveStudent(teacher, { layers: [2] });
    const reference = buildBertClassifier({ ...tiny, numLayers: 1 }, { seed: 0 });
    const weights = new Map(teacher.graph!.initializer!.map((t) => [t.name!, t]));
    reference.graph!.initializer = reference.graph!.initializer!.map((t) => {
      const from = t.name!.replace('bert.encoder.layer.0.', 'bert.encoder.layer.2.');
      return { ...weights.get(from)!, name: t.name };
    });
    const a = await run(d.model);
    const b = await run(reference);
    for (let i = 0; i < a.length; i++) expect(a[i]).toBeCloseTo(b[i]!, 5);
  });

  it('refuses layers that do not exist or are out of order', () => {
    const teacher = buildBertClassifier(tiny, { seed: 3 });
    expect(() => deriveStudent(teacher, { layers: [0, 4] })).toThrow(/layer 4 does not exist \(the teacher has layers 0-3\)/);
    expect(() => deriveStudent(teacher, { layers: [2, 1] })).toThrow(/increasing order/);
  });
});

const shared = new URL('../../shared/models/sst2-bert-mini/model.onnx', import.meta.url).pathname;
describe.skipIf(!existsSync(shared))('deriveStudent on sst2-bert-mini (../shared)', () => {
  it('2 of 4 PyTorch-exported blocks: valid and runs', async () => {
    const d = deriveStudent(await loadModel(shared), { layers: 2 });
    expect(d.keptLayers).toEqual([0, 3]);
    expect(checkModel(d.model)).toEqual([]);
    expect(findEncoderStructure(d.model).layers).toHaveLength(2);
    expect([...(await run(d.model))].every(Number.isFinite)).toBe(true);
  });
});
