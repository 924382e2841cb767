import { describe, expect, it, vi } from 'vitest';
import { ort } from '../src/runtime/session.js';
import { checkModel, type ModelProto } from '../src/onnx/index.js';
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

  it('under a small --activation-memory the node report measures in groups and finds the same errors', async () => {
    const sessions = vi.spyOn(ort.InferenceSession, 'create');
    const whole = await nodeErrorReport(model, {}, feeds);
    const wholeSessions = sessions.mock.calls.length;
    // A budget below one compared value: every node's values in runs of their own (a probe and a full session each).
    const split = await nodeErrorReport(model, { activationMemoryMiB: 1e-6 }, feeds);
    const splitSessions = sessions.mock.calls.length - wholeSessions;
    sessions.mockRestore();
    expect(wholeSessions).toBe(2);
    expect(splitSessions).toBe(2 + 2 * 3);
    expect(split).toEqual(whole);
    const grouped = await quantizeWithinBudget(model, { activationMemoryMiB: 1e-6 }, { metric: await outputSqnrMetric(model, feeds, 30), feeds });
    expect(grouped.guard.reverted.map((r) => r.node)).toEqual(['fc2']);
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

  it('puts back in int8 a revert the budget turned out not to need', async () => {
    // A budget only fc3 in float meets: the ranking reverts fc2 (worst own SQNR) first, and fc3
    // later; the pass after that finds fc2 can go back to int8.
    const fc3Float = (m: { graph?: { node?: Array<{ name?: string | null; opType?: string | null }> | null } | null }) =>
      (m.graph?.node ?? []).some((n) => n.name === 'fc3' && n.opType === 'MatMul');
    const metric = {
      name: 'fc3 in float (1 = yes)',
      budget: 'fc3 in float',
      measure: async (m: ModelProto) => (fc3Float(m) ? 1 : 0),
      within: (v: number) => v === 1,
    };
    const result = await quantizeWithinBudget(model, {}, { metric, feeds });
    expect(result.guard.met).toBe(true);
    expect(result.guard.reverted.map((r) => r.node)).toEqual(['fc3']);
    // fc1 and fc3 have nearly equal own SQNR, so fc1 may be reverted (and restored) on the way too.
    expect(result.guard.restored).toContain('fc2');
    expect(result.guard.restored.every((n) => n === 'fc1' || n === 'fc2')).toBe(true);
    expect(result.guard.int8Nodes).toBe(2);
    const tried = result.guard.restored.length + 1;
    expect(result.guard.evaluations).toBe(1 + tried + (tried - 1));
    expect(result.report.decisions.find((d) => d.node === 'fc2')).toMatchObject({ status: 'quantized' });
  });
});
