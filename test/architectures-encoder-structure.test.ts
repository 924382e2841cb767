import { existsSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { buildBertClassifier, defaultBertConfig, type BertBuildOptions } from '../src/architectures/bert.js';
import { findEncoderStructure } from '../src/architectures/encoder-structure.js';
import { GraphBuilder, DataType, loadModel } from '../src/onnx/index.js';
import { UserError } from '../src/errors.js';

const tiny = { ...defaultBertConfig, vocabSize: 50, numLabels: 3, hiddenSize: 16, numHeads: 2, intermediateSize: 32, numLayers: 3, maxPositions: 16 };

const families: Array<[string, BertBuildOptions]> = [
  ['builder default (post-LN, LayerNormalization op, 3 inputs, pooler)', {}],
  ['post-LN, decomposed LayerNorm, opset 14 (PyTorch export)', { layerNorm: 'decomposed', opset: 14 }],
  ['pre-LN, LayerNormalization op, opset 17, 2 inputs, CLS pooler', { norm: 'pre', inputs: 2 }],
  ['pre-LN, LayerNormalization op, opset 17, 2 inputs, mean pooling', { norm: 'pre', inputs: 2, pooling: 'mean' }],
  ['post-LN, 2 inputs, mean pooling, decomposed at opset 18', { inputs: 2, pooling: 'mean', layerNorm: 'decomposed', opset: 18 }],
  ['pre-LN, decomposed LayerNorm, opset 13', { norm: 'pre', layerNorm: 'decomposed', opset: 13 }],
];

describe('findEncoderStructure', () => {
  for (const [name, opts] of families) {
    it(`finds every block: ${name}`, () => {
      const model = buildBertClassifier(tiny, { seed: 1, ...opts });
      const s = findEncoderStructure(model);
      const nodes = new Map(model.graph!.node!.map((n) => [n.name!, n]));
      const producer = new Map(model.graph!.node!.flatMap((n) => n.output!.map((o) => [o, n] as const)));
      expect(s.layers).toHaveLength(tiny.numLayers);
      expect(s.hiddenSize).toBe(16);
      expect(s.numHeads).toBe(2);
      expect(s.norm).toBe(opts.norm ?? 'post');
      if (s.norm === 'pre') expect(producer.get(s.finalNorm!)).toBeDefined();
      else expect(s.finalNorm).toBeUndefined();
      s.layers.forEach((layer, i) => {
        expect(layer.index).toBe(i);
        expect(layer.input).toBe(i === 0 ? s.embeddingOutput : s.layers[i - 1]!.output);
        expect(producer.get(layer.attentionProbs)!.opType).toBe('Softmax');
        expect(layer.nodes.includes(producer.get(layer.attentionProbs)!.name!)).toBe(true);
        expect(layer.nodes.includes(producer.get(layer.output)!.name!)).toBe(true);
        // The block's weights are this layer's and no other's (the builder names them by layer).
        const weights = layer.initializers.filter((w) => w.startsWith('bert.'));
        expect(weights.length).toBe(16);
        expect(weights.every((w) => w.startsWith(`bert.encoder.layer.${i}.`))).toBe(true);
        for (const n of layer.nodes) expect(nodes.has(n)).toBe(true);
      });
      // No node belongs to two blocks; the attention mask is shared, in none.
      const all = s.layers.flatMap((l) => l.nodes);
      expect(new Set(all).size).toBe(all.length);
      const maskCast = model.graph!.node!.find((n) => n.opType === 'Cast')!;
      expect(all).not.toContain(maskCast.name);
      // hidden_states[0]: post-LN the embedding LayerNorm's output, pre-LN the embedding sum.
      expect(producer.get(s.embeddingOutput)!.opType).toBe(s.norm === 'post' && opts.layerNorm !== 'decomposed' ? 'LayerNormalization' : 'Add');
    });
  }

  it('names unnamed nodes so blocks can list them', () => {
    const model = buildBertClassifier(tiny, { seed: 1 });
    for (const n of model.graph!.node!) n.name = '';
    const s = findEncoderStructure(model);
    expect(s.layers[0]!.nodes.every((n) => n.length > 0)).toBe(true);
    const names = model.graph!.node!.map((n) => n.name);
    expect(new Set(names).size).toBe(names.length);
  });

  it('says what it found when there are no blocks', () => {
    const b = new GraphBuilder({ opset: 17 });
    const x = b.input('x', DataType.FLOAT, [2, 4]);
    b.node('Softmax', [b.op('MatMul', [x, b.constant(new Float32Array(16), [4, 4])])], { outputs: ['y'] });
    b.output('y');
    const run = () => findEncoderStructure(b.build(), 'tiny.onnx');
    expect(run).toThrow(UserError);
    expect(run).toThrow(/tiny\.onnx: found 1 Softmax node\(s\), 0 LayerNorm\(s\), 1 MatMul\/Gemm node\(s\), but no residual stream/);
    const none = new GraphBuilder({ opset: 17 });
    none.node('Relu', [none.input('x', DataType.FLOAT, [2])], { outputs: ['y'] });
    none.output('y');
    expect(() => findEncoderStructure(none.build(), 'relu.onnx')).toThrow(/relu\.onnx: no attention found \(found 0 Softmax/);
  });
});

const shared = new URL('../../shared/models/', import.meta.url).pathname;
const haveShared = existsSync(`${shared}sst2-bert-mini/model.onnx`);
if (!haveShared) console.warn(`skipping the PyTorch-export structure tests: ${shared} is absent`);

describe.skipIf(!haveShared)('findEncoderStructure on PyTorch exports (../shared)', () => {
  it('sst2-bert-mini: 4 post-LN blocks with decomposed LayerNorm and renamed MatMul weights', async () => {
    const model = await loadModel(`${shared}sst2-bert-mini/model.onnx`);
    const s = findEncoderStructure(model);
    expect(s.layers).toHaveLength(4);
    expect(s).toMatchObject({ hiddenSize: 256, numHeads: 4, norm: 'post', embeddingOutput: '/bert/embeddings/LayerNorm/Add_1_output_0' });
    s.layers.forEach((l, i) => {
      expect(l.output).toBe(`/bert/encoder/layer.${i}/output/LayerNorm/Add_1_output_0`);
      expect(l.attentionProbs).toBe(`/bert/encoder/layer.${i}/attention/self/Softmax_output_0`);
      expect(l.nodes.every((n) => n.startsWith(`/bert/encoder/layer.${i}/`) || /^Constant_\d+$/.test(n))).toBe(true);
      expect(l.initializers.filter((w) => w.startsWith('onnx::MatMul_'))).toHaveLength(6);
      // Every node the exporter put under this layer's scope is in the block.
      const scoped = model.graph!.node!.filter((n) => n.name!.startsWith(`/bert/encoder/layer.${i}/`)).map((n) => n.name);
      expect(l.nodes.filter((n) => n.startsWith('/bert/'))).toEqual(scoped);
    });
  });

  it('sst2-student-init: 1 block, hidden 128, 2 heads', async () => {
    const s = findEncoderStructure(await loadModel(`${shared}sst2-student-init/model.onnx`));
    expect(s).toMatchObject({ hiddenSize: 128, numHeads: 2, norm: 'post' });
    expect(s.layers).toHaveLength(1);
  });
});
