// Worker-process isolation runs the compiled worker (dist/), so this file tests the built
// library; it skips when dist/ is missing or older than the sources (run `npm run build`).
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { benchModels as BenchModelsFn } from '../src/bench/index.js';
import { DataType, encodeModel, GraphBuilder } from '../src/onnx/index.js';
import { fixtureDir, removeFixtureDirs, writeBert } from './bench-fixtures.js';

afterAll(removeFixtureDirs);

const root = resolve(import.meta.dirname, '..');
const built = join(root, 'dist/src/bench/index.js');
const sources = join(root, 'src/bench');
const fresh =
  existsSync(built) &&
  readdirSync(sources).every((f) => {
    const out = join(root, 'dist/src/bench', f.replace(/\.ts$/, '.js'));
    return existsSync(out) && statSync(out).mtimeMs >= statSync(join(sources, f)).mtimeMs;
  });
if (!fresh) console.warn('bench-isolated: dist/src/bench is missing or older than src/bench; run `npm run build` to test worker isolation');

function benchWorkers(): string[] {
  const out = execFileSync('ps', ['-o', 'pid=,args=', '--ppid', String(process.pid)], { encoding: 'utf8' });
  return out.split('\n').filter((l) => l.includes('bench/worker.js'));
}

describe.skipIf(!fresh)('benchModels in worker processes', () => {
  let benchModels: typeof BenchModelsFn;
  let dir: string;
  let teacher: string;
  let student: string;

  beforeAll(async () => {
    ({ benchModels } = (await import(built)) as { benchModels: typeof BenchModelsFn });
    dir = fixtureDir();
    teacher = writeBert(dir, 'teacher.onnx', { vocabSize: 8000, numLabels: 2, hiddenSize: 64, numHeads: 2, intermediateSize: 128, numLayers: 2, maxPositions: 64, typeVocabSize: 2, layerNormEps: 1e-12, initializerRange: 0.02 });
    student = writeBert(dir, 'student.onnx');
  });

  it('measures each model in its own process: memory per model, placement, interleaved timing', async () => {
    const r = await benchModels([teacher, student], { seqLens: [8], warmup: 1, iterations: 6, blockSize: 3 });
    expect(r.settings.isolation).toBe('process');
    expect(r.runs.map((x) => [x.label, x.latencyMs.count])).toEqual([['teacher', 6], ['student', 6]]);
    for (const m of r.models) {
      expect(m.memory!.method).toBe('process');
      expect(m.memory!.sessionRssBytes).toBeGreaterThan(0);
      expect(m.memory!.peakRssBytes).toBeGreaterThan(m.memory!.sessionRssBytes);
      expect(m.placement!.nodes).toBeGreaterThan(10);
    }
    // The teacher's embedding table alone is 8000 x 64 floats (2 MB) more than the student's.
    expect(r.models[0]!.memory!.sessionRssBytes).toBeGreaterThan(r.models[1]!.memory!.sessionRssBytes);
    expect(benchWorkers()).toEqual([]);
  });

  it('stops workers mid-block when aborted, and reports their failures in one line', async () => {
    const controller = new AbortController();
    // Abort once timing has begun (a fixed timer from the start is flaky: a loaded machine may
    // still be starting the worker when it fires).
    const onProgress = (p: { phase: string }) => {
      if (p.phase === 'warmup') setTimeout(() => controller.abort(), 300);
    };
    const r = await benchModels(
      [student],
      { seqLens: [8], warmup: 0, iterations: 10_000_000, blockSize: 10_000_000, placement: false, signal: controller.signal },
      onProgress,
    );
    expect(r.complete).toBe(false);
    expect(r.runs[0]!.latencyMs.count).toBeGreaterThan(0);
    expect(r.runs[0]!.latencyMs.count).toBeLessThan(10_000_000);

    const b = new GraphBuilder({ opset: 17 });
    b.input('x', DataType.FLOAT, ['batch', 'sequence']);
    b.node('Reshape', ['x', b.int64([7, 5])], { outputs: ['y'] });
    b.output('y');
    const reshape = join(dir, 'reshape.onnx');
    writeFileSync(reshape, encodeModel(b.build()));
    const e = (await benchModels([reshape], { seqLens: [8] }).catch((err: unknown) => err)) as Error;
    expect(e.name).toBe('UserError');
    expect(e.message).toMatch(/reshape\.onnx: onnxruntime failed at batch 1 seq 8: .*Reshape/);
    expect(e.message).not.toContain('\n');
    expect(benchWorkers()).toEqual([]);
  });
});
