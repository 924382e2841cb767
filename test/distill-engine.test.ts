import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SeededRandom } from '../src/architectures/random.js';
import { distill } from '../src/distill/distill.js';
import type { DistillOptions, TrainingEvent } from '../src/distill/options.js';
import { ExitCode } from '../src/errors.js';
import { checkModel, loadModel } from '../src/onnx/index.js';
import { cli as runCli } from './cli-run.js';

// A synthetic task: filler words plus one keyword that decides the label (three classes). A tiny
// teacher is trained on it with `train` (fresh BERT, WordPiece vocabulary built from the texts),
// then distilled into a smaller fresh student.
const dir = mkdtempSync(join(tmpdir(), 'distillery-distill-'));
const previousCache = process.env.DISTILLERY_CACHE_DIR;
const filler = ['the', 'a', 'movie', 'film', 'plot', 'story', 'was', 'is', 'and', 'very', 'quite', 'acting', 'music', 'really', 'it', 'this'];
const keywords: Record<string, string[]> = { negative: ['awful', 'boring', 'dull'], neutral: ['okay', 'average', 'fine'], positive: ['great', 'superb', 'lovely'] };
const labelNames = Object.keys(keywords);

function makeRows(n: number, seed: number): string[] {
  const rng = new SeededRandom(seed);
  const rows: string[] = [];
  for (let i = 0; i < n; i++) {
    const label = labelNames[rng.int(3)]!;
    const words = Array.from({ length: 1 + rng.int(3) }, () => filler[rng.int(filler.length)]!);
    words.splice(rng.int(words.length + 1), 0, keywords[label]![rng.int(3)]!);
    rows.push(`${words.join(' ')}\t${label}`);
  }
  return rows;
}

const trainPath = join(dir, 'train.tsv');
const valPath = join(dir, 'val.tsv');
const unlabeledPath = join(dir, 'more.txt');
const teacherPath = join(dir, 'teacher', 'model.onnx');
const common = ['--threads', '1', '-q'];

/** The shared in-process CLI runner, called with an argument list. */
const cli = (args: string[]) => runCli(...args);

const studentOptions = (output: string, extra: Partial<DistillOptions> = {}): DistillOptions => ({
  teacher: teacherPath,
  studentConfig: 'layers=1,hidden=32,heads=4,ffn=64',
  train: trainPath,
  val: valPath,
  output,
  epochs: 2,
  lr: 2e-3,
  batchSize: 16,
  threads: 1,
  ...extra,
});

beforeAll(async () => {
  process.env.DISTILLERY_CACHE_DIR = join(dir, 'cache');
  writeFileSync(trainPath, ['sentence\tlabel', ...makeRows(480, 1)].join('\n') + '\n');
  writeFileSync(valPath, ['sentence\tlabel', ...makeRows(150, 2)].join('\n') + '\n');
  writeFileSync(unlabeledPath, makeRows(200, 3).map((r) => r.split('\t')[0]).join('\n') + '\n');
  const r = await cli([
    'train', '--config', 'layers=2,hidden=32,heads=2,ffn=64,positions=16', '--build-vocab', '120',
    '--train', trainPath, '--val', valPath, '-o', teacherPath, '--epochs', '8', '--lr', '2e-3', '--select', 'last', '--batch-size', '16', ...common,
  ]);
  expect(r.stderr).toBe('');
  expect(r.code).toBe(0);
});

afterAll(() => {
  if (previousCache === undefined) delete process.env.DISTILLERY_CACHE_DIR;
  else process.env.DISTILLERY_CACHE_DIR = previousCache;
  rmSync(dir, { recursive: true, force: true });
});

describe('train (hard labels, fresh BERT, built vocabulary)', () => {
  it('writes a teacher that learned the task, with config.json and vocab.txt', async () => {
    const config = JSON.parse(readFileSync(join(dir, 'teacher', 'config.json'), 'utf8'));
    expect(config).toMatchObject({ model_type: 'bert', num_hidden_layers: 2, hidden_size: 32, max_position_embeddings: 16, num_labels: 3 });
    expect(config.id2label).toEqual({ 0: 'negative', 1: 'neutral', 2: 'positive' });
    expect(readFileSync(join(dir, 'teacher', 'vocab.txt'), 'utf8').split('\n').slice(0, 5)).toEqual(['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]']);
    const r = await cli(['eval', '-m', teacherPath, '-d', valPath, '--json', '-q']);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout).models[0].accuracy).toBeGreaterThan(0.9);
  });
});

