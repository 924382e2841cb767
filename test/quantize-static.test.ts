import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { buildMobileNetLike, buildResNetLike } from '../src/architectures/convnet.js';
import { SeededRandom } from '../src/architectures/random.js';
import { checkModel, DataType, encodeModel, GraphBuilder, loadModel, saveModel, tensorToArray, type ModelProto } from '../src/onnx/index.js';
import { HISTOGRAM_BINS, HistogramStats, MinMaxStats } from '../src/quantize/calibrate/collector.js';
import { tensorFileLine } from '../src/quantize/calibrate/data.js';
import { entropyThreshold, percentileThreshold, tensorRange } from '../src/quantize/calibrate/ranges.js';
import { quantizeModel } from '../src/quantize/driver.js';
import { quantizeModelStatic } from '../src/quantize/static/driver.js';
import { ort } from '../src/runtime/session.js';
import { cli } from './cli-run.js';
import { bertFeeds, runModel, smallBertModel, sqnrDb } from './quantize-fixtures.js';

function images(seed: number, n = 4): Record<string, ort.Tensor> {
  const r = new SeededRandom(seed);
  return { pixel_values: new ort.Tensor('float32', Float32Array.from({ length: n * 3 * 32 * 32 }, () => r.normal()), [n, 3, 32, 32]) };
}
const calibration = (batches: Record<string, ort.Tensor>[]) => ({ kind: 'feeds' as const, batches });
const initializer = (m: ModelProto, name: string) => m.graph!.initializer!.find((t) => t.name === name)!;

describe('calibration statistics', () => {
  it('min/max: running, and moving average with the averaging constant', () => {
    const s = new MinMaxStats();
    s.add(Float32Array.of(1, -2, 3));
    s.add(Float32Array.of(5, 0));
    expect([s.min, s.max]).toEqual([-2, 5]);
    const m = new MinMaxStats(0.5);
    m.add(Float32Array.of(-2, 2)); // first batch sets the range
    m.add(Float32Array.of(0, 6)); // min -2 + 0.5 * (0 - -2) = -1, max 2 + 0.5 * (6 - 2) = 4
    expect([m.min, m.max]).toEqual([-1, 4]);
  });

  it('histogram: a growing range re-bins exactly (same counts as one histogram over the final range)', () => {
    const r = new SeededRandom(3);
    const batches = [1, 4, 16].map((scale) => Float32Array.from({ length: 5000 }, () => r.normal() * scale));
    const h = new HistogramStats();
    for (const b of batches) h.add(b);
    // Reference: bin every value straight into the final range.
    const ref = new Float64Array(HISTOGRAM_BINS);
    for (const b of batches) for (const v of b) ref[Math.min(HISTOGRAM_BINS - 1, Math.floor(((v + h.range) * HISTOGRAM_BINS) / (2 * h.range)))]!++;
    expect(h.range).toBeGreaterThanOrEqual(Math.max(-h.min, h.max));
    expect(Array.from(h.counts)).toEqual(Array.from(ref));
  });

  it('percentile: the |x| threshold matches the sorted-values percentile within one bin', () => {
    const r = new SeededRandom(5);
    const values = Float32Array.from({ length: 20000 }, () => r.normal());
    const h = new HistogramStats();
    h.add(values);
    const width = h.range / (HISTOGRAM_BINS / 2);
    const t = percentileThreshold(h.absCounts(true), 99) * width;
    const sorted = Array.from(values, Math.abs).sort((a, b) => a - b);
    expect(Math.abs(t - sorted[Math.ceil(0.99 * sorted.length) - 1]!)).toBeLessThanOrEqual(width);
    const range = tensorRange(h, { method: 'percentile', percentile: 99 });
    expect(range.rmax).toBeCloseTo(Math.min(t, h.max), 6);
    expect(range.rmin).toBeCloseTo(Math.max(-t, h.min), 6);
  });

  it('entropy: clips a few far outliers, keeps a plain distribution whole', () => {
    // 128 equal bins then nothing: every cut past 128 bins is exact; the first is chosen.
    const flat = new Float64Array(1024);
    flat.fill(10, 0, 128);
    expect(entropyThreshold(flat, 128)).toBe(128);
    const r = new SeededRandom(7);
    const values = Float32Array.from({ length: 50000 }, () => r.normal());
    values[0] = 40; // one outlier 40 sigma out
    const h = new HistogramStats();
    h.add(values);
    const range = tensorRange(h, { method: 'entropy', percentile: 99.999 });
    expect(range.rmax).toBeLessThan(10);
    expect(range.rmax).toBeGreaterThan(2.5);
  });
});

