/**
 * `distill()`: a student learns from a teacher's soft labels (and the hard labels), on the
 * training set plus any transfer set. The teacher's logits are computed once with onnxruntime
 * and cached on disk; the student is an ONNX classifier the user brings, a fresh BERT-style
 * encoder built to match the teacher's inputs, vocabulary, labels and positions, or (the
 * default) the teacher's own graph with a subset of its encoder blocks.
 */
import { stat } from 'node:fs/promises';
import { bertConfigJson, buildBertClassifier } from '../architectures/bert.js';
import { deriveStudent, parseStudentLayers } from '../architectures/derive-student.js';
import { initEmbeddingsFromTeacher, type EmbeddingInitReport } from '../architectures/embedding-init.js';
import { findEncoderStructure } from '../architectures/encoder-structure.js';
import type { EncodedExample } from '../data/encode.js';
import { LabelMap } from '../data/labels.js';
import { loadModelConfig, type ModelConfig } from '../data/model-config.js';
import { loadModelTokenizer } from '../data/model-tokenizer.js';
import type { Tokenizer } from '../data/tokenizer.js';
import { UserError } from '../errors.js';
import { openClassifier } from '../eval/classifier.js';
import { argmaxRows } from '../eval/metrics.js';
import { encodeModel, loadModel, modelStats, valueShape, type ModelProto } from '../onnx/index.js';
import { feedPlanOf, Validation } from './loop.js';
import {
  resolveAugment,
  resolveIntermediate,
  resolveLossSpec,
  resolveRecipe,
  resolveTeacherRun,
  type DerivedStudentSummary,
  type DistillOptions,
  type DistillResult,
  type PrunedVocabSummary,
  type TrainingEvents,
} from './options.js';
import { planOutputs, removingNewEmptyDirsOnFailure, tokenizerFilesOf, type TokenizerFile } from './output-files.js';
import { prepareVocabPruning, pruneWordEmbeddings, usedTokenIds, type PruningStep } from './prune-vocab.js';
import { runAndWrite } from './run-and-write.js';
import { bertConfigFromSpec, parseArchitectureSpec } from './student-config.js';
import { planIntermediate, TeacherIntermediates } from './intermediate.js';
import { accuracyWarnings, majorityBaseline } from './sanity.js';
import { augmentedSet, resolveAugmentCopies } from './augment.js';
import { distillFields } from './recipe-fields.js';
import { teacherLogits, type TeacherLogits } from './teacher-cache.js';
import { encodeSet, readLabeledSet, readUnlabeledSet, type TextSet } from './training-data.js';

export async function distill(options: DistillOptions, events: TrainingEvents = () => {}): Promise<DistillResult> {
  return removingNewEmptyDirsOnFailure(options.output, options.checkpointDir, () => distillInto(options, events));
}

