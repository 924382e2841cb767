import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { readAllRecords } from '../src/data/dataset.js';
import { encodeRecords } from '../src/data/encode.js';
import { LabelMap } from '../src/data/labels.js';
import { loadModelConfig, maxSequenceLength, parseModelConfig } from '../src/data/model-config.js';
import { WordPieceTokenizer } from '../src/data/wordpiece.js';
import { UserError } from '../src/errors.js';

const dir = mkdtempSync(join(tmpdir(), 'distillery-labels-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function thrown(f: () => unknown): UserError {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(UserError);
    return e as UserError;
  }
  throw new Error('expected a UserError');
}

describe('model config', () => {
  it('reads config.json next to the model', async () => {
    const model = join(dir, 'm1');
    mkdirSync(model);
    writeFileSync(
      join(model, 'config.json'),
      JSON.stringify({ model_type: 'bert', vocab_size: 30522, max_position_embeddings: 64, id2label: { '1': 'positive', '0': 'negative' }, label2id: { negative: 0, positive: 1 } }),
    );
    writeFileSync(join(model, 'model.onnx'), '');
    const c = (await loadModelConfig(join(model, 'model.onnx')))!;
    expect(c.id2label).toEqual(['negative', 'positive']);
    expect(c.numLabels).toBe(2);
    expect(c.vocabSize).toBe(30522);
    expect(maxSequenceLength(c)).toBe(64);
    expect(await loadModelConfig(join(model))).toBeDefined();
    expect(await loadModelConfig(join(dir, 'nowhere', 'model.onnx'))).toBeUndefined();
  });

  it('derives names from label2id, offsets RoBERTa positions, and rejects broken configs', () => {
    const c = parseModelConfig('c.json', JSON.stringify({ model_type: 'roberta', max_position_embeddings: 514, label2id: { b: 1, a: 0 } }));
    expect(c.id2label).toEqual(['a', 'b']);
    expect(maxSequenceLength(c)).toBe(512);
    expect(thrown(() => parseModelConfig('c.json', '{oops')).message).toMatch(/c\.json: not valid JSON/);
    expect(thrown(() => parseModelConfig('c.json', '{"id2label": {"0": "a", "2": "c"}}')).message).toMatch(/no label for id 1/);
    expect(thrown(() => parseModelConfig('c.json', '{"num_labels": 3, "id2label": {"0": "a", "1": "b"}}')).message).toMatch(/num_labels is 3/);
  });
});

describe('LabelMap', () => {
  const map = new LabelMap(['negative', 'positive'], 'config.json');

  it('maps names (exact, then any case) and integer ids given as numbers or strings', () => {
    expect(map.resolve('positive', 'd.tsv', 2)).toBe(1);
    expect(map.resolve('Negative', 'd.tsv', 2)).toBe(0);
    expect(map.resolve('1', 'd.tsv', 2)).toBe(1);
    expect(map.resolve(0, 'd.tsv', 2)).toBe(0);
  });

  it('names an unknown label, the file and its line', () => {
    expect(thrown(() => map.resolve('neutral', 'd.tsv', 7)).message).toBe(
      'd.tsv:7: label "neutral" is not one the model knows (labels from config.json: negative, positive)',
    );
    expect(thrown(() => map.resolve('2', 'd.tsv', 3)).message).toMatch(/d\.tsv:3: label "2"/);
    expect(thrown(() => map.resolve(-1, 'd.tsv', 3)).message).toMatch(/label "-1"/);
  });

  it('prefers a name over an id when the names are numbers', () => {
    const stars = new LabelMap(['1', '2', '3'], 'config.json');
    expect(stars.resolve('1', 'f', 1)).toBe(0);
    expect(stars.resolve(1, 'f', 1)).toBe(1);
  });

  it('reads --labels as a list or a file', () => {
    expect(LabelMap.fromSpec('neg, pos').names).toEqual(['neg', 'pos']);
    const json = join(dir, 'labels.json');
    writeFileSync(json, JSON.stringify({ id2label: { '0': 'x', '1': 'y' } }));
    expect(LabelMap.fromSpec(json).names).toEqual(['x', 'y']);
    const txt = join(dir, 'labels.txt');
    writeFileSync(txt, 'a\nb\nc\n');
    expect(LabelMap.fromSpec(txt).names).toEqual(['a', 'b', 'c']);
    expect(thrown(() => LabelMap.fromSpec('single')).message).toMatch(/at least two/);
  });

  it('reports the first line where data has a label the model does not know', async () => {
    const data = join(dir, 'unknown.tsv');
    writeFileSync(data, 'sentence\tlabel\ngood\tpositive\nbad\tnegative\nmeh\tneutral\nugh\tneutral\n');
    const vocab = WordPieceTokenizer.fromVocabText('vocab.txt', '[PAD]\n[UNK]\n[CLS]\n[SEP]\ngood\nbad\n');
    const records = await readAllRecords(data);
    expect(thrown(() => encodeRecords(records, vocab, map, data)).message).toBe(
      `${data}:4: label "neutral" is not one the model knows (labels from config.json: negative, positive)`,
    );
    // Without names, labels must be integer ids.
    expect(thrown(() => encodeRecords(records, vocab, undefined, data)).message).toMatch(/:2: label "positive" is a name, but the model has no id2label/);
    const ids = encodeRecords([{ text: 'good', label: '1', line: 2 }], vocab, undefined, data);
    expect(ids[0]!.label).toBe(1);
  });
});
