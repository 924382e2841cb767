import { describe, expect, it } from 'vitest';
import { checkModel } from '../src/onnx/index.js';
import { nodeErrorReport, outputSqnrMetric, quantizeModel, quantizeWithinBudget, sampleInputs } from '../src/quantize/index.js';
import { outlierModel } from './quantize-prep-fixtures.js';

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
    expect(result.report.decisions.find((d) => d.node === 'fc2')).toMatchObject({ status: 'skipped', reason: /^reverted to float by the accuracy guard \(own output SQNR -?\d+\.\d dB\)$/ });
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

  it('works for --mode static too (the guard calls the quantizer with an exclude list)', async () => {
    const metric = await outputSqnrMetric(model, feeds, 25);
    const options = { mode: 'static', opTypes: ['MatMul', 'Mul'], calibration: { data: { kind: 'feeds' as const, batches: feeds } } };
    const result = await quantizeWithinBudget(model, options, { metric, feeds });
    expect(result.report.options.mode).toBe('static');
    expect(result.guard.met).toBe(true);
    expect(result.guard.reverted.map((r) => r.node)).toEqual(['fc2']);
    expect(result.guard.int8Nodes).toBeGreaterThanOrEqual(2);
    expect(checkModel(result.model)).toEqual([]);
  });
});
