import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bertConfigJson, buildBertClassifier, defaultBertConfig } from '../src/architectures/bert.js';
import { SeededRandom } from '../src/architectures/random.js';
import { findEncoderStructure } from '../src/architectures/encoder-structure.js';
import { HfTokenizer } from '../src/data/hf-tokenizer.js';
import { WordPieceTokenizer } from '../src/data/wordpiece.js';
import { distill } from '../src/distill/distill.js';
import { planVocabPruning, producibleBy, pruneWordEmbeddings, usedTokenIds } from '../src/distill/prune-vocab.js';
import { checkModel, encodeModel, loadModel, tensorDims, type ModelProto } from '../src/onnx/index.js';
import { cli as runCli } from './cli-run.js';

// A tiny WordPiece vocabulary: specials, unused slots, single characters bare and ##, some words.
const letters = 'abcdefghijklmnopqrstuvwxyz'.split('');
const words = ['the', 'movie', 'film', 'was', 'great', 'awful', 'okay', 'plot', 'fine', 'dull', 'superb', 'story', '##ing', '##ed', 'act', 'music', 'boring', 'lovely'];
const vocab = ['[PAD]', ...Array.from({ length: 10 }, (_, i) => `[unused${i}]`), '[UNK]', '[CLS]', '[SEP]', '[MASK]', '.', ',', '!', ...letters, ...letters.map((l) => `##${l}`), ...words, 'zebra', 'quantum', 'galaxy', '##xyz', '北', '##北', '##!'];
const labelNames = ['negative', 'neutral', 'positive'];
const config = { ...defaultBertConfig, vocabSize: vocab.length, numLabels: 3, hiddenSize: 16, numHeads: 2, intermediateSize: 32, numLayers: 4, maxPositions: 32 };

const dir = mkdtempSync(join(tmpdir(), 'distillery-derive-'));
const teacherDir = join(dir, 'teacher');
const teacherPath = join(teacherDir, 'model.onnx');
const trainPath = join(dir, 'train.tsv');
const valPath = join(dir, 'val.tsv');
const previousCache = process.env.DISTILLERY_CACHE_DIR;

function rows(n: number, seed: number, pool: string[]): string[] {
  const rng = new SeededRandom(seed);
  return Array.from({ length: n }, () => {
    const text = Array.from({ length: 2 + rng.int(4) }, () => pool[rng.int(pool.length)]!).join(' ');
    return `${text}\t${labelNames[rng.int(3)]}`;
  });
}

/** The shared in-process CLI runner, called with an argument list. */
const cli = (args: string[]) => runCli(...args);

async function logitsOf(model: ModelProto, ids: number[][]) {
  const session = await ort.InferenceSession.create(encodeModel(model));
  const seq = Math.max(...ids.map((r) => r.length));
  const flat = new BigInt64Array(ids.length * seq);
  const mask = new BigInt64Array(ids.length * seq);
  ids.forEach((r, i) => r.forEach((id, j) => ((flat[i * seq + j] = BigInt(id)), (mask[i * seq + j] = 1n))));
  const out = await session.run({
    input_ids: new ort.Tensor('int64', flat, [ids.length, seq]),
    attention_mask: new ort.Tensor('int64', mask, [ids.length, seq]),
    token_type_ids: new ort.Tensor('int64', new BigInt64Array(ids.length * seq), [ids.length, seq]),
  });
  await session.release();
  return [...(out.logits!.data as Float32Array)];
}

beforeAll(() => {
  process.env.DISTILLERY_CACHE_DIR = join(dir, 'cache');
  mkdirSync(teacherDir, { recursive: true });
  writeFileSync(teacherPath, encodeModel(buildBertClassifier(config, { seed: 7 })));
  writeFileSync(join(teacherDir, 'vocab.txt'), vocab.join('\n') + '\n');
  writeFileSync(join(teacherDir, 'config.json'), JSON.stringify(bertConfigJson(config, labelNames)));
  const common = ['the', 'movie', 'film', 'was', 'great', 'awful', 'okay', 'plot', 'acting', 'musical'];
  writeFileSync(trainPath, ['sentence\tlabel', ...rows(64, 1, common)].join('\n') + '\n');
  // Validation texts use words the training texts never do (zebra, galaxy): pruning splits them differently.
  writeFileSync(valPath, ['sentence\tlabel', ...rows(32, 2, [...common, 'zebra', 'galaxy', 'boring'])].join('\n') + '\n');
});

afterAll(() => {
  if (previousCache === undefined) delete process.env.DISTILLERY_CACHE_DIR;
  else process.env.DISTILLERY_CACHE_DIR = previousCache;
  rmSync(dir, { recursive: true, force: true });
});

