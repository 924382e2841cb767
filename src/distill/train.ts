/**
 * `train()`: the distillation engine with hard labels only (cross-entropy, no teacher), for
 * training teachers and baselines. The model is an ONNX classifier to fine-tune or a fresh
 * BERT classifier (`config`) with a given tokenizer or a WordPiece vocabulary built from the
 * training texts.
 */
import { bertConfigJson, buildBertClassifier } from '../architectures/bert.js';
import { LabelMap } from '../data/labels.js';
import { loadTokenizer } from '../data/load-tokenizer.js';
import { loadModelConfig, type ModelConfig } from '../data/model-config.js';
import { loadModelTokenizer } from '../data/model-tokenizer.js';
import type { Tokenizer } from '../data/tokenizer.js';
import { buildWordPieceVocab } from '../data/wordpiece-vocab.js';
import { WordPieceTokenizer } from '../data/wordpiece.js';
import { UserError } from '../errors.js';
import { loadModel, type ModelProto } from '../onnx/index.js';
import { outputWidth, withLabels } from './distill.js';
import { resolveRecipe, type TrainingEvents, type TrainingResult, type TrainOptions } from './options.js';
import { planOutputs, removingNewEmptyDirsOnFailure, tokenizerFilesOf, type TokenizerFile } from './output-files.js';
import { runAndWrite } from './run-and-write.js';
import { bertConfigFromSpec, parseArchitectureSpec } from './student-config.js';
import { encodeSet, labelsFromData, readLabeledSet } from './training-data.js';

export async function train(options: TrainOptions, events: TrainingEvents = () => {}): Promise<TrainingResult> {
  return removingNewEmptyDirsOnFailure(options.output, options.checkpointDir, () => trainInto(options, events));
}