async function distillInto(options: DistillOptions, events: TrainingEvents): Promise<DistillResult> {
  const startedAt = performance.now();
  const o = options;
  if (!o.teacher) throw new UserError('distill: give --teacher');
  if (!o.output) throw new UserError('distill: give -o/--output');
  const studentChoices = [o.student !== undefined, o.studentConfig !== undefined, o.studentLayers !== undefined].filter(Boolean).length;
  if (studentChoices > 1) {
    throw new UserError('distill: give one of --student (an ONNX model), --student-config (a fresh BERT student) or --student-layers (a student derived from the teacher)');
  }
  const recipe = resolveRecipe(o, o.val !== undefined);
  const loss = resolveLossSpec(o);
  const teacherRun = resolveTeacherRun(o);
  const intermediateOptions = resolveIntermediate(o);
  const augmentAsked = resolveAugment(o);
  // The copies carry no label: without a teacher term they would teach nothing.
  const teacherTerm = loss.kind !== 'ce' && (loss.alpha ?? 0.5) > 0;
  if (!teacherTerm && augmentAsked.augment !== 'auto' && augmentAsked.augment > 0) {
    throw new UserError('--augment: the copies are labelled by the teacher only; with --loss ce (or --alpha 0) they would teach nothing');
  }
  const warnings: string[] = [];
  const warn = (message: string) => {
    warnings.push(message);
    events({ type: 'warning', message });
  };

  // Teacher: tokenizer, labels, position table.
  events({ type: 'phase', phase: 'reading', message: `reading ${o.teacher}` });
  const teacherConfig = await loadModelConfig(o.teacher);
  const teacherTok = await loadModelTokenizer(o.teacher, { maxLength: o.maxLength, config: teacherConfig ?? null });
  teacherTok.warnings.forEach(warn);
  const teacherModel = await loadModel(o.teacher);
  const teacherWidth = outputWidth(teacherModel);
  const labels = o.labels
    ? LabelMap.fromSpec(o.labels)
    : teacherConfig
      ? LabelMap.fromConfig(teacherConfig)
      : undefined;
  const numLabels = labels?.size ?? teacherWidth ?? (await teacherOutputWidth(o.teacher));
  if (teacherWidth !== undefined && teacherWidth !== numLabels) {
    throw new UserError(`${o.teacher}: the teacher outputs ${teacherWidth} scores but there are ${numLabels} labels (from ${labels?.source})`);
  }
  const labelNames = labels?.names ?? Array.from({ length: numLabels }, (_, i) => String(i));

  // Student: the user's, or a fresh BERT with the teacher's vocabulary, labels and positions.
  let student: ModelProto;
  let studentTok: Tokenizer;
  let tokenizerFiles: TokenizerFile[];
  let configJson: Record<string, unknown>;
  const inputs = [o.teacher, o.train, ...(o.val ? [o.val] : []), ...(o.unlabeled ?? []), teacherTok.tokenizer.path];
  if (teacherConfig) inputs.push(teacherConfig.path);
  let studentDescription: string;
  let derived: DerivedStudentSummary | undefined;
  let studentEmbeddings: EmbeddingInitReport | undefined;
  // The config.json whose tokenizer settings (lower-casing, accents) the student's tokenizer follows.
  let studentTokConfig: ModelConfig | undefined = teacherConfig;
  if (o.studentConfig !== undefined) {
    const spec = typeof o.studentConfig === 'string' ? parseArchitectureSpec(o.studentConfig, '--student-config') : o.studentConfig;
    const vocabSize = teacherConfig?.vocabSize ?? teacherTok.tokenizer.vocabSize;
    const maxPositions = teacherTok.positionLimit ?? teacherConfig?.maxPositionEmbeddings ?? teacherTok.tokenizer.maxLength;
    const cfg = bertConfigFromSpec(spec, { vocabSize, numLabels, maxPositions }, '--student-config');
    if (cfg.maxPositions < teacherTok.tokenizer.maxLength) {
      throw new UserError(`--student-config: positions=${cfg.maxPositions} is shorter than the inputs (${teacherTok.tokenizer.maxLength} tokens); raise it or pass --max-length`);
    }
    student = buildBertClassifier(cfg, { seed: recipe.seed });
    const embeddings = o.studentEmbeddings ?? 'teacher';
    if (embeddings !== 'teacher' && embeddings !== 'random') throw new UserError(`--student-embeddings must be teacher or random, got ${String(embeddings)}`);
    if (embeddings === 'teacher') {
      try {
        studentEmbeddings = initEmbeddingsFromTeacher(student, teacherModel, { student: '--student-config student', teacher: o.teacher });
      } catch (e) {
        // The default falls back to random embeddings on a teacher whose tables cannot be found; asked for, it is an error.
        if (!(e instanceof UserError) || o.studentEmbeddings === 'teacher') throw e;
        warn(`${e.message}; the student's embeddings start random (--student-embeddings random says so without this warning)`);
      }
    }
    studentTok = teacherTok.tokenizer;
    tokenizerFiles = tokenizerFilesOf(teacherTok.tokenizer.path);
    configJson = { ...bertConfigJson(cfg, [...labelNames]), ...tokenizerSettings(teacherConfig) };
    studentDescription =
      `fresh BERT: ${cfg.numLayers} layers, hidden ${cfg.hiddenSize}, ${cfg.numHeads} heads, FFN ${cfg.intermediateSize}` +
      (studentEmbeddings ? `, embeddings from the teacher (${studentEmbeddings.copied.length} copied, ${studentEmbeddings.projected.length} projected)` : '');
  } else if (o.student === undefined) {
    // Derived from the teacher: its graph with a subset of its blocks (half of them, rounded up, by default).
    const byDefault = o.studentLayers === undefined;
    let layers = o.studentLayers;
    try {
      layers ??= Math.ceil(findEncoderStructure(teacherModel, o.teacher).layers.length / 2);
      const d = deriveStudent(teacherModel, { layers: typeof layers === 'string' ? parseStudentLayers(layers) : layers, label: o.teacher });
      student = d.model;
      derived = { keptLayers: d.keptLayers, teacherLayers: d.teacherLayers, byDefault };
    } catch (e) {
      if (byDefault && e instanceof UserError) {
        throw new UserError(`${e.message}. With no --student or --student-config, distill derives the student from the teacher; give one of them instead`);
      }
      throw e;
    }
    studentTok = teacherTok.tokenizer;
    tokenizerFiles = tokenizerFilesOf(teacherTok.tokenizer.path);
    configJson = withLabels(teacherConfig, labelNames, teacherTok.positionLimit);
    // BERT's key, or DistilBERT's / GPT-style ones when the teacher's config uses those.
    const layerKeys = ['num_hidden_layers', 'n_layers', 'num_layers', 'n_layer'].filter((k) => k in configJson);
    for (const k of layerKeys.length ? layerKeys : ['num_hidden_layers']) configJson[k] = derived.keptLayers.length;
    studentDescription = `derived from the teacher: layers ${derived.keptLayers.join(',')} of ${derived.teacherLayers}`;
    events({
      type: 'phase',
      phase: 'building',
      message: byDefault ? `no student given: derived one from the teacher (${studentDescription})` : studentDescription,
    });
  } else {
    const path = o.student!;
    inputs.push(path);
    const studentConfig = await loadModelConfig(path);
    if (studentConfig) inputs.push(studentConfig.path);
    const loaded = await loadModelTokenizer(path, { maxLength: o.maxLength, config: studentConfig ?? null });
    loaded.warnings.forEach(warn);
    inputs.push(loaded.tokenizer.path);
    student = await loadModel(path);
    const width = outputWidth(student);
    if (width !== undefined && width !== numLabels) {
      throw new UserError(`${path}: the student outputs ${width} scores but the teacher has ${numLabels} labels`);
    }
    studentTok = loaded.tokenizer;
    studentTokConfig = studentConfig;
    tokenizerFiles = tokenizerFilesOf(loaded.tokenizer.path);
    configJson = withLabels(studentConfig, labelNames, loaded.positionLimit);
    studentDescription = path;
  }

  const plan = await planOutputs(o.output, {
    force: o.force,
    resume: o.resume,
    inputs,
    tokenizer: tokenizerFiles,
    log: o.log,
    checkpointDir: o.checkpointDir,
  });

  // Data: read once, tokenized for the student (and for the teacher when its tokenizer differs).
  events({ type: 'phase', phase: 'reading', message: `reading ${o.train}` });
  const trainSet = await readLabeledSet(o.train, o.dataset);
  const valSet = o.val ? await readLabeledSet(o.val, o.dataset) : undefined;
  const transferSets: TextSet[] = [];
  for (const p of o.unlabeled ?? []) transferSets.push(await readUnlabeledSet(p, { textCol: o.dataset?.textCol }));
  const augmentCopies = teacherTerm ? resolveAugmentCopies(augmentAsked.augment, trainSet.records.length) : 0;
  if (augmentCopies === 0 && augmentAsked.rate !== distillFields.augmentRate.default) warn(`--augment-rate ${augmentAsked.rate} has no effect: no --augment copies are made`);
  const augmented = augmentCopies > 0 ? augmentedSet(trainSet, { copies: augmentCopies, rate: augmentAsked.rate, seed: recipe.seed }) : undefined;
  // The copies come last: --prune-vocab counts the examples before them.
  const sets = [trainSet, ...transferSets, ...(augmented ? [augmented] : [])];
  const sameTokenizer = studentTok.fingerprint === teacherTok.tokenizer.fingerprint;
  const encodeAll = (tok: Tokenizer) => sets.flatMap((set) => encodeSet(set, tok, labels));
  const examples = encodeAll(studentTok);
  const teacherExamples = sameTokenizer ? examples : encodeAll(teacherTok.tokenizer);
  const valExamples = valSet ? encodeSet(valSet, studentTok, labels) : undefined;
  const teacherValExamples = valSet ? (sameTokenizer ? valExamples! : encodeSet(valSet, teacherTok.tokenizer, labels)) : undefined;
  for (const tok of sameTokenizer ? [studentTok] : [studentTok, teacherTok.tokenizer]) if (tok.truncationWarning) warn(tok.truncationWarning);
  const augmentedCount = augmented?.records.length ?? 0;
  const unlabeledCount = examples.length - trainSet.records.length - augmentedCount;

  // --prune-vocab: the vocabulary the training and unlabeled texts use (validation texts are
  // left out, so its accuracy after pruning shows what unseen texts get).
  let pruning: PruningStep | undefined;
  if (o.pruneVocab) {
    const minCount = o.pruneVocab === true ? 1 : o.pruneVocab;
    if (!Number.isInteger(minCount) || minCount < 1) throw new UserError(`--prune-vocab: the minimum count must be a positive integer, got ${minCount}`);
    pruning = await prepareVocabPruning(studentTok, usedTokenIds(examples.slice(0, examples.length - augmentedCount), minCount), plan, { doLowerCase: studentTokConfig?.doLowerCase, stripAccents: studentTokConfig?.stripAccents });
    configJson.vocab_size = pruning.plan.keptIds.length;
  }
  let prunedVocab: PrunedVocabSummary | undefined;

  // Teacher logits, once, cached by teacher + data + encoding.
  const session = { threads: recipe.threads, device: recipe.device };
  const t0 = performance.now();
  const cacheKey = (paths: string[], columns: unknown[]) => ({
    teacherPath: o.teacher,
    dataPaths: paths,
    encodingFingerprint: JSON.stringify([teacherTok.tokenizer.fingerprint, columns]),
  });
  let trainLogits: TeacherLogits | undefined;
  if (loss.kind !== 'ce') {
    events({ type: 'phase', phase: 'teacher', message: `teacher logits for ${teacherExamples.length} examples` });
    trainLogits = await teacherLogits(teacherExamples, cacheKey(sets.map((s) => s.path), sets.map((s) => s.columns)), {
      session,
      ...teacherRun,
      onProgress: (done, total) => events({ type: 'teacher-progress', done, total }),
    });
    if (trainLogits.numLabels !== numLabels) throw new UserError(`${o.teacher}: the teacher outputs ${trainLogits.numLabels} scores, expected ${numLabels}`);
  }
  let teacherAccuracy: number | undefined;
  if (valSet && teacherValExamples) {
    const v = await teacherLogits(teacherValExamples, cacheKey([valSet.path], [valSet.columns]), { session, ...teacherRun });
    teacherAccuracy = accuracyOf(v.logits, numLabels, teacherValExamples);
  }
  const teacherSeconds = (performance.now() - t0) / 1000;

  // Hidden states / attention: the teacher runs on each training batch with extra outputs.
  // A derived student's layers learn from the teacher blocks they were copied from.
  const layerMap = intermediateOptions.layerMap ?? derived?.keptLayers;
  const iplan = planIntermediate(
    student,
    teacherModel,
    { ...intermediateOptions, ...(layerMap ? { layerMap } : {}) },
    feedPlanOf(student, 'student').find((e) => e.source === 'attention_mask')?.name,
  );
  let teacherIntermediates: TeacherIntermediates | undefined;
  if (iplan) {
    if (!sameTokenizer) throw new UserError('--hidden-loss / --attention-loss need the student to use the teacher\'s tokenizer (the positions must line up)');
    const widths = new Map<string, number>();
    iplan.spec.hidden?.pairs.forEach((p, k) => widths.set(`hidden:${k}`, p.teacherWidth));
    if (iplan.spec.attention) widths.set('attention', iplan.spec.attention.teacherHeads);
    teacherIntermediates = await TeacherIntermediates.open(teacherModel, feedPlanOf(teacherModel, 'teacher'), iplan.teacherValues, widths, examples, {
      budgetBytes: intermediateOptions.cacheBytes,
      ...session,
    });
  }

  let result: Awaited<ReturnType<typeof runAndWrite>>;
  try {
    result = await runAndWrite({
      label: 'student',
      model: student,
      examples,
      teacherLogits: trainLogits?.logits,
      numLabels,
      padId: studentTok.padId,
      validation: valExamples,
      loss,
      ...(iplan && teacherIntermediates ? { intermediate: { spec: iplan.spec, teacher: teacherIntermediates } } : {}),
      recipe,
      plan,
      fingerprint: JSON.stringify(['distill', loss, studentDescription]),
      resume: o.resume ?? false,
      events,
      signal: o.signal,
      configJson,
      inputs,
      start: {
        command: 'distill',
        teacher: o.teacher,
        student: studentDescription,
        train: o.train,
        val: o.val,
        unlabeled: o.unlabeled ?? [],
        // As in the result: every example trained on; the labelled ones, the transfer set and the copies apart.
        trainExamples: examples.length,
        labelledExamples: trainSet.records.length,
        unlabeledExamples: unlabeledCount,
        augmentedExamples: augmentedCount,
        valExamples: valExamples?.length ?? 0,
        loss,
        ...(iplan ? { intermediate: iplan.description } : {}),
        recipe,
      },
      startedAt,
      warnings,
      ...(pruning
        ? {
            transformModel: async (model: ModelProto) => {
              events({ type: 'phase', phase: 'writing', message: 'pruning the vocabulary' });
              const step = pruning!;
              const pruned = pruneWordEmbeddings(model, step.plan.keptIds, studentDescription);
              const score = async (m: ModelProto, ex: EncodedExample[] | undefined, padId: number) =>
                ex ? (await new Validation(ex, feedPlanOf(m, 'student'), recipe.evalBatchSize, padId, session).score(m)).accuracy : undefined;
              const prunedVal = valSet ? encodeSet(valSet, step.tokenizer, labels) : undefined;
              prunedVocab = {
                tokensBefore: step.plan.tokensBefore,
                tokensAfter: step.plan.keptIds.length,
                bytesBefore: encodeModel(model).byteLength,
                bytesAfter: encodeModel(pruned.model).byteLength,
                ...optional('accuracyBefore', await score(model, valExamples, studentTok.padId)),
                ...optional('accuracyAfter', await score(pruned.model, prunedVal, step.tokenizer.padId)),
              };
              return pruned.model;
            },
          }
        : {}),
    });
  } finally {
    await teacherIntermediates?.release();
  }
  const { engine: _engine, ...rest } = result;
  // The written model is the pruned one: its accuracy is the one after pruning.
  const prunedAccuracy = (prunedVocab as PrunedVocabSummary | undefined)?.accuracyAfter;
  if (prunedAccuracy !== undefined) rest.student = { ...rest.student, accuracy: prunedAccuracy };
  const teacherBytes = (await stat(o.teacher)).size;
  const majority = valExamples ? majorityBaseline(valExamples, labelNames) : undefined;
  // Shown after the results (not as progress events): they are about the results.
  const checks = accuracyWarnings({ accuracy: rest.student.accuracy, majority, evals: rest.evals, selected: rest.selected });
  return {
    ...rest,
    warnings: [...rest.warnings, ...checks],
    checks,
    ...(majority ? { majority } : {}),
    teacher: {
      path: o.teacher,
      ...(teacherAccuracy !== undefined ? { accuracy: teacherAccuracy } : {}),
      parameters: modelStats(teacherModel).parameters,
      bytes: teacherBytes,
    },
    ...(teacherAccuracy !== undefined && rest.student.accuracy !== undefined && teacherAccuracy > 0
      ? { retention: rest.student.accuracy / teacherAccuracy }
      : {}),
    teacherLogits: { cached: trainLogits?.cached ?? false, seconds: teacherSeconds, examples: trainLogits?.count ?? 0 },
    ...(derived ? { derivedStudent: derived } : {}),
    ...(studentEmbeddings ? { studentEmbeddings } : {}),
    ...(prunedVocab ? { prunedVocab } : {}),
    unlabeledExamples: unlabeledCount,
    augmentation: { copies: augmentCopies, rate: augmentAsked.rate, examples: augmentedCount, auto: augmentAsked.augment === 'auto' },
    ...(iplan && teacherIntermediates
      ? { intermediate: { losses: iplan.description, layerMap: iplan.layerMap, cached: teacherIntermediates.cached, cacheBytes: teacherIntermediates.fullCacheBytes } }
      : {}),
  };
}

