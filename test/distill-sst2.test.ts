import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { distill } from '../src/distill/distill.js';
import { evaluate } from '../src/eval/evaluator.js';
import { checkModel, loadModel } from '../src/onnx/index.js';

// The pipeline on the real exporter graphs: sst2-bert-mini (teacher) -> sst2-student-init
// (PyTorch-exported student), 2,000 SST-2 training rows, 250 steps (4 epochs). Not the acceptance run (that
// one is a full epoch, see docs/commands/distill.md); this checks it works and learns.
const SHARED = resolve(dirname(fileURLToPath(import.meta.url)), '../../shared');
const teacher = join(SHARED, 'models/sst2-bert-mini/model.onnx');
const student = join(SHARED, 'models/sst2-student-init/model.onnx');
const trainTsv = join(SHARED, 'data/sst2/train.tsv');
const valTsv = join(SHARED, 'data/sst2/validation.tsv');
const hasShared = [teacher, student, trainTsv, valTsv].every((p) => existsSync(p));
if (!hasShared) console.warn(`distill-sst2: ../shared is absent (${SHARED}); skipping the SST-2 distillation test`);

describe.skipIf(!hasShared)('distill on SST-2 (real exporter graphs)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'distillery-sst2-'));
  const previousCache = process.env.DISTILLERY_CACHE_DIR;
  afterAll(() => {
    if (previousCache === undefined) delete process.env.DISTILLERY_CACHE_DIR;
    else process.env.DISTILLERY_CACHE_DIR = previousCache;
    rmSync(dir, { recursive: true, force: true });
  });

  it('distills the PyTorch-exported student above chance and writes a model eval accepts', async () => {
    process.env.DISTILLERY_CACHE_DIR = join(dir, 'cache');
    const subset = join(dir, 'train-2000.tsv');
    writeFileSync(subset, readFileSync(trainTsv, 'utf8').split('\n').slice(0, 2001).join('\n') + '\n');
    const output = join(dir, 'student', 'model.onnx');
    const r = await distill({ teacher, student, train: subset, val: valTsv, output, epochs: 4, maxSteps: 250, batchSize: 32, lr: 2e-3 });
    expect(r.teacher.accuracy).toBeCloseTo(0.8119, 3);
    expect(r.initialAccuracy).toBeCloseTo(0.4908, 3);
    expect(r.steps).toBe(250);
    console.log(`SST-2 subset: student ${r.student.accuracy} after ${r.steps} steps, ${Math.round(r.examplesPerSecond)} examples/s`);
    expect(r.student.accuracy).toBeGreaterThan(0.6);
    expect(r.student.parameters).toBe(4_130_562);
    expect(r.teacher.parameters).toBe(11_056_386);

    // Same graph as the exporter's, new weights: eval reads it with the copied vocab.txt and config.json.
    const written = await loadModel(output);
    const original = await loadModel(student);
    expect(checkModel(written)).toEqual([]);
    expect(written.graph!.node!.map((n) => n.opType)).toEqual(original.graph!.node!.map((n) => n.opType));
    expect(written.graph!.input!.map((i) => i.name)).toEqual(original.graph!.input!.map((i) => i.name));
    const report = await evaluate({ models: [output], data: valTsv });
    expect(report.models[0]!.accuracy).toBeCloseTo(r.student.accuracy!, 6);
    const config = JSON.parse(readFileSync(join(dir, 'student', 'config.json'), 'utf8'));
    expect(config.id2label).toEqual({ 0: 'negative', 1: 'positive' });
  });
});