async function trainInto(options: TrainOptions, events: TrainingEvents): Promise<TrainingResult> {
  const startedAt = performance.now();
  const o = options;
  if (!o.output) throw new UserError('train: give -o/--output');
  if ((o.model === undefined) === (o.config === undefined)) {
    throw new UserError('train: give either --model (an ONNX classifier to train further) or --config (a fresh BERT classifier), not both or neither');
  }
  if (o.model !== undefined && o.buildVocab !== undefined) throw new UserError('--build-vocab builds a vocabulary for a fresh model (--config), not for --model');
  if (o.config !== undefined && (o.tokenizer === undefined) === (o.buildVocab === undefined)) {
    throw new UserError('train --config: give either --tokenizer (vocab.txt or tokenizer.json) or --build-vocab N');
  }
  if (o.buildVocab !== undefined && (!Number.isInteger(o.buildVocab) || o.buildVocab < 100)) {
    throw new UserError(`--build-vocab must be an integer >= 100, got ${o.buildVocab}`);
  }
  const recipe = resolveRecipe(o, o.val !== undefined);
  const warnings: string[] = [];
  const warn = (message: string) => {
    warnings.push(message);
    events({ type: 'warning', message });
  };

  const inputs = [o.train, ...(o.val ? [o.val] : [])];
  // The model, the tokenizer and the output paths are checked before the data is read.
  let base: { model: ModelProto; config?: ModelConfig; positionLimit?: number } | undefined;
  let tokenizer: Tokenizer | undefined;
  let tokenizerFiles: TokenizerFile[];
  const spec = o.config === undefined ? undefined : typeof o.config === 'string' ? parseArchitectureSpec(o.config, '--config') : o.config;
  const positions = spec?.positions ?? 512;
  if (o.model !== undefined) {
    inputs.push(o.model);
    const config = await loadModelConfig(o.model);
    if (config) inputs.push(config.path);
    const loaded = await loadModelTokenizer(o.model, { tokenizer: o.tokenizer, maxLength: o.maxLength, config: config ?? null, tokenizerFlag: true });
    loaded.warnings.forEach(warn);
    inputs.push(loaded.tokenizer.path);
    base = { model: await loadModel(o.model), config, positionLimit: loaded.positionLimit };
    tokenizer = loaded.tokenizer;
    tokenizerFiles = tokenizerFilesOf(loaded.tokenizer.path);
  } else {
    const maxLength = o.maxLength ?? Math.min(128, positions);
    if (maxLength > positions) throw new UserError(`--max-length ${maxLength} is longer than the position table (positions=${positions} in --config)`);
    if (o.tokenizer !== undefined) {
      tokenizer = await loadTokenizer(o.tokenizer, { maxLength });
      inputs.push(tokenizer.path);
      tokenizerFiles = tokenizerFilesOf(tokenizer.path);
    } else {
      tokenizerFiles = [{ name: 'vocab.txt', text: '' }];
    }
  }
  const plan = await planOutputs(o.output, { force: o.force, resume: o.resume, inputs, tokenizer: tokenizerFiles, log: o.log, checkpointDir: o.checkpointDir });

  events({ type: 'phase', phase: 'reading', message: `reading ${o.train}` });
  const trainSet = await readLabeledSet(o.train, o.dataset);
  const valSet = o.val ? await readLabeledSet(o.val, o.dataset) : undefined;

  let model: ModelProto;
  let configJson: Record<string, unknown>;
  let labels: LabelMap;
  let description: string;
  if (base) {
    model = base.model;
    labels = o.labels ? LabelMap.fromSpec(o.labels) : (base.config && LabelMap.fromConfig(base.config)) || labelsFromData(trainSet);
    const width = outputWidth(model);
    if (width !== undefined && width !== labels.size) {
      throw new UserError(`${o.model}: the model outputs ${width} scores but there are ${labels.size} labels (from ${labels.source})`);
    }
    configJson = withLabels(base.config, labels.names, base.positionLimit);
    description = o.model!;
  } else {
    labels = o.labels ? LabelMap.fromSpec(o.labels) : labelsFromData(trainSet);
    if (!tokenizer) {
      events({ type: 'phase', phase: 'reading', message: `building a ${o.buildVocab}-token WordPiece vocabulary` });
      const texts = trainSet.records.flatMap((r) => (r.textPair !== undefined ? [r.text, r.textPair] : [r.text]));
      const tokens = buildWordPieceVocab(texts, { size: o.buildVocab! });
      tokenizer = new WordPieceTokenizer(plan.tokenizer[0]!.to, tokens, { maxLength: o.maxLength ?? Math.min(128, positions) });
      plan.tokenizer[0]!.text = tokens.join('\n') + '\n';
    }
    const cfg = bertConfigFromSpec({ ...spec, positions }, { vocabSize: tokenizer.vocabSize, numLabels: labels.size }, '--config');
    model = buildBertClassifier(cfg, { seed: recipe.seed });
    configJson = bertConfigJson(cfg, [...labels.names]);
    description = `fresh BERT: ${cfg.numLayers} layers, hidden ${cfg.hiddenSize}, ${cfg.numHeads} heads, FFN ${cfg.intermediateSize}, vocab ${cfg.vocabSize}`;
  }

  if (!tokenizer) throw new Error('train: no tokenizer resolved');
  const tok = tokenizer;
  const examples = encodeSet(trainSet, tok, labels);
  const validation = valSet ? encodeSet(valSet, tok, labels) : undefined;
  if (tok.truncationWarning) warn(tok.truncationWarning);

  const { engine: _engine, ...result } = await runAndWrite({
    label: 'model',
    model,
    examples,
    numLabels: labels.size,
    padId: tok.padId,
    validation,
    loss: { kind: 'ce' },
    recipe,
    plan,
    fingerprint: JSON.stringify(['train', description, tok.fingerprint]),
    resume: o.resume ?? false,
    events,
    signal: o.signal,
    configJson,
    inputs,
    start: {
      command: 'train',
      model: description,
      train: o.train,
      val: o.val,
      trainExamples: examples.length,
      valExamples: validation?.length ?? 0,
      labels: labels.names,
      recipe,
    },
    startedAt,
    warnings,
  });
  return result;
}