/** The static width of the model's first output ([batch, C]), when declared. */
export function outputWidth(model: ModelProto): number | undefined {
  const shape = valueShape(model.graph?.output?.[0]);
  const w = shape?.[1];
  return typeof w === 'number' && w > 0 ? w : undefined;
}

async function teacherOutputWidth(path: string): Promise<number> {
  const c = await openClassifier(path);
  await c.session.release();
  return c.numLabels;
}

export function accuracyOf(logits: Float32Array, width: number, examples: readonly EncodedExample[]): number {
  const preds = argmaxRows(logits, width);
  let correct = 0;
  examples.forEach((e, i) => {
    if (preds[i] === e.label) correct++;
  });
  return examples.length ? correct / examples.length : 0;
}

/** Tokenizer settings a config.json may carry (kept so the copied vocab.txt tokenizes the same). */
export function tokenizerSettings(config: ModelConfig | undefined): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const k of ['do_lower_case', 'strip_accents']) if (config?.raw[k] !== undefined) out[k] = config.raw[k];
  return out;
}

/** A model's own config.json with the labels set (or a minimal one when it has none). */
export function withLabels(config: ModelConfig | undefined, labels: readonly string[], positions: number | undefined): Record<string, unknown> {
  const base: Record<string, unknown> = config ? { ...config.raw } : positions !== undefined ? { max_position_embeddings: positions } : {};
  return {
    ...base,
    num_labels: labels.length,
    id2label: Object.fromEntries(labels.map((l, i) => [String(i), l])),
    label2id: Object.fromEntries(labels.map((l, i) => [l, i])),
  };
}

function optional<K extends string>(key: K, value: number | undefined): Partial<Record<K, number>> {
  return value === undefined ? {} : ({ [key]: value } as Record<K, number>);
}
