import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { benchModels, type BenchProgress } from '../src/bench/index.js';
import { summarize } from '../src/bench/percentiles.js';
import { DataType, encodeModel, GraphBuilder } from '../src/onnx/index.js';
import { openSession, ort } from '../src/runtime/session.js';
import { fixtureDir, removeFixtureDirs, smallBert, writeBert, writeIdentity, writeImageModel } from './bench-fixtures.js';

afterAll(removeFixtureDirs);

let dir: string;
let teacher: string;
let student: string;
let identity: string;

beforeAll(() => {
  dir = fixtureDir();
  teacher = writeBert(dir, 'teacher.onnx');
  student = writeBert(dir, 'student.onnx', { ...smallBert, vocabSize: 1000, hiddenSize: 16, numHeads: 2, intermediateSize: 32, numLayers: 1 }, 2);
  identity = writeIdentity(dir);
});

describe('benchModels', () => {
  it('runs every batch x seq combination for every model, interleaved, with ratios against the baseline', async () => {
    const events: BenchProgress[] = [];
    const r = await benchModels([teacher, student], { batchSizes: [1, 3], seqLens: [4, 9], warmup: 1, iterations: 6, blockSize: 2 }, (p) => events.push(p));
    expect(r.complete).toBe(true);
    expect(r.settings.isolation).toBe('in-process');
    const combos = r.runs.map((x) => `${x.label} ${x.batchSize}x${x.seqLen}`);
    expect(combos.sort()).toEqual(
      ['student 1x4', 'student 1x9', 'student 3x4', 'student 3x9', 'teacher 1x4', 'teacher 1x9', 'teacher 3x4', 'teacher 3x9'].sort(),
    );
    for (const run of r.runs) {
      expect(run.latencyMs.count).toBe(6);
      expect(run.samplesMs).toHaveLength(6);
      expect(run.tokensPerBatch).toBe(run.batchSize * run.seqLen!);
      expect(run.latencyMs.min).toBeLessThanOrEqual(run.latencyMs.p50);
      expect(run.latencyMs.p50).toBeLessThanOrEqual(run.latencyMs.p99);
      expect(run.throughput.examplesPerSec).toBeCloseTo((run.batchSize * 1000) / run.latencyMs.mean, 6);
      if (run.model === 0) expect(run.vsBaseline).toBeUndefined();
      else {
        const base = r.runs.find((b) => b.model === 0 && b.batchSize === run.batchSize && b.seqLen === run.seqLen)!;
        expect(run.vsBaseline!.p50Ratio).toBeCloseTo(run.latencyMs.p50 / base.latencyMs.p50, 10);
      }
    }
    // Blocks alternate between the models at each point: A B A B A B.
    const timing = events.filter((e) => e.phase === 'timing' && e.point === 0).map((e) => e.modelIndex);
    expect(timing).toEqual([0, 1, 0, 1, 0, 1]);
    // Placement is reported before any timing.
    const firstTiming = events.findIndex((e) => e.phase === 'timing');
    expect(events.slice(0, firstTiming).filter((e) => e.placement).map((e) => e.label)).toEqual(['teacher', 'student']);
    expect(r.models[0]).toMatchObject({ label: 'teacher', weightKind: 'fp32', vocabSize: 1000, device: 'cpu' });
    expect(r.models[0]!.placement!.byProvider.CPUExecutionProvider).toBeGreaterThan(0);
    expect(r.models[0]!.memory).toMatchObject({ method: 'in-process' });
    expect(r.models[0]!.memory!.peakRssBytes).toBeGreaterThan(0);
    expect(r.models[0]!.createMs).toBeGreaterThan(0);
    expect(r.machine.onnxruntimeVersion).toMatch(/^1\.\d+/);
    expect(JSON.parse(JSON.stringify(r))).toEqual(r);
  });

  it('stops after the current iteration when aborted and returns what it measured', async () => {
    const controller = new AbortController();
    let timed = 0;
    const r = await benchModels([teacher, student], { seqLens: [8], warmup: 0, iterations: 1000, blockSize: 5, placement: false, signal: controller.signal }, (p) => {
      if (p.phase === 'timing' && ++timed === 3) controller.abort();
    });
    expect(r.complete).toBe(false);
    expect(r.runs.map((x) => x.latencyMs.count)).toEqual([10, 5]);
    expect(r.runs[1]!.vsBaseline).toBeDefined();
  });

  it('costs little per iteration: the harness on Identity is far below a small BERT, and close to a bare loop', async () => {
    const bert = writeBert(dir, 'small-bert.onnx', smallBert);
    const options = { batchSizes: [1], seqLens: [64], warmup: 20, iterations: 200, placement: false };
    // A bare loop on the same Identity session settings, for the harness's own overhead.
    const { session } = await openSession(identity, { device: 'cpu' });
    const x = new ort.Tensor('float32', new Float32Array(64), [1, 64]);
    const bare = async () => {
      const t = new Float64Array(200);
      for (let i = 0; i < 20; i++) await session.run({ x });
      for (let i = 0; i < 200; i++) {
        const s = performance.now();
        await session.run({ x });
        t[i] = performance.now() - s;
      }
      return summarize(t).p50;
    };
    const harnessP50: number[] = [];
    const bareP50: number[] = [];
    for (let round = 0; round < 3; round++) {
      harnessP50.push((await benchModels([identity], options)).runs[0]!.latencyMs.p50);
      bareP50.push(await bare());
    }
    await session.release();
    const bertP50 = (await benchModels([bert], options)).runs[0]!.latencyMs.p50;
    const harness = Math.min(...harnessP50);
    const overhead = harness - Math.min(...bareP50);
    // Structure, not milliseconds: the harness's whole per-iteration cost on a no-op model is a
    // small fraction of what it reports for a real one, and its extra over a bare loop smaller still.
    expect(harness).toBeLessThan(0.5 * bertP50);
    expect(overhead).toBeLessThan(0.1 * bertP50);
  });

  it('rejects bad input with one clear line', async () => {
    const corrupt = join(dir, 'corrupt.onnx');
    writeFileSync(corrupt, Buffer.from('definitely not protobuf \x00\xff\xff\xff'));
    const opts = { seqLens: [8], iterations: 1, warmup: 0 };
    const oneLine = async (p: Promise<unknown>, pattern: RegExp) => {
      const e = (await p.then(() => undefined, (err: unknown) => err)) as Error;
      expect(e?.name).toBe('UserError');
      expect(e.message).toMatch(pattern);
      expect(e.message).not.toContain('\n');
    };
    await oneLine(benchModels([corrupt], opts), /corrupt\.onnx: (truncated or corrupt|not an ONNX model)/);
    await oneLine(benchModels([join(dir, 'missing.onnx')], opts), /missing\.onnx: no such file/);
    await oneLine(benchModels([teacher], { ...opts, seqLens: undefined }), /teacher\.onnx: input "input_ids" dim 1 \("sequence"\) is a dynamic sequence length; pass --seq-len/);
    await oneLine(benchModels([teacher], { ...opts, batchSizes: [0] }), /--batch-size 0: must be a positive integer/);
    await oneLine(benchModels([teacher], { ...opts, batchSizes: [-2] }), /--batch-size -2: must be a positive integer/);
    await oneLine(benchModels([teacher], { ...opts, device: 'tpu' as never }), /unknown device "tpu"/);
    await oneLine(benchModels([teacher], { ...opts, seqLens: [65] }), /teacher\.onnx: --seq-len 65 is longer than the model's 64 positions/);
    // A model onnxruntime loads but cannot run on these shapes.
    const b = new GraphBuilder({ opset: 17 });
    b.input('x', DataType.FLOAT, ['batch', 'sequence']);
    b.node('Reshape', ['x', b.int64([7, 5])], { outputs: ['y'] });
    b.output('y');
    const reshape = join(dir, 'reshape.onnx');
    writeFileSync(reshape, encodeModel(b.build()));
    await oneLine(benchModels([reshape], opts), /reshape\.onnx: onnxruntime failed at batch 1 seq 8: /);
    await oneLine(benchModels([reshape], { ...opts, placement: false }), /reshape\.onnx: onnxruntime failed at batch 1 seq 8: /);
    await oneLine(benchModels([writeImageModel(dir)], opts), /input "pixel_values" dim 2 \("height"\) is dynamic/);
    const image = await benchModels([writeImageModel(dir)], { ...opts, dims: { height: 4, width: 4 }, placement: false });
    expect(image.runs[0]!.latencyMs.count).toBe(1);
  });
});
