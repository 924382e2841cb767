import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SeededRandom } from '../src/architectures/random.js';
import { augmentedSet, autoAugmentBelow, autoAugmentCopies, perturbText, resolveAugmentCopies } from '../src/distill/augment.js';
import type { TextSet } from '../src/distill/training-data.js';
import { cli, fixtures } from './cli-run.js';

const train: TextSet = {
  path: 'train.tsv',
  records: [
    { text: 'the refund has not arrived yet', label: 'refund', line: 2 },
    { text: 'how do I activate my new card', label: 'card', line: 3 },
    { text: 'my card payment was declined at the shop', textPair: 'why was it declined', label: 'card', line: 4 },
  ],
  columns: { text: 'sentence', textPair: 'question', label: 'label' },
  unlabeled: false,
};
const trainWords = new Set(train.records.flatMap((r) => `${r.text} ${r.textPair ?? ''}`.split(/\s+/).filter(Boolean)));

describe('perturbText', () => {
  const pool = ['alpha', 'beta', 'gamma'];
  it('leaves a text alone at rate 0 and changes every word position at rate 1', () => {
    const text = 'one two three four five six seven eight nine ten';
    expect(perturbText(text, 0, pool, new SeededRandom(1))).toBe(text);
    const all = perturbText(text, 1, pool, new SeededRandom(1));
    expect(all).not.toBe(text);
    // Only the three moves: every word out is an input word (kept by a swap) or a pool word.
    for (const w of all.split(' ')) expect([...text.split(' '), ...pool]).toContain(w);
  });

  it('perturbs about `rate` of the words, in the three moves', () => {
    const rng = new SeededRandom(7);
    const ws = Array.from({ length: 20000 }, (_, i) => `w${i}`);
    const out = perturbText(ws.join(' '), 0.3, ['POOL'], rng).split(' ');
    const replaced = out.filter((w) => w === 'POOL').length;
    const dropped = ws.length - out.length; // swaps keep the count, replacements too
    // Each move has chance rate/3 = 0.1 per draw; a swap takes two words in one draw, so there
    // are N / 1.1 draws and about 1818 of each move (4 sigma is about 170).
    const each = (ws.length / 1.1) * 0.1;
    expect(Math.abs(replaced - each)).toBeLessThan(170);
    expect(Math.abs(dropped - each)).toBeLessThan(170);
    const inOrder = out.filter((w, i) => w !== 'POOL' && i > 0 && out[i - 1] !== 'POOL' && Number(w.slice(1)) < Number(out[i - 1]!.slice(1))).length;
    expect(Math.abs(inOrder - each)).toBeLessThan(250); // swapped pairs show up as descending neighbours
  });

  it('never returns an empty text', () => {
    for (let s = 0; s < 50; s++) expect(perturbText('hello', 1, [], new SeededRandom(s)).length).toBeGreaterThan(0);
  });
});

describe('augmentedSet', () => {
  it('makes copies x records unlabelled texts from the training words, pairs perturbed too', () => {
    const set = augmentedSet(train, { copies: 3, rate: 0.5, seed: 0 });
    expect(set.records).toHaveLength(9);
    expect(set.unlabeled).toBe(true);
    expect(set.path).toBe('train.tsv');
    for (const r of set.records) {
      expect(r.label).toBeUndefined();
      for (const w of r.text.split(' ')) expect(trainWords.has(w)).toBe(true);
    }
    expect(set.records.filter((r) => r.textPair !== undefined)).toHaveLength(3);
    // The cache key of the teacher logits sees the augmentation through the columns.
    expect(set.columns.augment).toBe('copies=3,rate=0.5,seed=0');
  });

  it('is the same for the same seed and differs for another', () => {
    const a = augmentedSet(train, { copies: 4, rate: 0.3, seed: 5 }).records.map((r) => r.text);
    const b = augmentedSet(train, { copies: 4, rate: 0.3, seed: 5 }).records.map((r) => r.text);
    const c = augmentedSet(train, { copies: 4, rate: 0.3, seed: 6 }).records.map((r) => r.text);
    expect(b).toEqual(a);
    expect(c).not.toEqual(a);
  });
});

describe('resolveAugmentCopies', () => {
  it('auto augments small training sets only; a number is taken as given', () => {
    expect(resolveAugmentCopies('auto', autoAugmentBelow - 1)).toBe(autoAugmentCopies);
    expect(resolveAugmentCopies('auto', autoAugmentBelow)).toBe(0);
    expect(resolveAugmentCopies(0, 10)).toBe(0);
    expect(resolveAugmentCopies(3, 10 ** 6)).toBe(3);
  });
});

