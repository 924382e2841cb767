import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { SeededRandom } from '../src/architectures/random.js';
import { DataType, encodeModel, GraphBuilder, saveModel, type ModelProto } from '../src/onnx/index.js';
import {
  activationBytes,
  describeShape,
  dimRule,
  dimSize,
  groupByBudget,
  observeBatchSizes,
  probeActivationShapes,
  type ProbedShapes,
} from '../src/quantize/calibrate/memory-plan.js';
import { tensorFileLine } from '../src/quantize/calibrate/data.js';
import { quantizeModelStatic } from '../src/quantize/static/driver.js';
import { probeSize } from '../src/runtime/probe-feeds.js';
import { openSession, ort } from '../src/runtime/session.js';
import { cli } from './cli-run.js';
import { bertFeeds, smallBertModel } from './quantize-fixtures.js';

const dir = mkdtempSync(join(tmpdir(), 'calib-memory-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const symbols = ['batch', 'sequence'];
const [b0, b1, s0, s1] = [probeSize(0, 0), probeSize(0, 1), probeSize(1, 0), probeSize(1, 1)];

/** The model with every node output as a graph output (what calibration's augmented model is, for all activations). */
function withAllOutputs(model: ModelProto): { model: ModelProto; names: string[] } {
  const g = model.graph!;
  const have = new Set((g.output ?? []).map((o) => o.name));
  const names: string[] = [];
  for (const n of g.node ?? []) for (const o of n.output ?? []) if (o && !have.has(o)) names.push(o);
  return { model: { ...model, graph: { ...g, output: [...(g.output ?? []), ...names.map((name) => ({ name }))] } }, names };
}

describe('calibration memory plan: what each dim follows', () => {
  it('matches fixed dims, input symbols, products, linear functions, and falls back to an over-estimate', () => {
    expect(dimRule(32, 32, symbols)).toEqual({ kind: 'fixed', size: 32 });
    expect(dimRule(b0, b1, symbols)).toEqual({ kind: 'symbol', symbol: 'batch' });
    expect(dimRule(s0, s1, symbols)).toEqual({ kind: 'symbol', symbol: 'sequence' });
    expect(dimRule(b0 * s0, b1 * s1, symbols)).toEqual({ kind: 'product', symbols: ['batch', 'sequence'] });
    expect(dimRule(s0 * s0, s1 * s1, symbols)).toEqual({ kind: 'product', symbols: ['sequence', 'sequence'] });
    expect(dimRule(s0 - 1, s1 - 1, symbols)).toMatchObject({ kind: 'linear', a: 1, b: -1 });
    const sizes = new Map([['batch', 32], ['sequence', 128]]);
    expect(dimSize(dimRule(s0 + 1, s1 + 1, symbols), sizes, symbols)).toBe(129);
    expect(dimSize(dimRule(2 * s0, 2 * s1, symbols), sizes, symbols)).toBe(256);
    expect(dimSize(dimRule(b0 * s0, b1 * s1, symbols), sizes, symbols)).toBe(32 * 128);
    // 4 -> 6 fits no rule: scaled by the largest growth (sequence: 128 / s1), never under the truth at these sizes.
    const odd = dimRule(4, 6, symbols);
    expect(odd.kind).toBe('unknown');
    expect(dimSize(odd, sizes, symbols)).toBe(Math.ceil(6 * Math.max(32 / b1, 128 / s1)));
    expect(describeShape({ type: 'float32', dims: [dimRule(b0, b1, symbols), { kind: 'fixed', size: 4 }, dimRule(s0 - 1, s1 - 1, symbols), odd] })).toEqual([
      'batch',
      4,
      'sequence-1',
      '?',
    ]);
  });

  it('groups keep the order, stay under the budget, put graph inputs in the first group and flag what alone is over it', () => {
    const mk = (n: number) => ({ type: 'float32', dims: [{ kind: 'symbol' as const, symbol: 'batch' }, { kind: 'fixed' as const, size: n }] });
    const probed: ProbedShapes = { symbols: ['batch'], shapes: new Map([['a', mk(10)], ['b', mk(10)], ['c', mk(30)], ['d', mk(100)], ['e', mk(5)], ['x', mk(1)]]) };
    const sizes = new Map([['batch', 2]]); // bytes: a 80, b 80, c 240, d 800, e 40
    const g = groupByBudget(['x', 'a', 'b', 'c', 'd', 'e'], probed, sizes, 400, new Set(['x']));
    expect(g.groups).toEqual([['x', 'a', 'b', 'c'], ['d'], ['e']]);
    expect(g.groupBytes).toEqual([400, 800, 40]);
    expect(g.totalBytes).toBe(1240);
    expect(g.oversized).toEqual(['d']);
    expect(groupByBudget(['a', 'b'], probed, sizes, 10_000, new Set()).groups).toEqual([['a', 'b']]);
  });
});

describe('calibration memory plan: shapes by probing', () => {
  it('predicts the bytes of every activation of a BERT at sizes it was not probed at, exactly', async () => {
    const { model, names } = withAllOutputs(smallBertModel(3));
    const { session } = await openSession(encodeModel(model), { graphOptimizationLevel: 'disabled' });
    try {
      const inputs = model.graph!.input!;
      const probed = await probeActivationShapes(session, inputs, names, 'bert');
      const feeds = bertFeeds(4, 21);
      const sizes = new Map<string, number>();
      observeBatchSizes(inputs, feeds, sizes);
      expect(Object.fromEntries(sizes)).toEqual({ batch: 4, sequence: 21 });
      const out = await session.run(feeds, names);
      let checked = 0;
      for (const n of names) {
        const shape = probed.shapes.get(n)!;
        expect(shape, n).toBeDefined();
        expect(activationBytes(shape, sizes, probed.symbols), n).toBe((out[n]!.data as ArrayBufferView).byteLength);
        checked++;
      }
      expect(checked).toBeGreaterThan(40);
      const softmax = names.find((n) => model.graph!.node!.find((x) => x.output?.includes(n))?.opType === 'Softmax')!;
      expect(describeShape(probed.shapes.get(softmax)!)).toEqual(['batch', expect.any(Number), 'sequence', 'sequence']);
    } finally {
      await session.release();
    }
  });

  it('follows unnamed dynamic dims by axis and a flattened batch x sequence through Reshape', async () => {
    const b = new GraphBuilder({ opset: 17 });
    const x = b.input('x', DataType.FLOAT, ['?', '?', 4]);
    const w = b.initializer('w', Float32Array.from({ length: 12 }, (_, i) => i / 10), [4, 3]);
    const flat = b.op('Reshape', [x, b.constant(BigInt64Array.of(-1n, 4n), [2])]);
    const y = b.op('MatMul', [flat, w]);
    b.output(b.op('Relu', [y]), DataType.FLOAT);
    const { model, names } = withAllOutputs(b.build());
    const { session } = await openSession(encodeModel(model), { graphOptimizationLevel: 'disabled' });
    try {
      const probed = await probeActivationShapes(session, model.graph!.input!, names, 'flat');
      expect(probed.symbols).toEqual(['?0', '?1']);
      expect(describeShape(probed.shapes.get(flat)!)).toEqual(['?0*?1', 4]);
      expect(activationBytes(probed.shapes.get(y)!, new Map([['?0', 7], ['?1', 9]]), probed.symbols)).toBe(7 * 9 * 3 * 4);
    } finally {
      await session.release();
    }
  });
});

describe('static quantization under a memory budget', () => {
  const batches = [bertFeeds(4, 16), bertFeeds(4, 24), bertFeeds(2, 9)];
  const calibration = { kind: 'feeds' as const, batches };

  it('splits the activations into passes under the budget and writes the same model as one pass', async () => {
    const model = smallBertModel(5);
    const one = await quantizeModelStatic(model, { mode: 'static', calibration: { data: calibration, method: 'entropy', size: 100 } });
    const m1 = one.report.calibration!.memory;
    expect(m1).toMatchObject({ shapes: 'probed', passes: 1, sizes: { batch: 4, sequence: 24 }, oversized: [] });
    expect(m1.bytesPerRun).toBe(m1.activationBytes);
    const budgetMiB = m1.activationBytes / 3 / 2 ** 20;
    const progress: Array<[number, number]> = [];
    const split = await quantizeModelStatic(
      model,
      { mode: 'static', calibration: { data: calibration, method: 'entropy', size: 100 }, activationMemoryMiB: budgetMiB },
      { onProgress: (_rows, pass, passes) => progress.push([pass, passes]) },
    );
    const m3 = split.report.calibration!.memory;
    expect(m3.passes).toBeGreaterThanOrEqual(3);
    expect(m3.activationBytes).toBe(m1.activationBytes);
    expect(m3.bytesPerRun).toBeLessThanOrEqual(m3.budgetBytes);
    expect(new Set(progress.map((p) => p[0])).size).toBe(m3.passes);
    expect(progress.every((p) => p[1] === m3.passes)).toBe(true);
    expect(Buffer.from(encodeModel(split.model)).equals(Buffer.from(encodeModel(one.model)))).toBe(true);
    expect(split.report.calibration!.activations.map((a) => a.name)).toEqual(one.report.calibration!.activations.map((a) => a.name));
    expect(split.report.calibration!.activations.every((a) => Array.isArray(a.shape) && a.shape[0] === 'batch')).toBe(true);
  });

  it('says when the shapes cannot be probed and calibrates in one pass', async () => {
    // A graph input without a declared shape: the probe cannot make inputs for it.
    const b = new GraphBuilder({ opset: 17 });
    const x = b.input('x', DataType.FLOAT);
    const r = new SeededRandom(1);
    const w = b.initializer('w', Float32Array.from({ length: 64 * 8 }, () => r.normal()), [64, 8]);
    b.output(b.op('MatMul', [x, w]), DataType.FLOAT);
    const feeds = [0, 1].map((s) => ({ x: new ort.Tensor('float32', Float32Array.from({ length: 2 * 64 }, () => new SeededRandom(s).normal()), [2, 64]) }));
    const res = await quantizeModelStatic(b.build(), { mode: 'static', calibration: { data: { kind: 'feeds', batches: feeds } }, activationMemoryMiB: 1e-6 });
    const m = res.report.calibration!.memory;
    expect(m.passes).toBe(1);
    expect(m.shapes).toMatch(/probe runs failed .*"x" declares no shape/);
  });

  it('CLI: --activation-memory is checked, shown, and in --json', async () => {
    const model = join(dir, 'bert.onnx');
    await saveModel(smallBertModel(2), model);
    const calib = join(dir, 'calib.jsonl');
    const toJson = (f: Record<string, ort.Tensor>) =>
      tensorFileLine(Object.fromEntries(Object.entries(f).map(([k, t]) => [k, { dims: [...t.dims], data: Array.from(t.data as BigInt64Array, Number) }])));
    writeFileSync(calib, batches.map(toJson).join('\n') + '\n');
    const bad = await cli('quantize', model, '-o', join(dir, 'bad.onnx'), '--mode', 'static', '--calibrate', calib, '--activation-memory', '0');
    expect(bad.code).toBe(2);
    expect(bad.stderr.trim().split('\n')).toHaveLength(1);
    expect(bad.stderr).toMatch(/--activation-memory 0: expected a positive number of MiB/);
    const text = await cli('quantize', model, '-o', join(dir, 'q.onnx'), '--mode', 'static', '--calibrate', calib, '--activation-memory', '0.05');
    expect(text.code).toBe(0);
    expect(text.stdout).toMatch(/Calibration memory: [\d.]+ KiB of activations per run at batch 4, sequence 24, budget 51\.2 KiB: \d+ passes over the data/);
    const json = await cli('quantize', model, '-o', join(dir, 'q2.onnx'), '--mode', 'static', '--calibrate', calib, '--json');
    expect(json.code).toBe(0);
    const report = JSON.parse(json.stdout);
    const memory = (report.calibration ?? report.report?.calibration).memory;
    expect(memory).toMatchObject({ budgetBytes: 1024 * 2 ** 20, shapes: 'probed', passes: 1, sizes: { batch: 4, sequence: 24 } });
  });
});
