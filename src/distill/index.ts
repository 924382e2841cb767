// Distillation and training: distill() and train() with their options, events and results,
// and the pieces they are built from.
export { distill } from './distill.js';
export { train } from './train.js';
export * from './options.js';
export { DivergedError, runTraining, Validation, type EngineResult, type EngineSetup } from './loop.js';
export { epochBatches } from './epoch-order.js';
export { parseArchitectureSpec, bertConfigFromSpec, type ArchitectureSpec } from './student-config.js';
export type { EvalPoint } from './checkpoint.js';
export { learningRateAt, warmupSteps, type DecayKind, type ScheduleOptions } from './schedule.js';
export { teacherLogits, type TeacherLogits } from './teacher-cache.js';
export { createTrainer, type Trainer, type TrainerOptions, type StepResult } from './trainer.js';
export type { LossKind, LossSpec } from './losses.js';
export type { OptimizerKind, OptimizerSpec } from './optimizer.js';
export { planVocabPruning, pruneWordEmbeddings, usedTokenIds, producibleBy, type VocabPruning } from './prune-vocab.js';