const quick = ['--epochs', '1', '--batch-size', '16', '--threads', '1', '-q', '--force'];

describe('distill with a student derived from the teacher', () => {
  it('derives half the layers when no student is given, and says so', async () => {
    const out = join(dir, 'default', 'model.onnx');
    const r = await cli(['distill', '--teacher', teacherPath, '--train', trainPath, '--val', valPath, '-o', out, ...quick]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/student derived from the teacher: its layers 0,3 of 4 \(no student given: half its layers, rounded up/);
    const model = await loadModel(out);
    expect(checkModel(model)).toEqual([]);
    expect(findEncoderStructure(model).layers).toHaveLength(2);
    const cfg = JSON.parse(readFileSync(join(dir, 'default', 'config.json'), 'utf8'));
    expect(cfg.num_hidden_layers).toBe(2);
    expect(cfg.id2label).toEqual({ 0: 'negative', 1: 'neutral', 2: 'positive' });
    expect(readFileSync(join(dir, 'default', 'vocab.txt'), 'utf8')).toBe(vocab.join('\n') + '\n');
    await (await ort.InferenceSession.create(out)).release();
  });

  it('keeps the listed layers (--student-layers 1,2) and reports them in --json', async () => {
    const out = join(dir, 'listed', 'model.onnx');
    const r = await cli(['distill', '--teacher', teacherPath, '--student-layers', '1,2', '--train', trainPath, '-o', out, ...quick, '--json']);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout).derivedStudent).toEqual({ keptLayers: [1, 2], teacherLayers: 4, byDefault: false });
    const names = (await loadModel(out)).graph!.initializer!.map((t) => t.name!);
    expect(names.some((n) => n.startsWith('bert.encoder.layer.0.') || n.startsWith('bert.encoder.layer.3.'))).toBe(false);
  });

  it('derives from a pre-LN teacher with 2 inputs and mean pooling (opset 17 LayerNormalization)', async () => {
    const preDir = join(dir, 'pre-teacher');
    mkdirSync(preDir, { recursive: true });
    writeFileSync(join(preDir, 'model.onnx'), encodeModel(buildBertClassifier({ ...config, numLayers: 3 }, { seed: 8, norm: 'pre', inputs: 2, pooling: 'mean' })));
    writeFileSync(join(preDir, 'vocab.txt'), vocab.join('\n') + '\n');
    writeFileSync(join(preDir, 'config.json'), JSON.stringify(bertConfigJson({ ...config, numLayers: 3 }, labelNames)));
    const out = join(dir, 'pre-student', 'model.onnx');
    const r = await distill({ teacher: join(preDir, 'model.onnx'), train: trainPath, val: valPath, output: out, epochs: 1, batchSize: 16, threads: 1 });
    expect(r.derivedStudent).toEqual({ keptLayers: [0, 2], teacherLayers: 3, byDefault: true });
    const model = await loadModel(out);
    expect(checkModel(model)).toEqual([]);
    expect(model.graph!.input!.map((i) => i.name)).toEqual(['input_ids', 'attention_mask']);
    expect(findEncoderStructure(model)).toMatchObject({ norm: 'pre', layers: [{}, {}] });
  });

  it('--student-config students start from the teacher embeddings: copied at the same width, projected when narrower', async () => {
    const same = await cli(['distill', '--teacher', teacherPath, '--student-config', 'layers=1,hidden=16,heads=2,ffn=32', '--train', trainPath, '-o', join(dir, 'emb16', 'model.onnx'), ...quick]);
    expect(same.code).toBe(0);
    expect(same.stdout).toMatch(/student embeddings from the teacher: 5 table\(s\) copied\n/);
    const narrow = await cli(['distill', '--teacher', teacherPath, '--student-config', 'layers=1,hidden=8,heads=2,ffn=16', '--train', trainPath, '-o', join(dir, 'emb8', 'model.onnx'), ...quick, '--json']);
    expect(JSON.parse(narrow.stdout).studentEmbeddings).toEqual({
      copied: [],
      projected: ['bert.embeddings.word_embeddings.weight', 'bert.embeddings.position_embeddings.weight', 'bert.embeddings.token_type_embeddings.weight'],
    });
    const random = await cli(['distill', '--teacher', teacherPath, '--student-config', 'layers=1,hidden=8,heads=2,ffn=16', '--student-embeddings', 'random', '--train', trainPath, '-o', join(dir, 'emb-random', 'model.onnx'), ...quick, '--json']);
    expect(JSON.parse(random.stdout).studentEmbeddings).toBeUndefined();
  });

  it('refuses two student choices and layers the teacher lacks', async () => {
    const out = join(dir, 'bad', 'model.onnx');
    const both = await cli(['distill', '--teacher', teacherPath, '--student-layers', '2', '--student-config', 'layers=1', '--train', trainPath, '-o', out, ...quick]);
    expect(both.code).toBe(2);
    expect(both.stderr).toMatch(/give one of --student .* --student-config .* or --student-layers/);
    const deep = await cli(['distill', '--teacher', teacherPath, '--student-layers', '0,7', '--train', trainPath, '-o', out, ...quick]);
    expect(deep.code).toBe(2);
    expect(deep.stderr).toMatch(/layer 7 does not exist \(the teacher has layers 0-3\)/);
  });
});

