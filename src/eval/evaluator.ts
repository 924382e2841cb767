import type { ResolvedDevice } from '../runtime/device.js';
import { basename, dirname } from 'node:path';
import { UserError } from '../errors.js';
import { makeBatches, type Batch } from '../data/batching.js';
import { chunkRecords, readDataset, type DatasetFormat, type DatasetOptions } from '../data/dataset.js';
import { encodeRecords, type EncodedExample } from '../data/encode.js';
import { LabelMap } from '../data/labels.js';
import { loadModelConfig, maxSequenceLength, type ModelConfig } from '../data/model-config.js';
import { loadModelTokenizer } from '../data/model-tokenizer.js';
import type { Tokenizer } from '../data/tokenizer.js';
import type { SessionSettings } from '../runtime/session.js';
import { classifyBatches, openClassifier, type Classifier } from './classifier.js';
import {
  addToConfusion,
  argmaxRows,
  classMetrics,
  confusionAccuracy,
  confusionPairs,
  emptyConfusion,
  klDivergenceRows,
  macroF1,
  softmaxRows,
  type ConfusionMatrix,
} from './metrics.js';

export interface EvaluateOptions {
  /** Models to evaluate side by side. */
  models: string[];
  /** Reference for drop, retention, agreement and KL; evaluated too (first row). */
  teacher?: string;
  data: string;
  dataset?: Omit<DatasetOptions, 'requireLabel'>;
  /** `--labels`: label names in id order (comma-separated) or a file; default: the model's config.json. */
  labels?: string;
  /** Tokenizer folder or file for every model; default: the one next to each model. */
  tokenizer?: string;
  /** Default: the model's position table (config.json max_position_embeddings), else 128. */
  maxLength?: number;
  /** Default 32. */
  batchSize?: number;
  /** Default true. */
  sortByLength?: boolean;
  session?: SessionSettings;
  /** Disagreement examples kept per model (file order). Default 0. */
  showDisagreements?: number;
  /** Most frequent confusion pairs kept per model. Default 10. */
  confusionPairs?: number;
  /** Records read, tokenized and run at a time (bounds memory on big files). Default 4096. */
  chunkSize?: number;
  onProgress?: (progress: { examples: number; bytesRead: number; totalBytes: number }) => void;
}

export interface ClassReport {
  label: string;
  support: number;
  predicted: number;
  precision: number;
  recall: number;
  f1: number;
}

export interface ModelReport {
  name: string;
  path: string;
  role: 'teacher' | 'model';
  device: ResolvedDevice;
  maxLength: number;
  /** Fractions in [0, 1]. */
  accuracy: number;
  macroF1: number;
  examples: number;
  /** Examples whose logits had a NaN or an infinity (broken weights or export): eval fails when any model has one. */
  nonFinite: number;
  /** Time in this model (feeds, session.run, outputs); tokenization is counted once in timing. */
  seconds: number;
  examplesPerSecond: number;
  perClass: ClassReport[];
  confusionPairs: { true: string; predicted: string; count: number; rate: number }[];
}

export interface Disagreement {
  line: number;
  text: string;
  textPair?: string;
  label: string;
  teacher: string;
  model: string;
  /** Softmax probability each gave its own prediction. */
  teacherConfidence: number;
  modelConfidence: number;
}

export interface Comparison {
  model: string;
  teacher: string;
  teacherAccuracy: number;
  modelAccuracy: number;
  /** (teacher - model) accuracy in percentage points; positive = the model is worse. */
  dropPoints: number;
  /** model accuracy / teacher accuracy. */
  retention: number;
  /** Fraction of examples with the same argmax. */
  agreement: number;
  /** Mean over examples of KL(softmax(teacher) || softmax(model)), T = 1, in nats. */
  meanKl: number;
  disagreementCount: number;
  disagreements: Disagreement[];
}

export interface EvalReport {
  data: {
    path: string;
    format: DatasetFormat;
    examples: number;
    columns: { text: string; textPair?: string; label: string };
    /** Label names by model output index. */
    labels: string[];
    labelSource: string;
    /** Examples cut to maxLength (by the first model's tokenizer). */
    truncated: number;
  };
  /** Teacher first when there is one, then the --model values in order. */
  models: ModelReport[];
  comparisons: Comparison[];
  timing: {
    /** Opening sessions and loading tokenizers. */
    loadSeconds: number;
    /** Reading, tokenizing and running every model over the data (loading excluded). */
    seconds: number;
    tokenizeSeconds: number;
    /** examples / seconds. */
    examplesPerSecond: number;
  };
  warnings: string[];
}

