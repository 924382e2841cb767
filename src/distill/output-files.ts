/**
 * What a training run writes and where: the model (the -o path), config.json and the tokenizer
 * files next to it, the JSONL log and the checkpoint directory. Everything is checked before
 * training starts (refuse to overwrite without force, never write over an input), and files
 * are written atomically (temporary file + rename).
 */
import { existsSync } from 'node:fs';
import { copyFile, mkdir, readdir, rename, rm, rmdir, stat, writeFile } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { UserError } from '../errors.js';
import { checkOutputPath, saveModel, type ModelProto } from '../onnx/index.js';
import { hasCheckpoint } from './checkpoint.js';

/** A tokenizer file to write next to the model: copied from `from`, or `text` (a built vocabulary). */
export interface TokenizerFile {
  name: string;
  from?: string;
  text?: string;
}

export interface OutputPlan {
  model: string;
  config: string;
  tokenizer: Array<TokenizerFile & { to: string }>;
  log: string;
  checkpointDir: string;
}

/** The files a tokenizer consists of: the vocabulary file and the settings beside it. */
export function tokenizerFilesOf(tokenizerPath: string): TokenizerFile[] {
  const dir = dirname(tokenizerPath);
  const files: TokenizerFile[] = [{ name: basename(tokenizerPath), from: tokenizerPath }];
  for (const extra of ['tokenizer_config.json', 'special_tokens_map.json']) {
    if (existsSync(join(dir, extra))) files.push({ name: extra, from: join(dir, extra) });
  }
  return files;
}

/**
 * Decides every output path and checks it: the output directory is created; an existing file
 * needs `force`; no output may be one of `inputs`; a checkpoint directory holding a run needs
 * `resume` (to continue it) or `force` (to start over).
 */
export async function planOutputs(
  output: string,
  opts: { force?: boolean; resume?: boolean; inputs: string[]; tokenizer: TokenizerFile[]; log?: string; checkpointDir?: string },
): Promise<OutputPlan> {
  if (!/\.onnx$/i.test(output)) throw new UserError(`${output}: the output must be an .onnx file path`);
  const dir = dirname(resolve(output));
  try {
    await mkdir(dir, { recursive: true });
  } catch (e) {
    throw new UserError(`${output}: cannot create the output directory ${dir} (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
  const stem = output.replace(/\.onnx$/i, '');
  const plan: OutputPlan = {
    model: output,
    config: join(dir, 'config.json'),
    tokenizer: opts.tokenizer.map((t) => ({ ...t, to: join(dir, t.name) })),
    log: opts.log ?? `${output}.log.jsonl`,
    checkpointDir: opts.checkpointDir ?? `${stem}.checkpoints`,
  };
  const inputs = new Set(opts.inputs.map((p) => resolve(p)));
  const targets = [plan.model, plan.config, ...plan.tokenizer.map((t) => t.to), plan.log];
  for (const t of targets) {
    if (inputs.has(resolve(t))) {
      throw new UserError(`${t}: this output would overwrite an input (${t === plan.model ? 'choose another -o' : 'write the output to another directory'})`);
    }
  }
  if (inputs.has(resolve(plan.checkpointDir))) throw new UserError(`${plan.checkpointDir}: the checkpoint directory is an input`);
  await checkOutputPath(plan.model, { force: opts.force, inputs: [...inputs] });
  for (const t of [plan.config, ...plan.tokenizer.map((x) => x.to)]) {
    if (!opts.force && existsSync(t)) throw new UserError(`${t}: already exists (use --force to overwrite)`);
  }
  // The log of a resumed run is appended to.
  if (!opts.force && !opts.resume && existsSync(plan.log)) throw new UserError(`${plan.log}: already exists (use --force to overwrite)`);
  if (existsSync(plan.checkpointDir)) {
    if (!(await stat(plan.checkpointDir)).isDirectory()) throw new UserError(`${plan.checkpointDir}: exists and is not a directory`);
    if (!opts.resume && !opts.force && hasCheckpoint(plan.checkpointDir)) {
      throw new UserError(`${plan.checkpointDir}: holds a checkpoint of an earlier run (use --resume to continue it, or --force to start over)`);
    }
  }
  return plan;
}

/**
 * Runs a training command; when it fails, removes the folders it created for its output and
 * checkpoints if they are still empty (a failed run leaves no empty folders; its log and
 * checkpoints, when written, stay for --resume).
 */
export async function removingNewEmptyDirsOnFailure<T>(output: string | undefined, checkpointDir: string | undefined, run: () => Promise<T>): Promise<T> {
  const created = new Set<string>();
  if (output) {
    const targets = [output, join(checkpointDir ?? `${output.replace(/\.onnx$/i, '')}.checkpoints`, 'state.json')];
    for (const t of targets) {
      for (let d = dirname(resolve(t)); !existsSync(d) && dirname(d) !== d; d = dirname(d)) created.add(d);
    }
  }
  try {
    return await run();
  } catch (e) {
    for (const d of [...created].sort((a, b) => b.length - a.length)) await rmdir(d).catch(() => {});
    throw e;
  }
}

/** Clears a checkpoint directory for a fresh run (only our own files). */
export async function clearCheckpoints(dir: string): Promise<void> {
  if (!existsSync(dir)) return;
  for (const f of await readdir(dir)) {
    if (f === 'state.json' || f === 'best.onnx' || /^state-\d+\.onnx$/.test(f)) await rm(join(dir, f), { force: true });
  }
}

async function writeAtomic(path: string, data: string | Uint8Array): Promise<void> {
  const tmp = `${path}.${process.pid}.tmp`;
  try {
    await writeFile(tmp, data);
    await rename(tmp, path);
  } catch (e) {
    await rm(tmp, { force: true });
    throw new UserError(`${path}: cannot write (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
}

/** Writes the model, config.json and the tokenizer files; returns the model's size in bytes. */
export async function writeOutputs(plan: OutputPlan, model: ModelProto, config: Record<string, unknown>, inputs: string[]): Promise<number> {
  const saved = await saveModel(model, plan.model, { force: true, inputs });
  await writeAtomic(plan.config, JSON.stringify(config, null, 2) + '\n');
  for (const t of plan.tokenizer) {
    if (t.text !== undefined) {
      await writeAtomic(t.to, t.text);
    } else if (resolve(t.from!) !== resolve(t.to)) {
      const tmp = `${t.to}.${process.pid}.tmp`;
      await copyFile(t.from!, tmp);
      await rename(tmp, t.to);
    }
  }
  return saved.bytes;
}