describe('distill --augment', () => {
  let dir: string;
  const previousCache = process.env.DISTILLERY_CACHE_DIR;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'distillery-augment-'));
    process.env.DISTILLERY_CACHE_DIR = join(dir, 'cache');
  });
  afterAll(() => {
    rmSync(dir, { recursive: true, force: true });
    if (previousCache === undefined) delete process.env.DISTILLERY_CACHE_DIR;
    else process.env.DISTILLERY_CACHE_DIR = previousCache;
  });
  const base = () => ['distill', '--teacher', join(fixtures, 'tiny-bert/model.onnx'), '--student-layers', '1', '--train', join(fixtures, 'data/spam-train.jsonl'), '--epochs', '1', '--threads', '1', '--json'];
  const trainTexts = readFileSync(join(fixtures, 'data/spam-train.jsonl'), 'utf8').trim().split('\n').length;

  it('--augment auto trains on a small training set plus two teacher-labelled copies of each text, and says so', async () => {
    const r = await cli(...base(), '--augment', 'auto', '-o', join(dir, 'auto/model.onnx'));
    expect(r.code, r.stderr).toBe(0);
    const j = JSON.parse(r.stdout);
    expect(j.augmentation).toEqual({ copies: 2, rate: 0.3, examples: 2 * trainTexts, auto: true });
    expect(j.examplesSeen).toBe(3 * trainTexts);
    expect(j.teacherLogits.examples).toBe(3 * trainTexts);
    expect(j.unlabeledExamples).toBe(0);
  });

  it('by default trains on the training texts alone; another count is a new teacher-logit cache entry', async () => {
    const none = JSON.parse((await cli(...base(), '-o', join(dir, 'none/model.onnx'))).stdout);
    expect(none.augmentation).toEqual({ copies: 0, rate: 0.3, examples: 0, auto: false });
    expect(none.augmentation.examples).toBe(0);
    expect(none.examplesSeen).toBe(trainTexts);
    const one = JSON.parse((await cli(...base(), '--augment', '1', '--augment-rate', '0.5', '-o', join(dir, 'one/model.onnx'))).stdout);
    expect(one.augmentation).toEqual({ copies: 1, rate: 0.5, examples: trainTexts, auto: false });
    expect(one.teacherLogits.cached).toBe(false);
    expect(one.teacherLogits.examples).toBe(2 * trainTexts);
  });

  it('says when --augment-rate does nothing; the log counts every example and each kind apart', async () => {
    const idle = JSON.parse((await cli(...base(), '--augment-rate', '0.5', '-o', join(dir, 'idle/model.onnx'))).stdout);
    expect(idle.warnings).toContain('--augment-rate 0.5 has no effect: no --augment copies are made');
    const out = join(dir, 'log/model.onnx');
    const unlabeled = join(fixtures, 'data/spam-test.jsonl');
    const unlabeledTexts = readFileSync(unlabeled, 'utf8').trim().split('\n').length;
    const r = JSON.parse((await cli(...base(), '--augment', '1', '--unlabeled', unlabeled, '-o', out)).stdout);
    const start = JSON.parse(readFileSync(`${out}.log.jsonl`, 'utf8').split('\n')[0]!);
    expect(start).toMatchObject({ type: 'start', trainExamples: r.trainExamples, labelledExamples: trainTexts, unlabeledExamples: unlabeledTexts, augmentedExamples: trainTexts });
    expect(r.trainExamples).toBe(2 * trainTexts + unlabeledTexts);
  });

  it('--prune-vocab counts the training texts, not their copies', async () => {
    const counts = async (augment: string, minCount: string) =>
      JSON.parse((await cli(...base(), '--augment', augment, '--prune-vocab', minCount, '-o', join(dir, `pv-${augment}-${minCount}/model.onnx`))).stdout).prunedVocab.tokensAfter;
    const once = await counts('0', '1');
    const twice = await counts('0', '2');
    expect(twice).toBeLessThan(once); // some tokens are used once: copies would lift them to 2 or more
    expect(await counts('2', '2')).toBe(twice);
  });

  it('labels-only training makes no copies; asking for them there is refused', async () => {
    const ce = JSON.parse((await cli(...base(), '--loss', 'ce', '--augment', 'auto', '-o', join(dir, 'ce/model.onnx'))).stdout);
    expect(ce.augmentation.examples).toBe(0);
    const refused = await cli(...base(), '--loss', 'ce', '--augment', '2', '-o', join(dir, 'ce2/model.onnx'));
    expect(refused.code).toBe(2);
    expect(refused.stderr).toMatch(/--augment: .*teacher only.*--loss ce/);
    const noTeacherTerm = await cli(...base(), '--loss', 'mse', '--alpha', '0', '--augment', '1', '-o', join(dir, 'mse0/model.onnx'));
    expect(noTeacherTerm.code).toBe(2);
    const bad = await cli(...base(), '--augment', 'lots', '-o', join(dir, 'bad/model.onnx'));
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/--augment must be auto or a non-negative integer/);
  });
});