describe('quantize --mode static (conv nets)', () => {
  const calib = [1, 2, 3, 4].map((s) => images(s));
  const test = images(99);

  async function check(fp32: ModelProto, options: Record<string, unknown>) {
    const { model, report } = await quantizeModelStatic(fp32, { mode: 'static', perChannel: true, calibration: { data: calibration(calib) }, ...options });
    expect(checkModel(model)).toEqual([]);
    const ratio = encodeModel(model).length / encodeModel(fp32).length;
    const sqnr = sqnrDb(await runModel(fp32, test), await runModel(model, test));
    return { model, report, ratio, sqnr };
  }

  for (const method of ['minmax', 'percentile', 'entropy']) {
    it(`ResNet-like, QDQ, ${method}: <= 0.3 of the size, >= 25 dB`, async () => {
      // --min-elements 512: the stem Conv (864 weights) and the classifier (640) are quantized too.
      const { model, report, ratio, sqnr } = await check(buildResNetLike(), { minElements: 512, calibration: { data: calibration(calib), method } });
      expect(ratio).toBeLessThanOrEqual(0.3);
      expect(sqnr).toBeGreaterThanOrEqual(25);
      expect(report.calibration!.foldedBatchNorms).toBe(8);
      const ops = model.graph!.node!.map((n) => n.opType);
      expect(ops).not.toContain('BatchNormalization');
      expect(ops.filter((o) => o === 'QuantizeLinear').length).toBeGreaterThan(3);
      // Conv -> Relu: the Relu folds into the Conv output's range (zero point at qmin, so Q clamps at 0).
      const conv1 = model.graph!.node!.find((n) => n.opType === 'Conv' && n.input![1]!.startsWith('layer1.conv1'))!;
      const q = model.graph!.node!.find((n) => n.opType === 'QuantizeLinear' && n.input![0] === conv1.output![0])!;
      expect(tensorToArray(initializer(model, q.input![2]!))[0]).toBe(0);
      expect(report.decisions.filter((d) => d.status === 'quantized').map((d) => d.opType)).toEqual(expect.arrayContaining(['MaxPool', 'Gemm']));
    });
  }

  it('int8 activations (QDQ and QLinearConv s8s8), symmetric or not', async () => {
    for (const [format, symmetric] of [['qdq', true], ['qoperator', true], ['qdq', false], ['qoperator', false]] as const) {
      const r = await check(buildResNetLike(), { format, calibration: { data: calibration(calib), activationType: 'int8', activationSymmetric: symmetric } });
      expect(r.sqnr, `${format} symmetric=${symmetric}`).toBeGreaterThanOrEqual(25);
      expect(r.report.calibration!.activationType).toBe('int8');
      const q = r.model.graph!.node!.find((n) => n.opType === 'QuantizeLinear')!;
      const zp = initializer(r.model, q.input![2]!);
      expect(zp.dataType).toBe(3); // INT8
      if (symmetric) expect(tensorToArray(zp)[0]).toBe(0);
      // A symmetric range has its zero point mid-range, so a Relu cannot fold into it and stays.
      expect(r.model.graph!.node!.some((n) => n.opType === 'Relu' && n.input![0]!.startsWith('BatchNormalization_1'))).toBe(symmetric);
    }
  });

  it('uint8 asymmetric weights, QDQ and QOperator', async () => {
    for (const format of ['qdq', 'qoperator']) {
      const r = await check(buildResNetLike(), { format, weightType: 'uint8' });
      expect(r.sqnr, format).toBeGreaterThanOrEqual(25);
      expect(r.report.tensors.every((t) => t.dtype === 'uint8')).toBe(true);
    }
  });

  it('bias is int32 with scale = input scale * weight scale, per channel', async () => {
    const { model } = await check(buildResNetLike(), {});
    const conv = model.graph!.node!.find((n) => n.opType === 'Conv' && n.input![1]!.startsWith('layer1.conv2'))!;
    const dqOf = (name: string) => model.graph!.node!.find((n) => n.output![0] === name)!;
    const x = dqOf(conv.input![0]!);
    const w = dqOf(conv.input![1]!);
    const b = dqOf(conv.input![2]!);
    expect(initializer(model, b.input![0]!).dataType).toBe(6); // INT32
    const xs = tensorToArray(initializer(model, x.input![1]!))[0] as number;
    const ws = tensorToArray(initializer(model, w.input![1]!)) as Float32Array;
    const bs = tensorToArray(initializer(model, b.input![1]!)) as Float32Array;
    expect(bs.length).toBe(32);
    bs.forEach((s, c) => expect(s).toBe(Math.fround(xs * ws[c]!)));
  });

  it('MobileNet-like (depthwise, HardSigmoid, Resize, Concat), QDQ entropy and QOperator percentile', async () => {
    const qdq = await check(buildMobileNetLike(), { calibration: { data: calibration(calib), method: 'entropy' } });
    expect(qdq.ratio).toBeLessThanOrEqual(0.3);
    expect(qdq.sqnr).toBeGreaterThanOrEqual(25);
    const quantizedOps = qdq.report.decisions.filter((d) => d.status === 'quantized').map((d) => d.opType);
    expect(quantizedOps).toEqual(expect.arrayContaining(['Conv', 'Resize', 'Concat']));
    const qop = await check(buildMobileNetLike(), { format: 'qoperator', calibration: { data: calibration(calib), method: 'percentile' } });
    expect(qop.ratio).toBeLessThanOrEqual(0.3);
    expect(qop.sqnr).toBeGreaterThanOrEqual(25);
    const ops = qop.model.graph!.node!.map((n) => n.opType);
    expect(ops).toContain('QLinearConv');
    expect(ops).toContain('QLinearConcat');
  });

  it('ResNet-like with weights in Constant nodes, QOperator', async () => {
    const r = await check(buildResNetLike({ constantNodes: true }), { format: 'qoperator' });
    expect(r.ratio).toBeLessThanOrEqual(0.3);
    expect(r.sqnr).toBeGreaterThanOrEqual(25);
    expect(r.report.calibration!.qoperatorNodes).toBeGreaterThan(0);
  });

  it('ConvTranspose (per output channel, axis 1) and Conv with a fused Clip(0, 6)', async () => {
    const b = new GraphBuilder({ opset: 13 });
    const r = new SeededRandom(8);
    const w = (dims: number[], std: number) => b.initializer('w', Float32Array.from({ length: dims.reduce((a, c) => a * c, 1) }, () => r.normal() * std), dims);
    const x = b.input('pixel_values', DataType.FLOAT, ['batch', 3, 32, 32]);
    const c = b.op('Clip', [b.op('Conv', [x, w([48, 3, 3, 3], 0.3), w([48], 0.1)], { pads: [1, 1, 1, 1] }), b.scalar(0), b.scalar(6)]);
    const d = b.op('Conv', [c, w([32, 48, 3, 3], 0.07)], { pads: [1, 1, 1, 1], strides: [2, 2] });
    b.node('ConvTranspose', [d, w([32, 16, 2, 2], 0.1), w([16], 0.1)], { attrs: { strides: [2, 2] }, outputs: ['y'] });
    b.output('y', DataType.FLOAT, ['batch', 16, 32, 32]);
    const r1 = await check(b.build(), {});
    expect(r1.sqnr).toBeGreaterThanOrEqual(25);
    const ops = r1.model.graph!.node!.map((n) => n.opType);
    expect(ops).not.toContain('Clip'); // folded into the first Conv's output range [0, <= 6]
    expect(r1.report.decisions.filter((d) => d.status === 'quantized').map((d) => d.opType)).toEqual(['Conv', 'Conv', 'ConvTranspose']);
    expect(r1.report.tensors.find((t) => t.opType === 'ConvTranspose')).toMatchObject({ axis: 1 });
  });

  it('opset-9 variant with weights in Constant nodes (Upsample): converted up, then quantized', async () => {
    const fp32 = buildMobileNetLike({ opset: 9, constantNodes: true });
    const r = await check(fp32, { format: 'qdq' });
    expect(r.report.preparation.opsetUpgrade?.to).toBeGreaterThanOrEqual(13); // per-channel DequantizeLinear
    expect(r.ratio).toBeLessThanOrEqual(0.3);
    expect(r.sqnr).toBeGreaterThanOrEqual(25);
    expect(r.model.graph!.node!.map((n) => n.opType)).not.toContain('Upsample');
  });
});

