import { describe, expect, it } from 'vitest';
import { compareWithBaseline, int8SlowerWarnings, noisyWarning } from '../src/bench/compare.js';
import { noiseReason, summarize } from '../src/bench/percentiles.js';
import type { BenchModel, BenchRun } from '../src/bench/types.js';

function run(model: number, label: string, samples: number[]): BenchRun {
  const latencyMs = summarize(samples);
  const noisy = noiseReason(latencyMs);
  return {
    model, label, batchSize: 1, seqLen: 64, tokensPerBatch: 64, iterations: samples.length, latencyMs,
    throughput: { examplesPerSec: 1000 / latencyMs.mean, tokensPerSec: 64000 / latencyMs.mean }, samplesMs: samples,
    ...(noisy ? { noisy } : {}),
  };
}
const steady = (v: number) => Array.from({ length: 20 }, (_, i) => v + (i % 4) * 0.01 * v);
const model = (label: string, weightKind: BenchModel['weightKind']): BenchModel => ({
  path: `${label}.onnx`, label, fileBytes: 1, weightBytes: 1, weightBytesByDtype: {}, parameters: 1, weightKind,
});

describe('comparisons against the baseline', () => {
  it('sets p50 ratios on every run but the baseline, and tells real differences from noise', () => {
    const runs = [run(0, 'teacher', steady(10)), run(1, 'student', steady(5)), run(2, 'twin', steady(10.05))];
    compareWithBaseline(runs, 0);
    expect(runs[0]!.vsBaseline).toBeUndefined();
    expect(runs[1]!.vsBaseline!.p50Ratio).toBeCloseTo(runs[1]!.latencyMs.p50 / runs[0]!.latencyMs.p50, 12);
    expect(runs[1]!.vsBaseline!.withinNoise).toBe(false);
    expect(runs[2]!.vsBaseline!.withinNoise).toBe(true);
  });

  it('warns loudly when an int8 model is slower than its fp32 baseline, and only then', () => {
    const models = [model('teacher', 'fp32'), model('student-int8', 'int8'), model('student', 'fp32')];
    const slower = [run(0, 'teacher', steady(10)), run(1, 'student-int8', steady(12)), run(2, 'student', steady(13))];
    compareWithBaseline(slower, 0);
    const warnings = int8SlowerWarnings(slower, models, 0, 'Some CPU');
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(/^student-int8 \(int8\) is SLOWER than fp32 teacher on this CPU \(Some CPU\) at batch 1 seq 64: p50 12\.\d+ ms vs 10\.\d+ ms \(1\.20x\)/);
    const faster = [run(0, 'teacher', steady(10)), run(1, 'student-int8', steady(4))];
    compareWithBaseline(faster, 0);
    expect(int8SlowerWarnings(faster, models, 0, 'cpu')).toEqual([]);
    // Against an int8 baseline there is no fp32 reference to be slower than.
    expect(int8SlowerWarnings(slower, [model('a', 'int8'), model('b', 'int8'), model('c', 'int8')], 0, 'cpu')).toEqual([]);
  });

  it('names a block-quantized model by its kind (int4), not int8, when it is the slower one', () => {
    const models = [model('teacher', 'fp32'), model('student-q4', 'int4'), model('student-q8', 'int8-block')];
    const slower = [run(0, 'teacher', steady(10)), run(1, 'student-q4', steady(12)), run(2, 'student-q8', steady(11))];
    compareWithBaseline(slower, 0);
    const warnings = int8SlowerWarnings(slower, models, 0, 'cpu');
    expect(warnings).toHaveLength(2);
    expect(warnings[0]).toMatch(/^student-q4 \(int4\) is SLOWER than fp32 teacher .*; int4 kernels do not pay off here$/);
    expect(warnings[1]).toMatch(/^student-q8 \(int8-block\) is SLOWER than fp32 teacher .*; int8-block kernels do not pay off here$/);
  });

  it('lists noisy results in one warning', () => {
    const runs = [run(0, 'a', steady(10)), run(1, 'b', Array.from({ length: 20 }, (_, i) => (i % 2 ? 5 : 10)))];
    expect(runs[1]!.noisy).toBeDefined();
    expect(noisyWarning(runs)).toMatch(/^1 of 2 results are noisy \(b b1 s64: IQR is \d+% of the median\)/);
    expect(noisyWarning([runs[0]!])).toBeUndefined();
  });
});
