/**
 * Checkpoints of a training run, in one directory:
 *   state-<step>.onnx  weights + optimizer state (trainerStateToModel), the "last" checkpoint
 *   state.json         where the loop stands (epoch, batch position, step, best, curves) and
 *                      which state file goes with it; written last, by rename, so it always
 *                      names a complete state file
 *   best.onnx          the inference model with the best validation accuracy so far
 * `--resume` reads state.json and its state file. The batch order is a function of the seed and
 * the epoch (epoch-order.ts), so the epoch and the batch position are the RNG's position.
 */
import { existsSync } from 'node:fs';
import { mkdir, readFile, readdir, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { UserError } from '../errors.js';
import { loadModel, saveModel, type ModelProto } from '../onnx/index.js';
import { trainerStateFromModel, trainerStateToModel, type TrainerState } from './trainer.js';

export const checkpointStateFile = 'state.json';
export const bestModelFile = 'best.onnx';

export interface EvalPoint {
  step: number;
  /** Fractional epochs done (step / steps per epoch). */
  epoch: number;
  accuracy: number;
  /** Mean cross-entropy on the validation labels (breaks accuracy ties: lower is better). */
  loss: number;
}

export interface LoopState {
  version: 1;
  /** What must not change for a resume to continue the same run (data, batch size, seed, ...). */
  fingerprint: string;
  /** Optimizer steps done. */
  step: number;
  /** The epoch in progress (0-based) and the next batch of its order. */
  epoch: number;
  batchInEpoch: number;
  examplesSeen: number;
  /** Seconds spent in training steps (evaluation and checkpoints excluded). */
  trainSeconds: number;
  best?: EvalPoint;
  /** Evaluations since the best one (for --patience). */
  evalsSinceBest: number;
  losses: Array<[step: number, loss: number]>;
  evals: EvalPoint[];
  /** The weights + optimizer file this state goes with. */
  stateFile?: string;
}

export function freshLoopState(fingerprint: string): LoopState {
  return { version: 1, fingerprint, step: 0, epoch: 0, batchInEpoch: 0, examplesSeen: 0, trainSeconds: 0, evalsSinceBest: 0, losses: [], evals: [] };
}

/** True when the directory holds a checkpoint (state.json). */
export function hasCheckpoint(dir: string): boolean {
  return existsSync(join(dir, checkpointStateFile));
}

/** Writes the weights + optimizer state, then state.json naming them; removes older state files. */
export async function saveCheckpoint(dir: string, state: TrainerState, loop: LoopState): Promise<void> {
  await mkdir(dir, { recursive: true });
  const stateFile = `state-${state.step}.onnx`;
  await saveModel(trainerStateToModel(state), join(dir, stateFile), { force: true });
  loop.stateFile = stateFile;
  const tmp = join(dir, `${checkpointStateFile}.${process.pid}.tmp`);
  await writeFile(tmp, JSON.stringify(loop));
  await rename(tmp, join(dir, checkpointStateFile));
  for (const f of await readdir(dir)) {
    if (/^state-\d+\.onnx$/.test(f) && f !== stateFile) await rm(join(dir, f), { force: true });
  }
}

export async function saveBestModel(dir: string, model: ModelProto): Promise<string> {
  await mkdir(dir, { recursive: true });
  const path = join(dir, bestModelFile);
  await saveModel(model, path, { force: true });
  return path;
}

export async function loadBestModel(dir: string): Promise<ModelProto | undefined> {
  const path = join(dir, bestModelFile);
  return existsSync(path) ? loadModel(path) : undefined;
}

export async function loadCheckpoint(dir: string): Promise<{ loop: LoopState; state: TrainerState }> {
  const file = join(dir, checkpointStateFile);
  if (!existsSync(file)) throw new UserError(`${dir}: no checkpoint to resume (no ${checkpointStateFile}); run without --resume`);
  let loop: LoopState;
  try {
    loop = JSON.parse(await readFile(file, 'utf8')) as LoopState;
  } catch (e) {
    throw new UserError(`${file}: not a valid checkpoint state (${(e as Error).message})`);
  }
  if (loop.version !== 1 || !loop.stateFile) throw new UserError(`${file}: not a checkpoint state written by this version`);
  const statePath = join(dir, loop.stateFile);
  if (!existsSync(statePath)) throw new UserError(`${file}: its weights file ${loop.stateFile} is missing`);
  const state = trainerStateFromModel(await loadModel(statePath), statePath);
  if (state.step !== loop.step) throw new UserError(`${statePath}: holds step ${state.step} but ${file} says step ${loop.step}`);
  return { loop, state };
}
