import { describe, expect, it } from 'vitest';
import { buildBertClassifier, defaultBertConfig } from '../src/architectures/bert.js';
import { gradientPath } from '../src/autodiff/prune.js';
import { isFloatType, probeValueFacts } from '../src/autodiff/shapes.js';
import { buildGradientModel } from '../src/autodiff/gradient-model.js';
import { DataType, encodeModel, GraphBuilder } from '../src/onnx/index.js';
import { ort } from '../src/runtime/session.js';

const tiny = { ...defaultBertConfig, vocabSize: 30, numLabels: 2, hiddenSize: 8, numHeads: 2, intermediateSize: 16, numLayers: 2, maxPositions: 16 };

describe('pruning to the trainable path', () => {
  it('leaves masks, shape arithmetic and constants without backward nodes', async () => {
    const model = buildBertClassifier(tiny, { seed: 1 });
    const facts = await probeValueFacts(model);
    const weights = (model.graph!.initializer ?? []).filter((t) => t.dataType === DataType.FLOAT && (t.dims ?? []).length > 0).map((t) => t.name!);
    const path = gradientPath(model.graph!, weights, ['logits'], (v) => isFloatType(facts.get(v)?.elemType));
    const ops = new Set(path.nodes.map((n) => n.opType));
    for (const op of ['Shape', 'Slice', 'Cast', 'Unsqueeze']) expect(ops.has(op), op).toBe(false);
    // The additive mask (Cast -> Sub -> Mul -> Unsqueeze of attention_mask) is off the path.
    const maskNodes = model.graph!.node!.filter((n) => n.opType === 'Cast').flatMap((n) => n.output!);
    expect(maskNodes.some((v) => path.values.has(v))).toBe(false);
    expect(path.reached.size).toBe(weights.length);
  });

  it('stops at the first trainable layer: training only the classifier touches only its Gemm', async () => {
    const model = buildBertClassifier(tiny, { seed: 1 });
    const facts = await probeValueFacts(model);
    const path = gradientPath(model.graph!, ['classifier.weight', 'classifier.bias'], ['logits'], (v) => isFloatType(facts.get(v)?.elemType));
    expect(path.nodes.map((n) => n.opType)).toEqual(['Gemm']);
  });

  it('differentiates with respect to an intermediate value, and gives zeros to unreached ones', async () => {
    const b = new GraphBuilder({ opset: 17 });
    const x = b.input('x', DataType.FLOAT, ['n', 3]);
    const h = b.op('Tanh', [x], undefined, { name: 'act' });
    const unused = b.op('Exp', [x]);
    b.node('ReduceSum', [b.op('Mul', [h, h])], { outputs: ['y'], attrs: { keepdims: 0 } });
    b.output('y', DataType.FLOAT, []);
    const gm = await buildGradientModel(b.build(), { wrt: [h, unused] });
    const session = await ort.InferenceSession.create(encodeModel(gm.model));
    const xs = Float32Array.from([0.1, -0.2, 0.3, 0.4, 0.5, -0.6]);
    const out = await session.run({ x: new ort.Tensor('float32', xs, [2, 3]), [gm.seedInputs.get('y')!]: new ort.Tensor('float32', Float32Array.of(1), []) });
    const dh = out[gm.gradOutputs.get(h)!]!.data as Float32Array;
    xs.forEach((v, i) => expect(dh[i]).toBeCloseTo(2 * Math.tanh(v), 6));
    expect([...(out[gm.gradOutputs.get(unused)!]!.data as Float32Array)].every((v) => v === 0)).toBe(true);
  });
});