describe('--prune-vocab', () => {
  it('keeps every token the texts use, the specials and single characters, and nothing else', () => {
    const tok = WordPieceTokenizer.fromVocabText('vocab.txt', vocab.join('\n'));
    const texts = ['the movie was great', 'awful plot!'];
    const plan = planVocabPruning('vocab.txt', vocab.join('\n') + '\n', usedTokenIds(texts.map((t) => tok.encode(t))), { producible: producibleBy(tok) });
    const kept = plan.keptIds.map((id) => vocab[id]);
    expect(kept).toEqual(expect.arrayContaining(['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]', 'the', 'movie', 'great', 'awful', 'plot', '!', 'a', '##z', '北']));
    expect(kept).not.toContain('[unused0]');
    expect(kept).not.toContain('film');
    expect(kept).not.toContain('##xyz');
    // Punctuation and CJK ideographs are always words of their own: never a ## continuation.
    expect(kept).not.toContain('##!');
    expect(kept).not.toContain('##北');
    expect(plan.keptIds.length).toBe(5 + 4 + 52 + 6);
    expect(plan.tokenizerText.split('\n').filter(Boolean)).toEqual(kept);
  });

  it('no word becomes [UNK] that did not before; the texts it was planned on tokenize the same after remapping', () => {
    const full = WordPieceTokenizer.fromVocabText('vocab.txt', vocab.join('\n'));
    const rng = new SeededRandom(11);
    const alphabet = [...letters, ...'éßÉ北.,!'.split('')];
    const randomWord = () => Array.from({ length: 1 + rng.int(9) }, () => alphabet[rng.int(alphabet.length)]!).join('');
    const planned = Array.from({ length: 50 }, () => [...Array.from({ length: 3 }, randomWord), words[rng.int(words.length)]!.replace('##', '')].join(' '));
    const plan = planVocabPruning('vocab.txt', vocab.join('\n'), usedTokenIds(planned.map((t) => full.encode(t))), { producible: producibleBy(full) });
    const pruned = WordPieceTokenizer.fromVocabText('vocab.txt', plan.tokenizerText);
    for (const t of planned) expect(pruned.encode(t).ids).toEqual(full.encode(t).ids.map((id) => plan.oldToNew[id]));
    const unk = (tok: WordPieceTokenizer, w: string) => tok.encode(w).ids.filter((id) => id === tok.unkId).length;
    for (let i = 0; i < 500; i++) {
      const w = randomWord();
      expect(unk(pruned, w)).toBe(unk(full, w));
    }
  });

  it('with a minimum count keeps only tokens used that often (rarer words split into smaller pieces, never [UNK])', () => {
    const tok = WordPieceTokenizer.fromVocabText('vocab.txt', vocab.join('\n'));
    const texts = ['the movie', 'the film', 'the plot'];
    const used = usedTokenIds(texts.map((t) => tok.encode(t)), 2);
    const plan = planVocabPruning('vocab.txt', vocab.join('\n'), used, { producible: producibleBy(tok) });
    const kept = plan.keptIds.map((id) => vocab[id]);
    expect(kept).toContain('the');
    expect(kept).not.toContain('movie');
    const pruned = WordPieceTokenizer.fromVocabText('vocab.txt', plan.tokenizerText);
    expect(pruned.tokenize('movie')).toEqual(['m', '##o', '##v', '##i', '##e']);
  });

  it('rewrites a WordPiece tokenizer.json (vocab, added tokens, post-processor ids) so texts encode to the remapped ids', () => {
    const special = ['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]'];
    const json = JSON.stringify({
      version: '1.0',
      truncation: null,
      padding: null,
      added_tokens: special.map((t) => ({ id: vocab.indexOf(t), content: t, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true })),
      normalizer: { type: 'BertNormalizer', clean_text: true, handle_chinese_chars: true, strip_accents: null, lowercase: true },
      pre_tokenizer: { type: 'BertPreTokenizer' },
      post_processor: {
        type: 'TemplateProcessing',
        single: [{ SpecialToken: { id: '[CLS]', type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }, { SpecialToken: { id: '[SEP]', type_id: 0 } }],
        pair: [{ SpecialToken: { id: '[CLS]', type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }, { SpecialToken: { id: '[SEP]', type_id: 0 } }, { Sequence: { id: 'B', type_id: 1 } }, { SpecialToken: { id: '[SEP]', type_id: 1 } }],
        special_tokens: Object.fromEntries(['[CLS]', '[SEP]'].map((t) => [t, { id: t, ids: [vocab.indexOf(t)], tokens: [t] }])),
      },
      decoder: { type: 'WordPiece', prefix: '##', cleanup: true },
      model: { type: 'WordPiece', unk_token: '[UNK]', continuing_subword_prefix: '##', max_input_chars_per_word: 100, vocab: Object.fromEntries(vocab.map((t, i) => [t, i])) },
    });
    const full = new HfTokenizer('tokenizer.json', json, {});
    const texts = ['The movie was GREAT!', 'awful, dull plot', 'zebra galaxy'];
    const plan = planVocabPruning('tokenizer.json', json, usedTokenIds(texts.map((t) => full.encode(t))));
    const pruned = new HfTokenizer('tokenizer.json', plan.tokenizerText, {});
    expect(pruned.vocabSize).toBe(plan.keptIds.length);
    for (const t of texts) expect(pruned.encode(t).ids).toEqual(full.encode(t).ids.map((id) => plan.oldToNew[id]));
    expect(pruned.encode('unseen words', 'pair').ids.includes(pruned.encode('x').ids[0]!)).toBe(true);
  });

  it('the pruned model gives the same logits on remapped ids as the full model on the original ids', async () => {
    const model = buildBertClassifier(config, { seed: 3 });
    const tok = WordPieceTokenizer.fromVocabText('vocab.txt', vocab.join('\n'));
    const texts = ['the movie was great', 'awful plot', 'okay film'];
    const encoded = texts.map((t) => tok.encode(t).ids);
    const plan = planVocabPruning('vocab.txt', vocab.join('\n'), usedTokenIds(encoded.map((ids) => ({ ids }))));
    const { model: pruned } = pruneWordEmbeddings(model, plan.keptIds);
    expect(checkModel(pruned)).toEqual([]);
    const table = pruned.graph!.initializer!.find((t) => t.name === 'bert.embeddings.word_embeddings.weight')!;
    expect(tensorDims(table)).toEqual([plan.keptIds.length, 16]);
    const remapped = encoded.map((ids) => ids.map((id) => plan.oldToNew[id]!));
    expect(await logitsOf(pruned, remapped)).toEqual(await logitsOf(model, encoded));
  });

  it('distill --prune-vocab writes a matching model, vocab.txt and config.json, and reports both accuracies', async () => {
    const out = join(dir, 'pruned', 'model.onnx');
    // Validation on the training texts: every token kept, so accuracy cannot move.
    const r = await cli(['distill', '--teacher', teacherPath, '--student-layers', '2', '--prune-vocab', '--train', trainPath, '--val', trainPath, '-o', out, ...quick, '--json']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const p = JSON.parse(r.stdout).prunedVocab;
    const lines = readFileSync(join(dir, 'pruned', 'vocab.txt'), 'utf8').split('\n').filter(Boolean);
    expect(p.tokensBefore).toBe(vocab.length);
    expect(p.tokensAfter).toBe(lines.length);
    expect(p.bytesAfter).toBeLessThan(p.bytesBefore);
    expect(p.accuracyAfter).toBe(p.accuracyBefore);
    expect(JSON.parse(r.stdout).student.accuracy).toBe(p.accuracyAfter);
    expect(JSON.parse(readFileSync(join(dir, 'pruned', 'config.json'), 'utf8')).vocab_size).toBe(lines.length);
    const model = await loadModel(out);
    expect(checkModel(model)).toEqual([]);
    const table = model.graph!.initializer!.find((t) => t.name === 'bert.embeddings.word_embeddings.weight')!;
    expect(tensorDims(table)[0]).toBe(lines.length);
    // eval reads the written folder as a whole (tokenizer checked against vocab_size).
    const e = await cli(['eval', '-m', out, '-d', valPath, '--threads', '1', '--json']);
    expect(e.code).toBe(0);
  });

  it('reports the validation accuracy before and after in the table output', async () => {
    const out = join(dir, 'pruned-table', 'model.onnx');
    const r = await cli(['distill', '--teacher', teacherPath, '--student-layers', '2', '--prune-vocab', '--train', trainPath, '--val', valPath, '-o', out, ...quick]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(new RegExp(`--prune-vocab: ${vocab.length} -> \\d+ tokens; model .* -> .* \\(\\d+\\.\\d % smaller\\); validation accuracy \\d+\\.\\d\\d % -> \\d+\\.\\d\\d %`));
  });
});