describe('distill', () => {
  let first: Awaited<ReturnType<typeof distill>>;
  const out1 = join(dir, 'student1', 'model.onnx');

  it('distills into a fresh student that beats chance, and writes a clean inference model', async () => {
    const events: TrainingEvent[] = [];
    // No --augment copies: the step and evaluation counts below are those of the files given.
    first = await distill(studentOptions(out1, { unlabeled: [unlabeledPath], evalEvery: 50, epochs: 6, augment: 0 }), (e) => events.push(e));
    console.log(`synthetic task: teacher ${first.teacher.accuracy}, student ${first.student.accuracy} (from ${first.initialAccuracy})`);
    expect(first.teacher.accuracy).toBeGreaterThan(0.9);
    expect(first.student.accuracy).toBeGreaterThan(0.8);
    expect(first.initialAccuracy).toBeLessThan(0.6);
    expect(first.unlabeledExamples).toBe(200);
    expect(first.trainExamples).toBe(680);
    expect(first.steps).toBe(6 * 43);
    expect(first.losses.length).toBe(first.steps);
    // Before training, every 50 steps, and after every epoch (43 steps).
    expect(first.evals.map((e) => e.step)).toEqual([0, 43, 50, 86, 100, 129, 150, 172, 200, 215, 250, 258]);
    expect(first.student.parameters).toBeLessThan(first.teacher.parameters);
    expect(first.teacherLogits.cached).toBe(false);
    expect(events.some((e) => e.type === 'teacher-progress')).toBe(true);
    expect(events.filter((e) => e.type === 'step').length).toBe(first.steps);

    // The inference graph: loads in onnxruntime, passes the checker, same inputs and outputs as a fresh model.
    const model = await loadModel(out1);
    expect(checkModel(model)).toEqual([]);
    expect(model.graph!.input!.map((i) => i.name)).toEqual(['input_ids', 'attention_mask', 'token_type_ids']);
    expect(model.graph!.output!.map((o) => o.name)).toEqual(['logits']);
    const session = await ort.InferenceSession.create(out1);
    await session.release();
    const config = JSON.parse(readFileSync(join(dir, 'student1', 'config.json'), 'utf8'));
    const teacherConfig = JSON.parse(readFileSync(join(dir, 'teacher', 'config.json'), 'utf8'));
    expect(config).toMatchObject({ num_hidden_layers: 1, num_attention_heads: 4, hidden_size: 32, max_position_embeddings: 16, vocab_size: teacherConfig.vocab_size });
    expect(config.id2label).toEqual({ 0: 'negative', 1: 'neutral', 2: 'positive' });
    expect(readFileSync(join(dir, 'student1', 'vocab.txt'), 'utf8')).toBe(readFileSync(join(dir, 'teacher', 'vocab.txt'), 'utf8'));

    // The JSONL log: a start line, a line per step, eval lines, an end line.
    const lines = readFileSync(`${out1}.log.jsonl`, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    expect(lines[0].type).toBe('start');
    expect(lines.filter((l) => l.type === 'step').length).toBe(first.steps);
    expect(lines.filter((l) => l.type === 'eval').length).toBe(first.evals.length);
    expect(lines.at(-1).type).toBe('end');
    expect(existsSync(join(dir, 'student1', 'model.checkpoints', 'best.onnx'))).toBe(true);
  });

  it('the same seed gives identical bytes; the teacher logits come from the cache', async () => {
    const out = join(dir, 'student1b', 'model.onnx');
    const again = await distill(studentOptions(out, { unlabeled: [unlabeledPath], evalEvery: 50, epochs: 6, augment: 0 }));
    expect(again.teacherLogits.cached).toBe(true);
    expect(readFileSync(out).equals(readFileSync(out1))).toBe(true);
  });

  it('resume continues exactly where an interrupted run stopped', async () => {
    const whole = join(dir, 'whole', 'model.onnx');
    await distill(studentOptions(whole, { maxSteps: 30, select: 'last', evalEvery: 10 }));
    const parts = join(dir, 'parts', 'model.onnx');
    const controller = new AbortController();
    const stopped = distill(studentOptions(parts, { maxSteps: 30, select: 'last', evalEvery: 10, signal: controller.signal }), (e) => {
      if (e.type === 'step' && e.step === 13) controller.abort();
    });
    await expect(stopped).rejects.toMatchObject({ exitCode: ExitCode.interrupted });
    const resumed = await distill(studentOptions(parts, { maxSteps: 30, select: 'last', evalEvery: 10, resume: true }));
    expect(resumed.steps).toBe(30);
    expect(resumed.losses.length).toBe(30);
    expect(readFileSync(parts).equals(readFileSync(whole))).toBe(true);
    const log = readFileSync(`${parts}.log.jsonl`, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    expect(log.map((l) => l.type)).toContain('resume');
    expect(log.filter((l) => l.type === 'step').length).toBe(30);
  });

  it('stops early after --patience evaluations without improvement', async () => {
    // A learning rate too small to change a float32 weight: every evaluation ties the first.
    const r = await distill(studentOptions(join(dir, 'patience', 'model.onnx'), { lr: 1e-12, warmup: 0, evalEvery: 5, patience: 2, maxSteps: 100 }));
    expect(r.stopReason).toBe('early-stopping');
    expect(r.steps).toBe(10);
    expect(r.evals.map((e) => e.step)).toEqual([0, 5, 10]);
    expect(r.best!.step).toBe(0);
  });

  it('dropout is seeded: the same seed gives the same weights, and they differ from no dropout', async () => {
    const run = (name: string, extra: Partial<DistillOptions>) => distill(studentOptions(join(dir, name, 'model.onnx'), { maxSteps: 15, select: 'last', ...extra }));
    await run('drop-a', { dropout: 0.1 });
    await run('drop-b', { dropout: 0.1 });
    await run('drop-none', {});
    const bytes = (name: string) => readFileSync(join(dir, name, 'model.onnx'));
    expect(bytes('drop-a').equals(bytes('drop-b'))).toBe(true);
    expect(bytes('drop-a').equals(bytes('drop-none'))).toBe(false);
  });

  it('refuses to overwrite without --force, and never writes over an input', async () => {
    const args = ['distill', '--teacher', teacherPath, '--student-config', 'layers=1,hidden=32,heads=4,ffn=64', '--train', trainPath, '--max-steps', '2', ...common];
    const r = await cli([...args, '-o', out1]);
    expect(r.code).toBe(ExitCode.badInput);
    expect(r.stderr).toMatch(/already exists \(use --force to overwrite\)/);
    // Next to the teacher, config.json and vocab.txt would replace the teacher's own.
    const clobber = await cli([...args, '-o', join(dir, 'teacher', 'other.onnx'), '--force']);
    expect(clobber.code).toBe(ExitCode.badInput);
    expect(clobber.stderr).toMatch(/would overwrite an input/);
  });

  it('CLI: distills from a --student model with the mse loss and prints the final table', async () => {
    const out = join(dir, 'student2', 'model.onnx');
    const r = await cli([
      'distill', '--teacher', teacherPath, '--student', out1, '--train', trainPath, '--val', valPath, '-o', out,
      '--loss', 'mse', '--max-steps', '10', '--lr', '1e-3', '--freeze', 'embeddings', ...common,
    ]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/teacher\s+\d+\.\d\d %/);
    expect(r.stdout).toMatch(/retained/);
    expect(existsSync(join(dir, 'student2', 'config.json'))).toBe(true);
    // Frozen embeddings are unchanged.
    const before = (await loadModel(out1)).graph!.initializer!.find((t) => t.name === 'bert.embeddings.word_embeddings.weight')!;
    const after = (await loadModel(out)).graph!.initializer!.find((t) => t.name === 'bert.embeddings.word_embeddings.weight')!;
    expect(Buffer.from(after.rawData!).equals(Buffer.from(before.rawData!))).toBe(true);
  });

  it('stops on divergence with exit code 5 and keeps the last good checkpoint', async () => {
    const out = join(dir, 'diverged', 'model.onnx');
    const r = await cli([
      'distill', '--teacher', teacherPath, '--student-config', 'layers=1,hidden=32,heads=4,ffn=64', '--train', trainPath, '-o', out,
      '--lr', '1e30', '--warmup', '0', '--max-grad-norm', '0', '--max-steps', '50', ...common,
    ]);
    expect(r.code).toBe(ExitCode.diverged);
    expect(r.stderr).toMatch(/diverged at step \d+/);
    expect(existsSync(out)).toBe(false);
    const state = JSON.parse(readFileSync(join(dir, 'diverged', 'model.checkpoints', 'state.json'), 'utf8'));
    expect(existsSync(join(dir, 'diverged', 'model.checkpoints', state.stateFile))).toBe(true);
    const log = readFileSync(`${out}.log.jsonl`, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    expect(log.at(-1).type).toBe('diverged');
  });
});