/** Models opened and checked, tokenizers loaded: what `runEvaluation` needs (reusable across runs). */
export interface PreparedEvaluation {
  options: EvaluateOptions;
  labels: LabelMap;
  models: PreparedModel[];
  /** Models that share a tokenizer fingerprint share one encoding of the data. */
  groups: TokenizerGroup[];
  /** Seconds spent opening sessions and loading tokenizers. */
  loadSeconds: number;
  warnings: string[];
  /** Frees the onnxruntime sessions. */
  release(): Promise<void>;
}

interface TokenizerGroup {
  tokenizer: Tokenizer;
  models: string[];
  positionLimit?: number;
}

interface PreparedModel {
  name: string;
  path: string;
  role: 'teacher' | 'model';
  config?: ModelConfig;
  classifier: Classifier;
  group: TokenizerGroup;
}

/**
 * Evaluates classifiers on a labelled dataset, streaming it in chunks: accuracy, macro-F1,
 * per-class metrics and confusions for each model, and with a teacher the drop, retention,
 * agreement and KL of each model against it.
 */
export async function evaluate(options: EvaluateOptions): Promise<EvalReport> {
  const prepared = await prepareEvaluation(options);
  try {
    return await runEvaluation(prepared);
  } finally {
    await prepared.release();
  }
}

/** Opens every model, checks inputs, outputs, labels and tokenizers against each other. */
export async function prepareEvaluation(options: EvaluateOptions): Promise<PreparedEvaluation> {
  if (options.models.length === 0) throw new UserError('eval: give at least one --model');
  const batchSize = options.batchSize ?? 32;
  if (!Number.isInteger(batchSize) || batchSize < 1) throw new UserError(`--batch-size must be a positive integer, got ${options.batchSize}`);
  const start = performance.now();
  const warnings: string[] = [];
  const paths = options.teacher ? [options.teacher, ...options.models] : [...options.models];
  const names = modelDisplayNames(paths);
  const configs = await Promise.all(paths.map((p) => loadModelConfig(p)));
  const namedLabels = chooseLabels(options.labels, paths, configs);
  const classifiers: Classifier[] = [];
  const release = async () => {
    for (const c of classifiers) await c.session.release();
  };
  try {
    for (const path of paths) classifiers.push(await openClassifier(path, options.session));
    const labels = namedLabels ?? LabelMap.numeric(classifiers[0]!.numLabels, `${paths[0]} output (no id2label in config.json)`);
    const groups = new Map<string, TokenizerGroup>();
    const models: PreparedModel[] = [];
    for (let i = 0; i < paths.length; i++) {
      const path = paths[i]!;
      const config = configs[i];
      const classifier = classifiers[i]!;
      if (classifier.numLabels !== labels.size) {
        throw new UserError(`${path}: the model outputs ${classifier.numLabels} scores but there are ${labels.size} labels (from ${labels.source})`);
      }
      const loaded = await loadModelTokenizer(path, { tokenizer: options.tokenizer, maxLength: options.maxLength, config: config ?? null, tokenizerFlag: true });
      warnings.push(...loaded.warnings);
      const tokenizer = loaded.tokenizer;
      let group = groups.get(tokenizer.fingerprint);
      if (!group) {
        group = { tokenizer, models: [], positionLimit: maxSequenceLength(config) };
        groups.set(tokenizer.fingerprint, group);
      }
      group.models.push(names[i]!);
      models.push({ name: names[i]!, path, role: options.teacher && i === 0 ? 'teacher' : 'model', config, classifier, group });
    }
    return { options, labels, models, groups: [...groups.values()], loadSeconds: (performance.now() - start) / 1000, warnings, release };
  } catch (e) {
    await release();
    throw e;
  }
}

