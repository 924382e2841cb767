import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { bertConfigJson, buildBertClassifier, defaultBertConfig, type BertConfig } from '../src/architectures/bert.js';
import { main } from '../src/cli/main.js';
import { WordPieceTokenizer } from '../src/data/wordpiece.js';
import { ExitCode } from '../src/errors.js';
import { evaluate } from '../src/eval/evaluator.js';
import { DataType, GraphBuilder, encodeModel, type ModelProto } from '../src/onnx/index.js';
import { cudaInstalled } from '../src/runtime/device.js';

// Fixtures made here: a 31-token WordPiece vocabulary, two tiny random BERT classifiers
// (teacher: seed 1, student: seed 2) with a 16-position table, and data whose labels are the
// teacher's own batch-1, unpadded predictions, so the teacher must score exactly 100 %.
const dir = mkdtempSync(join(tmpdir(), 'distillery-eval-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const words = ['the', 'movie', 'is', 'great', 'bad', 'not', 'a', 'film', 'plot', 'acting', 'fun', 'dull', 'very', 'and', 'but', 'story'];
const vocab = ['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]', ...words, '.', ',', '!', '##s', '##ly', 'bore', '##d', 'love', '##ing', 'hate'];
const labelNames = ['negative', 'positive'];
const tiny: BertConfig = {
  ...defaultBertConfig,
  vocabSize: vocab.length,
  numLabels: 2,
  hiddenSize: 32,
  numHeads: 2,
  intermediateSize: 64,
  numLayers: 1,
  maxPositions: 16,
  initializerRange: 0.5,
};

function writeModel(name: string, model: ModelProto, opts: { config?: Record<string, unknown>; vocab?: boolean } = {}): string {
  const d = join(dir, name);
  mkdirSync(d, { recursive: true });
  writeFileSync(join(d, 'model.onnx'), encodeModel(model));
  if (opts.config) writeFileSync(join(d, 'config.json'), JSON.stringify(opts.config));
  if (opts.vocab ?? true) writeFileSync(join(d, 'vocab.txt'), vocab.join('\n') + '\n');
  return join(d, 'model.onnx');
}

let teacherPath = '';
let studentPath = '';
let dataPath = '';
let namedDataPath = '';
let texts: string[] = [];
let teacherLabels: number[] = [];
let studentPreds: number[] = [];

/** Batch-1, unpadded logits straight from onnxruntime (the reference the evaluator must match). */
async function referenceLogits(modelPath: string, sentences: string[]): Promise<number[][]> {
  const session = await ort.InferenceSession.create(modelPath);
  const tok = WordPieceTokenizer.fromVocabText('vocab.txt', vocab.join('\n'), { maxLength: 16 });
  const out: number[][] = [];
  for (const s of sentences) {
    const { ids, typeIds } = tok.encode(s);
    const t = (a: number[]) => new ort.Tensor('int64', BigInt64Array.from(a.map(BigInt)), [1, a.length]);
    const r = await session.run({ input_ids: t(ids), attention_mask: t(ids.map(() => 1)), token_type_ids: t(typeIds) });
    out.push([...(r.logits!.data as Float32Array)]);
  }
  await session.release();
  return out;
}

beforeAll(async () => {
  const config = bertConfigJson(tiny, labelNames);
  teacherPath = writeModel('teacher', buildBertClassifier(tiny, { seed: 1 }), { config });
  studentPath = writeModel('student', buildBertClassifier(tiny, { seed: 2 }), { config });

  // Seeded sentences of 1..24 words (some longer than the 16-position table).
  let state = 7;
  const rand = (n: number) => {
    state = (state * 1103515245 + 12345) % 2 ** 31;
    return state % n;
  };
  const pool = [...words, 'bored', 'boring', 'loved', 'hate', 'films', 'badly', 'xyzzy'];
  const candidates = Array.from({ length: 80 }, () => Array.from({ length: 1 + rand(24) }, () => pool[rand(pool.length)]).join(' ') + ' .');
  const tLogits = await referenceLogits(teacherPath, candidates);
  // Keep clear decisions only, so float rounding under padding cannot flip an argmax.
  const keep = candidates.map((_, i) => i).filter((i) => Math.abs(tLogits[i]![0]! - tLogits[i]![1]!) > 1e-3);
  texts = keep.map((i) => candidates[i]!);
  teacherLabels = keep.map((i) => (tLogits[i]![1]! > tLogits[i]![0]! ? 1 : 0));
  const sLogits = await referenceLogits(studentPath, texts);
  studentPreds = sLogits.map((l) => (l[1]! > l[0]! ? 1 : 0));
  dataPath = join(dir, 'data.tsv');
  writeFileSync(dataPath, 'sentence\tlabel\n' + texts.map((t, i) => `${t}\t${teacherLabels[i]}`).join('\n') + '\n');
  namedDataPath = join(dir, 'named.jsonl');
  writeFileSync(namedDataPath, texts.map((t, i) => JSON.stringify({ text: t, label: labelNames[teacherLabels[i]!] })).join('\n') + '\n');
}, 120_000);

describe('evaluate (library)', () => {
  it('scores the teacher 100 % on its own predictions, whatever the batching', async () => {
    expect(texts.length).toBeGreaterThan(60);
    for (const [batchSize, sortByLength] of [
      [32, true],
      [7, false],
      [1, true],
    ] as const) {
      const r = await evaluate({ models: [teacherPath], data: dataPath, batchSize, sortByLength });
      expect(r.models[0]!.accuracy, `batch ${batchSize} sort ${sortByLength}`).toBe(1);
      expect(r.models[0]!.macroF1).toBe(1);
      expect(r.data.examples).toBe(texts.length);
      expect(r.data.truncated).toBeGreaterThan(0);
      expect(r.warnings.join('\n')).toMatch(/examples were longer than 16 tokens \(the position table of teacher\/model\) and were truncated/);
    }
  });

  it('compares a student with the teacher: drop, retention, agreement, KL, disagreements', async () => {
    const r = await evaluate({ models: [studentPath, teacherPath], teacher: teacherPath, data: namedDataPath, showDisagreements: 3 });
    const studentAccuracy = studentPreds.filter((p, i) => p === teacherLabels[i]).length / texts.length;
    expect(r.models.map((m) => [m.name, m.role])).toEqual([
      ['teacher/model', 'teacher'],
      ['student/model', 'model'],
      ['teacher/model (3)', 'model'],
    ]);
    expect(r.models[1]!.accuracy).toBeCloseTo(studentAccuracy, 12);
    const [vsStudent, vsSelf] = r.comparisons;
    expect(vsStudent!.teacherAccuracy).toBe(1);
    expect(vsStudent!.dropPoints).toBeCloseTo((1 - studentAccuracy) * 100, 9);
    expect(vsStudent!.retention).toBeCloseTo(studentAccuracy, 12);
    // Labels are the teacher's predictions, so agreement is the student's accuracy.
    expect(vsStudent!.agreement).toBeCloseTo(studentAccuracy, 12);
    expect(vsStudent!.meanKl).toBeGreaterThan(0);
    expect(vsStudent!.disagreementCount).toBe(Math.round((1 - studentAccuracy) * texts.length));
    expect(vsStudent!.disagreements.length).toBe(Math.min(3, vsStudent!.disagreementCount));
    const d = vsStudent!.disagreements[0]!;
    expect(texts[d.line - 1]).toBe(d.text);
    expect(d.teacher).not.toBe(d.model);
    expect(vsSelf!.agreement).toBe(1);
    expect(vsSelf!.meanKl).toBeLessThan(1e-9);
    expect(vsSelf!.dropPoints).toBe(0);
  });

  it('reads int32 inputs from the model metadata, and checks a config-less model against its embedding table', async () => {
    const b = new GraphBuilder({ opset: 17 });
    const ids = b.input('input_ids', DataType.INT32, ['batch', 'sequence']);
    const table = b.initializer('embeddings.word_embeddings.weight', Float32Array.from({ length: vocab.length * 2 }, (_, i) => Math.sin(i)), [vocab.length, 2]);
    const gathered = b.op('Gather', [table, b.op('Cast', [ids], { to: DataType.INT64 })]);
    b.node('ReduceMean', [gathered], { attrs: { axes: [1], keepdims: 0 }, outputs: ['logits'] });
    b.output('logits', DataType.FLOAT, ['batch', 2]);
    const path = writeModel('int32', b.build());
    const r = await evaluate({ models: [path], data: dataPath, labels: 'negative,positive', maxLength: 16 });
    expect(r.models[0]!.examples).toBe(texts.length);
    expect(r.data.labelSource).toBe('--labels');
  });
});

describe('distillery eval (CLI)', () => {
  let stdout = '';
  let stderr = '';
  beforeAll(() => {
    vi.spyOn(process.stdout, 'write').mockImplementation((s: string | Uint8Array) => {
      stdout += String(s);
      return true;
    });
    vi.spyOn(process.stderr, 'write').mockImplementation((s: string | Uint8Array) => {
      stderr += String(s);
      return true;
    });
  });
  afterAll(() => vi.restoreAllMocks());
  afterEach(() => {
    process.exitCode = undefined;
  });

  async function cli(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
    stdout = '';
    stderr = '';
    process.exitCode = undefined;
    const code = await main(['node', 'distillery', 'eval', ...args]);
    process.exitCode = undefined;
    return { code, stdout, stderr };
  }

  it('prints the table and passes the gates it meets', async () => {
    const r = await cli('--model', studentPath, '--teacher', teacherPath, '--data', dataPath, '--min-accuracy', '0', '--max-drop', '100', '--show-disagreements', '2');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/teacher\/model \(teacher\)\s+100\.00 %/);
    expect(r.stdout).toMatch(/student\/model\s+\d+\.\d\d %/);
    expect(r.stdout).toContain('per class: student/model');
    expect(r.stdout).toMatch(/disagreements of \d+/);
    expect(r.stdout).toMatch(/pass --min-accuracy 0\.00 %/);
    expect(r.stderr).toMatch(/warning: \d+ of \d+ examples were longer than 16 tokens/);
  });

  it('fails --min-accuracy with exit 3 and --max-drop with exit 4, saying which bound', async () => {
    const a = await cli('--model', studentPath, '--data', dataPath, '--min-accuracy', '99.9');
    expect(a.code).toBe(ExitCode.gateMinAccuracy);
    expect(a.stderr).toMatch(/gate failed: --min-accuracy 99\.90 %: student\/model scored/);
    const b = await cli('--model', studentPath, '--teacher', teacherPath, '--data', dataPath, '--max-drop', '0.01');
    expect(b.code).toBe(ExitCode.gateMaxDrop);
    expect(b.stderr).toMatch(/gate failed: --max-drop 0\.01 points: student\/model is \d+\.\d\d points below the teacher/);
    const c = await cli('--model', teacherPath, '--teacher', teacherPath, '--data', dataPath, '--max-drop', '0', '--min-accuracy', '1');
    expect(c.code).toBe(0);
  });

  it('prints the documented JSON schema', async () => {
    const r = await cli('--model', studentPath, '--teacher', teacherPath, '--data', dataPath, '--json', '--max-drop', '100');
    expect(r.code).toBe(0);
    const j = JSON.parse(r.stdout);
    expect(Object.keys(j)).toEqual(['schema', 'data', 'models', 'comparisons', 'timing', 'warnings', 'gates', 'passed']);
    expect(j.schema).toBe('onnx-distillery/eval@1');
    expect(Object.keys(j.data)).toEqual(['path', 'format', 'examples', 'columns', 'labels', 'labelSource', 'truncated']);
    expect(Object.keys(j.models[0])).toEqual([
      'name', 'path', 'role', 'device', 'maxLength', 'accuracy', 'macroF1', 'examples', 'nonFinite', 'seconds', 'examplesPerSecond', 'perClass', 'confusionPairs',
    ]);
    expect(Object.keys(j.models[0].perClass[0])).toEqual(['label', 'support', 'predicted', 'precision', 'recall', 'f1']);
    expect(Object.keys(j.comparisons[0])).toEqual([
      'model', 'teacher', 'teacherAccuracy', 'modelAccuracy', 'dropPoints', 'retention', 'agreement', 'meanKl', 'disagreementCount', 'disagreements',
    ]);
    expect(Object.keys(j.timing)).toEqual(['loadSeconds', 'seconds', 'tokenizeSeconds', 'examplesPerSecond']);
    expect(j.gates[0]).toMatchObject({ bound: 'max-drop', model: 'student/model', threshold: 100, passed: true });
    expect(j.passed).toBe(true);
  });

  describe('bad input: one clear line, exit 2', () => {
    async function bad(args: string[], message: RegExp) {
      const r = await cli(...args);
      expect(r.code, r.stderr).toBe(ExitCode.badInput);
      expect(r.stderr).toMatch(message);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
    }

    it('empty dataset', async () => {
      const p = join(dir, 'empty.tsv');
      writeFileSync(p, 'sentence\tlabel\n');
      await bad(['--model', teacherPath, '--data', p], /empty\.tsv: dataset is empty/);
    });

    it('missing text or label column, listing the columns found', async () => {
      const p = join(dir, 'cols.csv');
      writeFileSync(p, 'body,stars\nfun,1\n');
      await bad(['--model', teacherPath, '--data', p], /cols\.csv: no text column .*columns found: body, stars/);
      await bad(['--model', teacherPath, '--data', p, '--text-col', 'body'], /cols\.csv: no label column .*columns found: body, stars/);
    });

    it('a label the model does not know, with its first line', async () => {
      const p = join(dir, 'neutral.tsv');
      writeFileSync(p, 'sentence\tlabel\nfun\tpositive\nmeh\tneutral\nugh\tneutral\n');
      await bad(['--model', teacherPath, '--data', p], /neutral\.tsv:3: label "neutral" is not one the model knows \(labels from .*config\.json: negative, positive\)/);
    });

    it('no tokenizer next to the model', async () => {
      const p = writeModel('no-tokenizer', buildBertClassifier(tiny, { seed: 1 }), { config: bertConfigJson(tiny, labelNames), vocab: false });
      await bad(['--model', p, '--data', dataPath], /no tokenizer next to the model \(looked for tokenizer\.json, vocab\.txt in .*\); pass --tokenizer/);
    });

    it('a tokenizer that does not match the model vocabulary (config or embedding table)', async () => {
      const big = { ...tiny, vocabSize: 5000 };
      const p = writeModel('big-vocab', buildBertClassifier(big, { seed: 1 }), { config: bertConfigJson(big, labelNames) });
      await bad(['--model', p, '--data', dataPath], /the tokenizer has 31 tokens but .*big-vocab\/model\.onnx has 5000 embedding rows \(its word-embedding table\)/);
      const q = writeModel('big-vocab-no-config', buildBertClassifier(big, { seed: 1 }));
      await bad(['--model', q, '--data', dataPath, '--labels', 'a,b'], /has 5000 embedding rows \(its word-embedding table\)/);
    });

    it('a model whose output is not [batch, num_labels]', async () => {
      const b = new GraphBuilder({ opset: 17 });
      const ids = b.input('input_ids', DataType.INT64, ['batch', 'sequence']);
      const table = b.initializer('table', new Float32Array(vocab.length * 2), [vocab.length, 2]);
      b.node('Gather', [table, ids], { outputs: ['logits'] });
      b.output('logits', DataType.FLOAT, ['batch', 'sequence', 2]);
      const p = writeModel('token-level', b.build());
      await bad(['--model', p, '--data', dataPath], /token-level\/model\.onnx: output "logits" has shape \[batch, sequence, 2\], expected \[batch, num_labels\]/);
    });

    it('a model input we cannot fill, and labels that do not fit the output', async () => {
      const b = new GraphBuilder({ opset: 17 });
      const ids = b.input('input_ids', DataType.INT64, ['batch', 'sequence']);
      b.input('pixel_values', DataType.FLOAT, ['batch', 3]);
      const table = b.initializer('table', new Float32Array(vocab.length * 3), [vocab.length, 3]);
      b.node('ReduceMean', [b.op('Gather', [table, ids])], { attrs: { axes: [1], keepdims: 0 }, outputs: ['logits'] });
      b.output('logits', DataType.FLOAT, ['batch', 3]);
      const p = writeModel('pixels', b.build());
      await bad(['--model', p, '--data', dataPath], /pixels\/model\.onnx: cannot fill model input "pixel_values"/);
      await bad(['--model', studentPath, '--data', dataPath, '--labels', 'a,b,c'], /outputs 2 scores but there are 3 labels \(from --labels\)/);
    });

    it('--max-drop without --teacher, bad flags', async () => {
      await bad(['--model', studentPath, '--data', dataPath, '--max-drop', '1'], /--max-drop needs --teacher/);
      await bad(['--model', studentPath, '--data', dataPath, '--min-accuracy', '101'], /--min-accuracy must be a fraction/);
      const r = await cli('--model', studentPath, '--data', dataPath, '--batch-size', '0');
      expect(r.code).toBe(ExitCode.badInput);
    });

    it.skipIf(cudaInstalled())('--device cuda without the CUDA provider says how to install it', async () => {
      await bad(['--model', studentPath, '--data', dataPath, '--device', 'cuda'], /CUDA support is not installed.*ONNXRUNTIME_NODE_INSTALL=cuda12 npm rebuild onnxruntime-node/);
    });
  });
});
