import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bertConfigJson, buildBertClassifier, defaultBertConfig } from '../src/architectures/bert.js';
import { SeededRandom } from '../src/architectures/random.js';
import { checkModel, loadModel, saveModel } from '../src/onnx/index.js';
import { cli as runCli } from './cli-run.js';

// distill with the intermediate losses, end to end through the CLI, on a teacher built in code
// (random weights with a wide initialisation: peaked attention to learn from) and a narrower
// fresh student (so the hidden-state loss needs its projection).
const dir = mkdtempSync(join(tmpdir(), 'distillery-intermediate-'));
const previousCache = process.env.DISTILLERY_CACHE_DIR;
const words = ['the', 'a', 'movie', 'film', 'plot', 'great', 'awful', 'fine', 'was', 'is', 'very', 'and'];
const vocab = ['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]', ...words];
const labels = ['negative', 'neutral', 'positive'];
const teacherPath = join(dir, 'teacher', 'model.onnx');
const trainPath = join(dir, 'train.tsv');
const valPath = join(dir, 'val.tsv');

function rows(n: number, seed: number): string {
  const r = new SeededRandom(seed);
  const lines = Array.from({ length: n }, () => {
    const text = Array.from({ length: 2 + r.int(6) }, () => words[r.int(words.length)]!).join(' ');
    // Mostly one label, so the majority baseline is visible.
    return `${text}\t${labels[r.int(10) < 6 ? 2 : r.int(2)]}`;
  });
  return ['sentence\tlabel', ...lines].join('\n') + '\n';
}

/** The shared in-process CLI runner, called with an argument list. */
const cli = (args: string[]) => runCli(...args);

beforeAll(async () => {
  process.env.DISTILLERY_CACHE_DIR = join(dir, 'cache');
  const cfg = { ...defaultBertConfig, vocabSize: vocab.length, numLabels: 3, hiddenSize: 24, numHeads: 3, intermediateSize: 48, numLayers: 2, maxPositions: 16, initializerRange: 0.3 };
  mkdirSync(join(dir, 'teacher'));
  await saveModel(buildBertClassifier(cfg, { seed: 3 }), teacherPath);
  writeFileSync(join(dir, 'teacher', 'vocab.txt'), vocab.join('\n') + '\n');
  writeFileSync(join(dir, 'teacher', 'config.json'), JSON.stringify(bertConfigJson(cfg, labels)));
  writeFileSync(trainPath, rows(96, 1));
  writeFileSync(valPath, rows(40, 2));
});

afterAll(() => {
  if (previousCache === undefined) delete process.env.DISTILLERY_CACHE_DIR;
  else process.env.DISTILLERY_CACHE_DIR = previousCache;
  rmSync(dir, { recursive: true, force: true });
});

const base = (out: string) => [
  'distill', '--teacher', teacherPath, '--student-config', 'layers=1,hidden=16,heads=2,ffn=32', '--train', trainPath, '--val', valPath,
  '-o', out, '--epochs', '2', '--batch-size', '16', '--lr', '3e-3', '--threads', '1', '--augment', '0', '-q',
];

describe('distill --hidden-loss / --attention-loss', () => {
  it('trains with both, logs their terms, and writes a model with no projection or training node', async () => {
    const out = join(dir, 's1', 'model.onnx');
    const r = await cli([...base(out), '--hidden-loss', 'mse', '--attention-loss', 'kl', '--hidden-weight', '0.5', '--json']);
    expect(r.code).toBe(0);
    const result = JSON.parse(r.stdout);
    expect(result.intermediate).toMatchObject({ layerMap: [1], cached: true });
    expect(result.intermediate.losses).toMatch(/hidden states \(mse, weight 0\.5; embeddings and student layers 0<-1; projection 16->24\) \+ last-layer attention \(KL, weight 1; heads averaged\)/);
    // The majority baseline: the most frequent validation label.
    expect(result.majority.label).toBe('positive');
    expect(result.majority.accuracy).toBeGreaterThan(0.4);
    expect(Array.isArray(result.checks)).toBe(true);

    const steps = readFileSync(`${out}.log.jsonl`, 'utf8').trim().split('\n').map((l) => JSON.parse(l)).filter((l) => l.type === 'step');
    expect(steps.length).toBe(12);
    expect(steps.every((s) => s.hiddenLoss > 0 && s.attentionLoss > 0)).toBe(true);
    expect(steps.at(-1).hiddenLoss).toBeLessThan(steps[0].hiddenLoss);

    const model = await loadModel(out);
    expect(checkModel(model)).toEqual([]);
    expect((model.graph!.initializer ?? []).some((t) => (t.name ?? '').startsWith('kd'))).toBe(false);
    expect(model.graph!.node!.some((n) => (n.name ?? '').startsWith('kd/') || (n.name ?? '').startsWith('grad/'))).toBe(false);
    expect(model.graph!.output!.map((o) => o.name)).toEqual(['logits']);
    const session = await ort.InferenceSession.create(out);
    await session.release();
  });

  it('prints the majority class beside teacher and student', async () => {
    const out = join(dir, 's2', 'model.onnx');
    const r = await cli([...base(out), '--attention-loss', 'kl', '--intermediate-cache-mb', '0']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^majority class +\d+\.\d\d % +always "positive"$/m);
  });

  it("maps a derived student's layers to the teacher blocks they were copied from", async () => {
    const out = join(dir, 's4', 'model.onnx');
    const args = base(out).filter((a, i, all) => a !== '--student-config' && all[i - 1] !== '--student-config');
    const r = await cli([...args, '--student-layers', '1', '--hidden-loss', 'cosine', '--json']);
    expect(r.code).toBe(0);
    const result = JSON.parse(r.stdout);
    expect(result.intermediate.layerMap).toEqual(result.derivedStudent.keptLayers);
    expect(result.intermediate.losses).not.toMatch(/projection/);
  });

  it('refuses a layer map naming a layer the teacher does not have (exit 2, one line)', async () => {
    const r = await cli([...base(join(dir, 's3', 'model.onnx')), '--hidden-loss', 'cosine', '--layer-map', '5']);
    expect(r.code).toBe(2);
    expect(r.stderr.trim()).toBe('error: --layer-map: teacher layer 5 does not exist (the teacher has layers 0-1)');
  });
});
