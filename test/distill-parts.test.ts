import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { epochBatches } from '../src/distill/epoch-order.js';
import { resolveLossSpec, resolveRecipe } from '../src/distill/options.js';
import { bertConfigFromSpec, parseArchitectureSpec } from '../src/distill/student-config.js';
import { labelsFromData, readUnlabeledSet } from '../src/distill/training-data.js';
import { UserError } from '../src/errors.js';

describe('--student-config / --config', () => {
  it('parses our keys and Hugging Face names', () => {
    expect(parseArchitectureSpec('layers=2,hidden=128,heads=2,ffn=512')).toEqual({ layers: 2, hidden: 128, heads: 2, ffn: 512 });
    expect(parseArchitectureSpec('num_hidden_layers=4, hidden_size=256 ,positions=64')).toEqual({ layers: 4, hidden: 256, positions: 64 });
  });
  it('rejects unknown keys, bad values and bad shapes', () => {
    expect(() => parseArchitectureSpec('layer=2')).toThrow(/unknown key "layer"/);
    expect(() => parseArchitectureSpec('layers=two')).toThrow(UserError);
    expect(() => parseArchitectureSpec('layers=0')).toThrow(/positive integer/);
    expect(() => parseArchitectureSpec('layers')).toThrow(/not key=value/);
    expect(() => bertConfigFromSpec({ hidden: 100, heads: 3 }, { vocabSize: 10, numLabels: 2 })).toThrow(/not a multiple/);
  });
  it('fills defaults and takes vocabulary, labels and positions from outside', () => {
    const c = bertConfigFromSpec({ layers: 1, hidden: 64 }, { vocabSize: 999, numLabels: 3, maxPositions: 64 });
    expect(c).toMatchObject({ numLayers: 1, hiddenSize: 64, numHeads: 2, intermediateSize: 256, vocabSize: 999, numLabels: 3, maxPositions: 64 });
  });
});

describe('epoch batch order', () => {
  const lengths = Array.from({ length: 1000 }, (_, i) => 3 + ((i * 7919) % 61));
  it('covers every example once per epoch, in ceil(n / batch) batches', () => {
    const batches = epochBatches(lengths, { batchSize: 32, seed: 1, epoch: 0, bucket: 4 });
    expect(batches.length).toBe(Math.ceil(1000 / 32));
    expect(batches.flat().sort((a, b) => a - b)).toEqual(lengths.map((_, i) => i));
  });
  it('is a function of seed and epoch', () => {
    const a = epochBatches(lengths, { batchSize: 32, seed: 1, epoch: 0 });
    expect(epochBatches(lengths, { batchSize: 32, seed: 1, epoch: 0 })).toEqual(a);
    expect(epochBatches(lengths, { batchSize: 32, seed: 1, epoch: 1 })).not.toEqual(a);
    expect(epochBatches(lengths, { batchSize: 32, seed: 2, epoch: 0 })).not.toEqual(a);
  });
  it('length bucketing cuts padding against random batches', () => {
    const padding = (batches: number[][]) =>
      batches.reduce((s, b) => s + b.length * Math.max(...b.map((i) => lengths[i]!)) - b.reduce((t, i) => t + lengths[i]!, 0), 0);
    const bucketed = padding(epochBatches(lengths, { batchSize: 32, seed: 3, epoch: 0, bucket: 10 }));
    const random = padding(epochBatches(lengths, { batchSize: 32, seed: 3, epoch: 0, bucket: 0 }));
    expect(bucketed).toBeLessThan(random / 4);
  });
});

describe('recipe and loss checks', () => {
  it('fills the defaults', () => {
    const r = resolveRecipe({}, true);
    expect(r).toMatchObject({ epochs: 3, batchSize: 32, lr: 5e-4, seed: 0, warmup: 0.06, schedule: 'linear', optimizer: 'adamw', select: 'best', bucket: 100 });
    expect(resolveRecipe({}, false).select).toBe('last');
    expect(resolveLossSpec({})).toEqual({ kind: 'kl', temperature: 2, alpha: 0.5 });
  });
  it('names the flag of a bad value', () => {
    expect(() => resolveRecipe({ patience: 2 }, false)).toThrow(/--patience needs validation data/);
    expect(() => resolveRecipe({ select: 'best' }, false)).toThrow(/--select best needs/);
    expect(() => resolveRecipe({ lr: -1 }, true)).toThrow(/--lr must be a positive number/);
    expect(() => resolveRecipe({ warmup: 1.5 }, true)).toThrow(/--warmup/);
    expect(() => resolveLossSpec({ alpha: 2 })).toThrow(/--alpha/);
    expect(() => resolveLossSpec({ temperature: 0 })).toThrow(/--temperature/);
  });
});

describe('labels from the data', () => {
  const set = (labels: string[]) => ({ path: 'd.csv', records: labels.map((label, i) => ({ text: 'x', label, line: i + 2 })), columns: { text: 'text' }, unlabeled: false });
  it('sorts names by code point and integers numerically', () => {
    expect(labelsFromData(set(['b', 'a', 'c', 'a'])).names).toEqual(['a', 'b', 'c']);
    expect(labelsFromData(set(['10', '2', '1'])).names).toEqual(['1', '2', '10']);
  });
  it('needs two labels', () => {
    expect(() => labelsFromData(set(['a', 'a']))).toThrow(/at least 2/);
  });
});

describe('transfer sets (--unlabeled)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'distillery-transfer-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  it('reads .txt as one text per line, skipping blank lines', async () => {
    const p = join(dir, 'more.txt');
    writeFileSync(p, '\uFEFFfirst text\n\n  second, with\ttab  \r\nthird\n');
    const set = await readUnlabeledSet(p);
    expect(set.unlabeled).toBe(true);
    expect(set.records.map((r) => [r.text, r.line])).toEqual([['first text', 1], ['second, with\ttab', 3], ['third', 4]]);
  });
  it('takes the text column of csv/jsonl and drops any label', async () => {
    const csv = join(dir, 'more.csv');
    writeFileSync(csv, 'text,category\n"hello, there",greet\nbye,leave\n');
    expect((await readUnlabeledSet(csv)).records).toEqual([{ text: 'hello, there', line: 2 }, { text: 'bye', line: 3 }]);
    const jsonl = join(dir, 'more.jsonl');
    writeFileSync(jsonl, '{"sentence": "a b", "label": 1}\n{"sentence": "c"}\n');
    expect((await readUnlabeledSet(jsonl)).records.map((r) => r.text)).toEqual(['a b', 'c']);
  });
  it('an empty .txt is an error naming the file', async () => {
    const p = join(dir, 'empty.txt');
    writeFileSync(p, '\n\n');
    await expect(readUnlabeledSet(p)).rejects.toThrow(/empty.txt: no texts/);
  });
});
