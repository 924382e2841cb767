import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { existsSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bertConfigJson, buildBertClassifier, defaultBertConfig, type BertConfig } from '../src/architectures/bert.js';
import { evaluate } from '../src/eval/index.js';
import { checkModel, DataType, decodeModel, GraphBuilder, saveModel } from '../src/onnx/index.js';
import { writeTransformersFolder, type TransformersFolderReport } from '../src/publish/transformers-folder.js';
import { makeVariant, transformersDtypes, parseTransformersDtypes } from '../src/quantize/variants.js';
import { openSession } from '../src/runtime/session.js';
import { cli } from './cli-run.js';

// A tiny BERT with a made-up vocabulary, only a vocab.txt for a tokenizer (transformers.js needs
// tokenizer.json: the folder writer makes it), three labels.
const words = ['the', 'movie', 'was', 'good', 'bad', 'great', 'awful', 'plot', 'actor', 'not', 'very', 'fun', 'boring', 'and', 'but', 'a', 'film', 'story', 'slow', 'fast'];
const pieces = ['##s', '##ing', '##ly', '##ed', 'un', 'cafe', '!', ',', '.', "'"];
const vocab = ['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]', ...words, ...pieces, ...Array.from({ length: 60 }, (_, i) => `w${i}`)];
const labels = ['negative', 'neutral', 'positive'];
const config: BertConfig = { ...defaultBertConfig, vocabSize: vocab.length, hiddenSize: 32, numHeads: 2, intermediateSize: 64, numLayers: 1, maxPositions: 32, numLabels: 3, initializerRange: 0.3 };
const texts = [
  'The movie was good',
  'the plot was BORING and slow',
  'Not very fun, but the actor was great!',
  'an awful film',
  'Storys and films',
  'unfunny plotting',
  'Café actors acted',
  'w1 w2 w3 w17 the movie',
  "it wasn't bad",
  'great great great great great great great great great great great great great great great great great great great great great great great great great great great great great great great great',
  'fast',
  'zzz qqq',
];

const root = mkdtempSync(join(tmpdir(), 'tjs-'));
const src = join(root, 'src');
const folder = join(root, 'out', 'tiny-bert');
let report: TransformersFolderReport;

beforeAll(async () => {
  mkdirSync(src);
  await saveModel(buildBertClassifier(config, { seed: 4 }), join(src, 'model.onnx'));
  writeFileSync(join(src, 'vocab.txt'), vocab.join('\n') + '\n');
  writeFileSync(join(src, 'config.json'), JSON.stringify(bertConfigJson(config, labels)));
  report = await writeTransformersFolder(join(src, 'model.onnx'), folder, { dtypes: [...transformersDtypes], latency: false });
}, 120_000);
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe('writeTransformersFolder: a folder transformers.js loads as it is', () => {
  it('writes every dtype under its transformers.js name, plus config.json and a tokenizer.json made from vocab.txt', () => {
    expect(report.files.map((f) => f.file)).toEqual(['model.onnx', 'model_fp16.onnx', 'model_quantized.onnx', 'model_int8.onnx', 'model_uint8.onnx', 'model_q4.onnx', 'model_q4f16.onnx'].map((f) => join('onnx', f)));
    expect(report.tokenizerGenerated).toBe(true);
    expect(report.companions).toEqual(expect.arrayContaining(['config.json', 'vocab.txt', 'tokenizer.json', 'tokenizer_config.json']));
    const tok = JSON.parse(readFileSync(join(folder, 'tokenizer.json'), 'utf8'));
    expect(tok.model.type).toBe('WordPiece');
    expect(tok.model.vocab['##ing']).toBe(vocab.indexOf('##ing'));
    expect(report.files.find((f) => f.dtype === 'q8')!.recipe).toMatch(/dynamic int8 \(no Conv\)/);
    // Smaller than fp32 in the expected order.
    const size = Object.fromEntries(report.files.map((f) => [f.dtype, f.bytes]));
    expect(size.q4!).toBeLessThan(size.int8!);
    expect(size.int8!).toBeLessThan(size.fp16!);
    expect(size.fp16!).toBeLessThan(size.fp32!);
  });

  it('every file passes the checker rules and opens in onnxruntime', async () => {
    for (const f of report.files) {
      expect(checkModel(decodeModel(readFileSync(f.path))), f.file).toEqual([]);
      const { session } = await openSession(f.path, { threads: 1 });
      expect(session.outputNames).toEqual(['logits']);
      await session.release();
    }
  });

  it("q8 follows transformers.js's rule: uint8 weights when the graph has a Conv, int8 otherwise", () => {
    const b = new GraphBuilder({ opset: 17 });
    const x = b.input('x', DataType.FLOAT, [1, 4, 8, 8]);
    const conv = b.op('Conv', [x, b.initializer('k', new Float32Array(4 * 4 * 9).fill(0.1), [4, 4, 3, 3])], { pads: [1, 1, 1, 1] });
    b.node('MatMul', [conv, b.initializer('w', new Float32Array(8 * 32).fill(0.01), [8, 32])], { outputs: ['y'] });
    b.output('y', DataType.FLOAT);
    const withConv = makeVariant(b.build(), 'q8');
    expect(withConv.quantize!.options.weightType).toBe('uint8');
    expect(withConv.recipe).toBe('dynamic uint8 (graph has Conv)');
    expect(makeVariant(buildBertClassifier(config, { seed: 4 }), 'q8').quantize!.options.weightType).toBe('int8');
  });

  it('bnb4 and unknown dtypes are refused by name', () => {
    expect(() => parseTransformersDtypes(['q4', 'bnb4'])).toThrow(/--dtype bnb4 is not supported: it needs com.microsoft.MatMulBnb4/);
    expect(() => parseTransformersDtypes(['q3'])).toThrow(/--dtype q3: unknown \(expected fp32, fp16, q8, int8, uint8, q4, q4f16\)/);
  });

  it("transformers.js's text-classification pipeline gives the labels distillery eval gives, for every dtype", async () => {
    const { env, pipeline } = await import('@huggingface/transformers');
    env.allowRemoteModels = false;
    env.allowLocalModels = true;
    env.localModelPath = dirname(folder);
    for (const f of report.files) {
      const classify = await pipeline('text-classification', basename(folder), { dtype: f.dtype, device: 'cpu' });
      const predicted: string[] = [];
      for (const text of texts) {
        const out = (await classify(text)) as Array<{ label: string }>;
        predicted.push(out[0]!.label);
      }
      await classify.dispose();
      // distillery eval on the same file, with transformers.js's answers as the gold labels: 100 % means the same label everywhere.
      const data = join(root, `${f.dtype}.tsv`);
      writeFileSync(data, 'sentence\tlabel\n' + texts.map((t, i) => `${t}\t${predicted[i]}`).join('\n') + '\n');
      const ev = await evaluate({ models: [f.path], data, labels: labels.join(','), session: { threads: 1 } });
      expect(ev.models[0]!.accuracy, `${f.dtype}: ${predicted.join(',')}`).toBe(1);
      expect(new Set(predicted).size).toBeGreaterThan(1); // not a constant answer that would match trivially
    }
  }, 120_000);
});