/** Streams the data once through every prepared model and computes the report. */
export async function runEvaluation(prepared: PreparedEvaluation): Promise<EvalReport> {
  const { options, labels: labelMap, models } = prepared;
  const batchSize = options.batchSize ?? 32;
  const chunkSize = Math.max(batchSize, options.chunkSize ?? 4096);
  const keepDisagreements = options.showDisagreements ?? 0;
  const warnings = [...prepared.warnings];
  const start = performance.now();
  const width = labelMap.size;

  const groups = prepared.groups.map((g) => ({ group: g, seconds: 0, truncated: 0, batches: [] as Batch[], encoded: [] as EncodedExample[] }));
  const groupRun = new Map(groups.map((g) => [g.group, g]));
  const runs = models.map((m) => ({ model: m, confusion: emptyConfusion(width), seconds: 0, nonFinite: 0, logits: new Float32Array(0) as Float32Array, preds: new Int32Array(0) as Int32Array }));
  const teacher = options.teacher ? runs[0]! : undefined;
  const students = teacher ? runs.slice(1) : runs;
  const comparisons = students.map((s) => ({ run: s, klSum: 0, agree: 0, disagreements: [] as Disagreement[], disagreementCount: 0 }));
  const reader = readDataset(options.data, { ...options.dataset, requireLabel: true });
  let examples = 0;
  // Progress moves per batch (a chunk is 4096 rows: smaller files would show none until the end).
  options.onProgress?.({ examples: 0, bytesRead: 0, totalBytes: reader.totalBytes });

  for await (const chunk of chunkRecords(reader, chunkSize)) {
    for (const g of groups) {
      const t0 = performance.now();
      const before = g.group.tokenizer.truncatedCount;
      g.encoded = encodeRecords(chunk, g.group.tokenizer, labelMap, options.data);
      g.truncated += g.group.tokenizer.truncatedCount - before;
      g.batches = makeBatches(g.encoded, batchSize, { sortByLength: options.sortByLength ?? true, padId: g.group.tokenizer.padId });
      g.seconds += (performance.now() - t0) / 1000;
    }
    const labels = Int32Array.from(groups[0]!.encoded, (e) => e.label);
    for (const [k, r] of runs.entries()) {
      const t0 = performance.now();
      const onRows = (rowsDone: number) =>
        options.onProgress?.({
          examples: examples + Math.floor((k * chunk.length + rowsDone) / runs.length),
          bytesRead: reader.bytesRead,
          totalBytes: reader.totalBytes,
        });
      r.logits = await classifyBatches(r.model.classifier, groupRun.get(r.model.group)!.batches, chunk.length, onRows);
      r.seconds += (performance.now() - t0) / 1000;
      r.nonFinite += nonFiniteRows(r.logits, width);
      r.preds = argmaxRows(r.logits, width);
      addToConfusion(r.confusion, labels, r.preds);
    }
    if (teacher) {
      for (const c of comparisons) {
        const s = c.run;
        const kl = klDivergenceRows(teacher.logits, s.logits, width);
        for (let i = 0; i < chunk.length; i++) {
          c.klSum += kl[i]!;
          const tp = teacher.preds[i]!;
          const sp = s.preds[i]!;
          if (tp === sp) {
            c.agree++;
            continue;
          }
          c.disagreementCount++;
          if (c.disagreements.length >= keepDisagreements) continue;
          const rec = chunk[i]!;
          const tProb = softmaxRows(teacher.logits.subarray(i * width, (i + 1) * width), width);
          const sProb = softmaxRows(s.logits.subarray(i * width, (i + 1) * width), width);
          c.disagreements.push({
            line: rec.line,
            text: rec.text,
            ...(rec.textPair !== undefined ? { textPair: rec.textPair } : {}),
            label: labels[i]! >= 0 ? labelMap.name(labels[i]!) : '',
            teacher: labelMap.name(tp),
            model: labelMap.name(sp),
            teacherConfidence: tProb[tp]!,
            modelConfidence: sProb[sp]!,
          });
        }
      }
    }
    examples += chunk.length;
    options.onProgress?.({ examples, bytesRead: reader.bytesRead, totalBytes: reader.totalBytes });
  }

  for (const r of runs) {
    if (r.nonFinite === 0) continue;
    warnings.push(
      `${r.model.name}: ${r.nonFinite} of ${examples} examples gave non-finite logits (NaN or infinity: broken weights or export); its figures mean nothing and eval fails`,
    );
  }
  for (const g of groups) {
    if (g.truncated === 0) continue;
    const max = g.group.tokenizer.maxLength;
    const table = g.group.positionLimit !== undefined && g.group.positionLimit <= max ? ` (the position table of ${g.group.models.join(', ')})` : '';
    warnings.push(`${g.truncated} of ${examples} examples were longer than ${max} tokens${table} and were truncated`);
  }

  const pairsK = options.confusionPairs ?? 10;
  const modelReports: ModelReport[] = runs.map(({ model: m, confusion, seconds, nonFinite }) => ({
    name: m.name,
    path: m.path,
    role: m.role,
    device: m.classifier.device,
    maxLength: m.group.tokenizer.maxLength,
    accuracy: confusionAccuracy(confusion),
    macroF1: macroF1(confusion),
    examples,
    nonFinite,
    seconds,
    examplesPerSecond: seconds > 0 ? examples / seconds : 0,
    perClass: classMetrics(confusion).map((c) => ({
      label: labelMap.name(c.index),
      support: c.support,
      predicted: c.predicted,
      precision: c.precision,
      recall: c.recall,
      f1: c.f1,
    })),
    confusionPairs: confusionPairs(confusion, pairsK).map((p) => ({
      true: labelMap.name(p.trueIndex),
      predicted: labelMap.name(p.predictedIndex),
      count: p.count,
      rate: p.rate,
    })),
  }));
  const teacherReport = teacher ? modelReports[0]! : undefined;
  const comparisonReports: Comparison[] = teacherReport
    ? comparisons.map((c) => {
        const r = modelReports[runs.indexOf(c.run)]!;
        return {
          model: r.name,
          teacher: teacherReport.name,
          teacherAccuracy: teacherReport.accuracy,
          modelAccuracy: r.accuracy,
          dropPoints: (teacherReport.accuracy - r.accuracy) * 100,
          retention: teacherReport.accuracy > 0 ? r.accuracy / teacherReport.accuracy : 0,
          agreement: examples > 0 ? c.agree / examples : 0,
          meanKl: examples > 0 ? c.klSum / examples : 0,
          disagreementCount: c.disagreementCount,
          disagreements: c.disagreements,
        };
      })
    : [];

  const seconds = (performance.now() - start) / 1000;
  return {
    data: {
      path: options.data,
      format: reader.format,
      examples,
      columns: {
        text: reader.textColumn!,
        ...(reader.textPairColumn !== undefined ? { textPair: reader.textPairColumn } : {}),
        label: reader.labelColumn!,
      },
      labels: [...labelMap.names],
      labelSource: labelMap.source,
      truncated: groupRun.get(models[0]!.group)!.truncated,
    },
    models: modelReports,
    comparisons: comparisonReports,
    timing: {
      loadSeconds: prepared.loadSeconds,
      seconds,
      tokenizeSeconds: groups.reduce((s, g) => s + g.seconds, 0),
      examplesPerSecond: seconds > 0 ? examples / seconds : 0,
    },
    warnings,
  };
}