describe('quantize --op-types Conv (dynamic)', () => {
  it('ConvInteger per tensor with uint8 weights; int8 or per-channel weights are skipped with the reason', async () => {
    const fp32 = buildResNetLike();
    const { model, report } = quantizeModel(fp32, { opTypes: ['Conv'], weightType: 'uint8' });
    expect(checkModel(model)).toEqual([]);
    expect(report.decisions.filter((d) => d.status === 'quantized')).toHaveLength(7);
    expect(model.graph!.node!.map((n) => n.opType)).toContain('ConvInteger');
    const test = images(5, 2);
    expect(sqnrDb(await runModel(fp32, test), await runModel(model, test))).toBeGreaterThanOrEqual(25);
    expect(encodeModel(model).length / encodeModel(fp32).length).toBeLessThanOrEqual(0.3);
    expect(quantizeModel(fp32, { opTypes: ['Conv'] }).report.decisions[1]).toMatchObject({ status: 'skipped', reason: expect.stringMatching(/ConvInteger takes uint8 weights only/) });
    expect(quantizeModel(fp32, { opTypes: ['Conv'], weightType: 'uint8', perChannel: true }).report.decisions[1]).toMatchObject({ reason: expect.stringMatching(/ConvInteger is per-tensor only/) });
  });
});

