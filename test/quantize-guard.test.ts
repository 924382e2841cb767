import { describe, expect, it } from 'vitest';
import { checkModel, DataType, GraphBuilder, type ModelProto } from '../src/onnx/index.js';
import { nodeErrorReport, outputSqnrMetric, quantizeModel, quantizeWithinBudget, sampleInputs } from '../src/quantize/index.js';
import { seeded } from './quantize-prep-fixtures.js';

/**
 * x [4, 64] -> fc1 -> Relu -> Mul(mask) -> fc2 -> Relu -> fc3 -> y. The mask zeroes hidden
 * unit 0, and fc2's row 0 (which only ever sees that unit) holds a weight of 1000: it never
 * reaches the output in fp32, but per-tensor int8 sets fc2's scale from it and rounds every
 * other fc2 weight to zero. fc1 and fc3 are ordinary.
 */
export function outlierModel(): ModelProto {
  const b = new GraphBuilder({ opset: 17 });
  const x = b.input('x', DataType.FLOAT, [4, 64]);
  const w2 = seeded(64 * 64, 22, 0.2);
  w2[5] = 1000;
  const mask = Float32Array.from({ length: 64 }, (_, i) => (i === 0 ? 0 : 1));
  const fc1 = b.op('MatMul', [x, b.initializer('fc1.weight', seeded(64 * 64, 21, 0.2), [64, 64])], undefined, { name: 'fc1' });
  const h1 = b.op('Mul', [b.op('Relu', [fc1]), b.constant(mask, [64], 'mask')]);
  const fc2 = b.op('MatMul', [h1, b.initializer('fc2.weight', w2, [64, 64])], undefined, { name: 'fc2' });
  b.node('MatMul', [b.op('Relu', [fc2]), b.initializer('fc3.weight', seeded(64 * 64, 23, 0.2), [64, 64])], { outputs: ['y'], name: 'fc3' });
  b.output('y', DataType.FLOAT, [4, 64]);
  return b.build();
}

describe('accuracy guard and per-node error report', () => {
  const model = outlierModel();
  const feeds = sampleInputs(model, 4, { seed: 3 });

  it('the node report puts the crushed layer first, its own error and the accumulated one', async () => {
    const report = await nodeErrorReport(model, {}, feeds);
    expect(report.map((r) => r.node)).toHaveLength(3);
    expect(report[0]).toMatchObject({ node: 'fc2', opType: 'MatMul', output: 'fc2_out' });
    expect(report[0]!.sqnrDb!).toBeLessThan(10);
    for (const r of report.slice(1)) expect(r.sqnrDb!).toBeGreaterThan(30);
    // fc3 reads fc2's output: in the fully quantized model it inherits fc2's error.
    const fc3 = report.find((r) => r.node === 'fc3')!;
    expect(fc3.cumulativeSqnrDb!).toBeLessThan(fc3.sqnrDb! - 20);
  });

  it('reverts only the sensitive layer and meets the budget', async () => {
    const metric = await outputSqnrMetric(model, feeds, 30);
    expect(await metric.measure(quantizeModel(model).model)).toBeLessThan(10);
    const result = await quantizeWithinBudget(model, {}, { metric, feeds });
    expect(result.guard.met).toBe(true);
    expect(result.guard.reverted.map((r) => r.node)).toEqual(['fc2']);
    expect(result.guard.finalValue).toBeGreaterThanOrEqual(30);
    expect(result.guard.int8Nodes).toBe(2);
    expect(result.guard.evaluations).toBe(2);
    expect(result.report.decisions.find((d) => d.node === 'fc2')).toMatchObject({ status: 'skipped', reason: 'excluded by --exclude-nodes' });
    expect(checkModel(result.model)).toEqual([]);
  });

  it('an unreachable budget reverts everything and says it was not met', async () => {
    // Even the float model misses this budget (as an accuracy drop below zero would).
    const sqnr = await outputSqnrMetric(model, feeds, 30);
    const metric = { ...sqnr, budget: 'never', within: () => false };
    const result = await quantizeWithinBudget(model, {}, { metric, feeds });
    expect(result.guard.met).toBe(false);
    expect(result.guard.reverted).toHaveLength(3);
    expect(result.guard.int8Nodes).toBe(0);
  });

  it('a model already within budget is quantized in full with one measurement', async () => {
    const metric = await outputSqnrMetric(model, feeds, -50);
    const result = await quantizeWithinBudget(model, {}, { metric, feeds });
    expect(result.guard).toMatchObject({ met: true, reverted: [], int8Nodes: 3, evaluations: 1, ranking: [] });
  });
});