describe('distillery quantize --dtype (CLI)', () => {

  it('one dtype into one .onnx file; a folder with --json; refusals exit 2 and write nothing', async () => {
    const model = join(src, 'model.onnx');
    const one = join(root, 'single', 'model_fp16.onnx');
    mkdirSync(dirname(one));
    const r1 = await cli('quantize', model, '-o', one, '--dtype', 'fp16');
    expect(r1.code).toBe(0);
    expect(r1.stdout).toMatch(/model_fp16\.onnx\s+fp16 .* float16 \(target cpu: \d+ nodes compute in float16, \d+ activation Casts\)/);
    expect(existsSync(join(root, 'single', 'config.json'))).toBe(true);

    const dir = join(root, 'cli-folder');
    const r2 = await cli('quantize', model, '-o', dir, '--dtype', 'q4,int8', '--block-size', '16', '--json');
    expect(r2.code).toBe(0);
    const doc = JSON.parse(r2.stdout);
    expect(doc.schema).toBe('onnx-distillery/quantize-folder@1');
    expect(doc.files.map((f: { file: string }) => f.file)).toEqual([join('onnx', 'model_q4.onnx'), join('onnx', 'model_int8.onnx')]);
    expect(doc.files[0].recipe).toMatch(/4-bit blocks of 16/);
    expect(doc.files[0].latencyMs).toBeGreaterThan(0);
    // Again without --force: refused, nothing overwritten.
    const again = await cli('quantize', model, '-o', dir, '--dtype', 'q4');
    expect(again.code).toBe(2);
    expect(again.stderr).toMatch(/model_q4\.onnx: already exists \(use --force to overwrite\)/);

    for (const [flags, problem] of [
      [['--dtype', 'q4,bnb4'], /--dtype bnb4 is not supported/],
      [['--dtype', 'q4,fp16', '-o', join(root, 'two.onnx')], /one \.onnx file takes one --dtype/],
      [['--dtype', 'q4', '--bits', '4'], /--bits does not combine with --dtype/],
      [['--dtype', 'fp16', '--fp16-target', 'gpu'], /--fp16-target gpu: expected cpu or any/],
    ] as const) {
      const out = (flags as readonly string[]).includes('-o') ? [] : ['-o', join(root, 'refused')];
      const r = await cli('quantize', model, ...out, ...flags);
      expect(r.code, r.stderr).toBe(2);
      expect(r.stderr).toMatch(problem);
    }
    expect(existsSync(join(root, 'refused'))).toBe(false);
    expect(existsSync(join(root, 'two.onnx'))).toBe(false);
  }, 120_000);
});