describe('quantize --mode static (transformer)', () => {
  it('small BERT: MatMuls (weights and attention), Gemm, Gather; logits stay close', async () => {
    const fp32 = smallBertModel(4);
    const batches = [1, 2, 3].map(() => bertFeeds(4, 16));
    const { model, report } = await quantizeModelStatic(fp32, { mode: 'static', calibration: { data: calibration(batches), method: 'percentile' } });
    expect(checkModel(model)).toEqual([]);
    const quantized = report.decisions.filter((d) => d.status === 'quantized').map((d) => d.opType);
    expect(quantized.filter((o) => o === 'MatMul').length).toBe(2 * 8); // 6 weight MatMuls + 2 attention MatMuls per layer
    expect(quantized).toContain('Gather');
    const feeds = bertFeeds(2, 12);
    expect(sqnrDb(await runModel(fp32, feeds), await runModel(model, feeds))).toBeGreaterThan(20);
    expect(encodeModel(model).length / encodeModel(fp32).length).toBeLessThan(0.35);
  });
});

describe('quantize --mode static (fused com.microsoft ops)', () => {
  it('a FastGelu between two MatMuls stays float with the reason; the MatMuls are quantized', async () => {
    const b = new GraphBuilder({ opset: 17 });
    const r = new SeededRandom(9);
    const w = (rows: number, cols: number) => b.initializer('w', Float32Array.from({ length: rows * cols }, () => r.normal() * 0.1), [rows, cols]);
    const x = b.input('x', DataType.FLOAT, ['batch', 64]);
    const h = b.op('FastGelu', [b.op('MatMul', [x, w(64, 64)])], undefined, { domain: 'com.microsoft' });
    b.node('MatMul', [h, w(64, 32)], { outputs: ['y'] });
    b.output('y', DataType.FLOAT, ['batch', 32]);
    const fp32 = b.build();
    const feeds = (seed: number) => {
      const g = new SeededRandom(seed);
      return { x: new ort.Tensor('float32', Float32Array.from({ length: 8 * 64 }, () => g.normal()), [8, 64]) };
    };
    const { model, report } = await quantizeModelStatic(fp32, { mode: 'static', calibration: { data: calibration([feeds(1), feeds(2)]) } });
    expect(report.decisions.find((d) => d.opType === 'FastGelu')).toMatchObject({ status: 'skipped', reason: expect.stringMatching(/com\.microsoft FastGelu stays float/) });
    expect(report.decisions.filter((d) => d.opType === 'MatMul' && d.status === 'quantized')).toHaveLength(2);
    expect(checkModel(model)).toEqual([]);
    expect(sqnrDb(await runModel(fp32, feeds(3)), await runModel(model, feeds(3)))).toBeGreaterThan(25);
  });
});

