/**
 * The part `distill` and `train` share after they have a model and tokenized data: open the
 * log, run the engine, write the model with its config.json and tokenizer files.
 */
import { modelStats, type ModelProto } from '../onnx/index.js';
import { clearCheckpoints, writeOutputs, type OutputPlan } from './output-files.js';
import { runTraining, type EngineResult, type EngineSetup } from './loop.js';
import type { TrainingResult } from './options.js';
import { JsonlLog } from './train-log.js';

/** The engine's setup, with the output plan in place of the checkpoint folder and log it opens. */
export interface RunSpec extends Omit<EngineSetup, 'checkpointDir' | 'log'> {
  plan: OutputPlan;
  /** config.json written next to the model. */
  configJson: Record<string, unknown>;
  /** Paths no output may replace. */
  inputs: string[];
  /** Written as the log's first line (settings and data sizes). */
  start: Record<string, unknown>;
  /** When the whole call started (performance.now()). */
  startedAt: number;
  warnings: string[];
  /** Rewrites the trained model just before it is written (--prune-vocab). */
  transformModel?: (model: ModelProto) => Promise<ModelProto>;
}

export async function runAndWrite(s: RunSpec): Promise<TrainingResult & { engine: EngineResult }> {
  if (!s.resume) await clearCheckpoints(s.plan.checkpointDir);
  const log = JsonlLog.open(s.plan.log, { append: s.resume });
  let engine: EngineResult;
  try {
    log.write({ type: 'start', resume: s.resume, ...s.start });
    engine = await runTraining({ ...s, checkpointDir: s.plan.checkpointDir, log });
  } finally {
    log.close();
  }
  s.events?.({ type: 'phase', phase: 'writing', message: `writing ${s.plan.model}` });
  const written = s.transformModel ? await s.transformModel(engine.model) : engine.model;
  const bytes = await writeOutputs(s.plan, written, s.configJson, s.inputs);
  const r = s.recipe;
  return {
    engine,
    files: {
      model: s.plan.model,
      config: s.plan.config,
      tokenizer: s.plan.tokenizer.map((t) => t.to),
      log: s.plan.log,
      checkpointDir: s.plan.checkpointDir,
    },
    student: {
      path: s.plan.model,
      ...(engine.accuracy !== undefined ? { accuracy: engine.accuracy } : {}),
      parameters: modelStats(written).parameters,
      bytes,
    },
    ...(engine.initialAccuracy !== undefined ? { initialAccuracy: engine.initialAccuracy } : {}),
    selected: engine.selected,
    ...(engine.best ? { best: engine.best } : {}),
    steps: engine.steps,
    totalSteps: engine.totalSteps,
    epochs: r.epochs,
    stopReason: engine.stopReason,
    examplesSeen: engine.examplesSeen,
    trainExamples: s.examples.length,
    seconds: (performance.now() - s.startedAt) / 1000,
    trainSeconds: engine.trainSeconds,
    examplesPerSecond: engine.trainSeconds > 0 ? engine.examplesSeen / engine.trainSeconds : 0,
    losses: engine.losses,
    evals: engine.evals,
    warnings: s.warnings,
  };
}