/** Rows of a [rows, width] logits array holding a NaN or an infinity. */
function nonFiniteRows(logits: Float32Array, width: number): number {
  let n = 0;
  for (let r = 0; r * width < logits.length; r++) {
    for (let j = r * width; j < (r + 1) * width; j++) {
      if (!Number.isFinite(logits[j]!)) {
        n++;
        break;
      }
    }
  }
  return n;
}

/**
 * Label names: --labels, else the first model whose config.json has id2label (every other
 * model that has one must agree), else integer ids sized by the first model's output.
 */
function chooseLabels(spec: string | undefined, paths: string[], configs: (ModelConfig | undefined)[]): LabelMap | undefined {
  if (spec !== undefined) return LabelMap.fromSpec(spec);
  let chosen: LabelMap | undefined;
  let chosenFrom = '';
  configs.forEach((c, i) => {
    const map = c ? LabelMap.fromConfig(c) : undefined;
    if (!map) return;
    if (!chosen) {
      chosen = map;
      chosenFrom = paths[i]!;
    } else if (!chosen.sameAs(map)) {
      throw new UserError(
        `${paths[i]}: its labels (${map.names.join(', ')}) differ from ${chosenFrom}'s (${chosen.names.join(', ')}); pass --labels to evaluate them together`,
      );
    }
  });
  return chosen;
}

/**
 * Short distinct names for model paths: the file name without .onnx, with its folder when the
 * file is called model.onnx or two names would collide.
 */
export function modelDisplayNames(paths: readonly string[]): string[] {
  const short = (p: string) => basename(p).replace(/\.onnx$/i, '');
  const withDir = (p: string) => `${basename(dirname(p))}/${short(p)}`;
  const first = paths.map((p) => (short(p) === 'model' ? withDir(p) : short(p)));
  const names = first.map((n, i) => (first.indexOf(n) !== first.lastIndexOf(n) ? withDir(paths[i]!) : n));
  return names.map((n, i) => (names.indexOf(n) !== i ? `${n} (${i + 1})` : n));
}