describe('quantize --mode static (values that are not float)', () => {
  it('an Add on int64 shape values is skipped with the reason, the float Add is quantized', async () => {
    const b = new GraphBuilder({ opset: 17 });
    const r = new SeededRandom(4);
    const x = b.input('x', DataType.FLOAT, ['batch', 64]);
    const h = b.op('MatMul', [x, b.initializer('w', Float32Array.from({ length: 64 * 64 }, () => r.normal() * 0.1), [64, 64])]);
    const shape = b.op('Add', [b.op('Shape', [h]), b.int64([0, 0])]);
    const sum = b.op('Add', [h, x]);
    b.node('Reshape', [sum, shape], { outputs: ['y'] });
    b.output('y', DataType.FLOAT, ['batch', 64]);
    const fp32 = b.build();
    const feeds = (seed: number) => {
      const g = new SeededRandom(seed);
      return { x: new ort.Tensor('float32', Float32Array.from({ length: 4 * 64 }, () => g.normal()), [4, 64]) };
    };
    const { model, report } = await quantizeModelStatic(fp32, { mode: 'static', opTypes: ['MatMul', 'Add'], calibration: { data: calibration([feeds(1)]) } });
    const adds = report.decisions.filter((d) => d.opType === 'Add');
    expect(adds.map((d) => d.status).sort()).toEqual(['quantized', 'skipped']);
    expect(adds.find((d) => d.status === 'skipped')).toMatchObject({ reason: expect.stringMatching(/is int64, not a float32 activation/) });
    expect(checkModel(model)).toEqual([]);
    expect(sqnrDb(await runModel(fp32, feeds(2)), await runModel(model, feeds(2)))).toBeGreaterThan(25);
  });
});

describe('distillery quantize --mode static (CLI)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'quantize-static-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('calibrates from a tensor .jsonl file and writes a model onnxruntime runs', async () => {
    const model = join(dir, 'resnet.onnx');
    await saveModel(buildResNetLike(), model);
    const data = join(dir, 'calib.jsonl');
    writeFileSync(data, [1, 2, 3].map((s) => tensorFileLine({ pixel_values: images(s, 2).pixel_values! as unknown as { dims: number[]; data: Float32Array } })).join('\n') + '\n');
    const out = join(dir, 'resnet-int8.onnx');
    const r = await cli('quantize', model, '-o', out, '--mode', 'static', '--calibrate', data, '--calibration-method', 'entropy', '--per-channel', '--json');
    expect(r.code, r.stderr).toBe(0);
    const json = JSON.parse(r.stdout);
    expect(json.options).toMatchObject({ mode: 'static', format: 'qdq' });
    expect(json.calibration).toMatchObject({ method: 'entropy', rows: 6, batches: 3, activationType: 'uint8', foldedBatchNorms: 8 });
    expect(json.files.ratio).toBeLessThanOrEqual(0.3);
    const written = await loadModel(out);
    expect(checkModel(written)).toEqual([]);
    const test = images(42, 2);
    expect(sqnrDb(await runModel(buildResNetLike(), test), await runModel(readFileSync(out), test))).toBeGreaterThanOrEqual(25);

    const text = await cli('quantize', model, '-o', join(dir, 'b.onnx'), '--mode', 'static', '--calibrate', data, '--format', 'qoperator', '--moving-average', '0.5');
    expect(text.code, text.stderr).toBe(0);
    expect(text.stdout).toMatch(/Calibrated \d+ activations \(uint8, minmax\) on 6 examples in 3 batches; 8 BatchNorm folded into Conv; \d+ nodes as integer ops/);
  });

  it('calibrates from labelled text whatever its label names (they are not read)', async () => {
    // Labels the model cannot map ("positive" is not in tiny-bert's id2label) once made calibration fail.
    const data = join(dir, 'calib-text.jsonl');
    writeFileSync(data, ['free money now', 'see you at lunch', 'win a prize today', 'the meeting moved'].map((t, i) => JSON.stringify({ text: t, label: i % 2 ? 'negative' : 'positive' })).join('\n') + '\n');
    const out = join(dir, 'tiny-static', 'model.onnx');
    const r = await cli('quantize', 'fixtures/tiny-bert/model.onnx', '-o', out, '--mode', 'static', '--calibrate', data, '--calibration-batch-size', '2');
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/Calibrated \d+ activations \(uint8, minmax\) on 4 examples in 2 batches/);
    expect(checkModel(await loadModel(out))).toEqual([]);
  });

  it('bad input: one line naming the problem, exit 2, nothing written', async () => {
    const model = join(dir, 'resnet2.onnx');
    await saveModel(buildResNetLike(), model);
    const out = join(dir, 'never.onnx');
    const noData = await cli('quantize', model, '-o', out, '--mode', 'static');
    expect(noData.code).toBe(2);
    expect(noData.stderr).toMatch(/--mode static needs --calibrate <file>/);
    const bad = join(dir, 'bad.jsonl');
    writeFileSync(bad, JSON.stringify({ image: { dims: [1], data: [0] } }) + '\n');
    const r = await cli('quantize', model, '-o', out, '--mode', 'static', '--calibrate', bad);
    expect(r.code).toBe(2);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/bad\.jsonl:1: no tensor for model input "pixel_values" \(has: image\)/);
    const method = await cli('quantize', model, '-o', out, '--mode', 'static', '--calibrate', bad, '--calibration-method', 'kl');
    expect(method.stderr).toMatch(/--calibration-method kl: unknown method \(expected minmax, percentile, entropy\)/);
    const avg = await cli('quantize', model, '-o', out, '--mode', 'static', '--calibrate', bad, '--calibration-method', 'entropy', '--moving-average', '0.01');
    expect(avg.stderr).toMatch(/--moving-average applies to --calibration-method minmax only/);
    const pct = await cli('quantize', model, '-o', out, '--mode', 'static', '--calibrate', bad, '--calibration-method', 'percentile', '--percentile', '120');
    expect(pct.stderr).toMatch(/--percentile 120: expected a number in \(0, 100\]/);
    const ms = await cli('quantize', model, '-o', out, '--mode', 'static', '--calibrate', bad, '--format', 'ms');
    expect(ms.stderr).toMatch(/--format ms is dynamic only/);
    expect(() => readFileSync(out)).toThrow();
  });
});
