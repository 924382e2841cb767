/**
 * `quantize --ort-optimize`: onnxruntime's own basic graph optimizations before quantizing, as
 * onnxruntime's quantization pre-processing does. A session at level `basic` on the CPU
 * provider rewrites the graph with standard ops only (constant folding, redundant node
 * elimination, Conv+Add/Mul/BatchNorm fusion) and writes it to a temp file, which is then
 * quantized instead of the input. What it buys: weights that reach their MatMul/Conv through
 * arithmetic on constants (`Transpose(W)` from an export without constant folding, a `Mul` by
 * a scale, a `Cast`) become initializers the rules can quantize. Higher levels are not offered:
 * they write com.microsoft fused ops (FusedMatMul, Gelu, SkipLayerNormalization) that run only
 * in onnxruntime and hide MatMuls from quantization.
 */
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm, stat, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { UserError } from '../../errors.js';
import { allTensors, loadModelLazy, type ModelProto } from '../../onnx/index.js';

export interface OrtOptimizeReport {
  level: 'basic';
  nodesBefore: number;
  nodesAfter: number;
  initializersBefore: number;
  initializersAfter: number;
  /** Node count change per op type (negative: removed or folded), only the types that changed. */
  opTypeChanges: Record<string, number>;
}

export interface OrtOptimized {
  /** The optimized model file (in a temp folder). */
  path: string;
  /** It, loaded lazily (its large weights read from that file when needed). */
  model: ModelProto;
  report: OrtOptimizeReport;
  /** Removes the temp folder: only once nothing reads the file any more. */
  cleanup: () => Promise<void>;
}

/** onnxruntime writes its optimized graph as one protobuf: 2 GiB at most. */
const maxBytes = 2 ** 31 - 1;

/** Runs onnxruntime's basic optimizations on `inPath` and returns the optimized file. `before`: the input's structure, for the report. */
export async function optimizeWithOnnxruntime(inPath: string, before: ModelProto): Promise<OrtOptimized> {
  const { openSession } = await import('../../runtime/session.js');
  const size = (await stat(inPath)).size;
  if (size > maxBytes) throw new UserError(`${inPath}: --ort-optimize: onnxruntime writes its optimized model as a single file, at most 2 GiB; this one is ${size} bytes`);
  const dir = await mkdtemp(join(tmpdir(), 'distillery-ort-optimize-'));
  const cleanup = () => rm(dir, { recursive: true, force: true });
  try {
    const path = join(dir, 'optimized.onnx');
    let session;
    try {
      ({ session } = await openSession(inPath, { graphOptimizationLevel: 'basic', threads: 1, logSeverityLevel: 3, loadCheckOnly: true, optimizedModelFilePath: path }));
    } catch (e) {
      throw new UserError(`${(e as Error).message.replace(/\.?$/, '')}; --ort-optimize needs a model onnxruntime loads`);
    }
    await session.release();
    // Initializers onnxruntime left as they were keep their external data references, relative to
    // the input's folder: link those files into the temp folder so the optimized model reads them there.
    const after = await loadModelLazy(path);
    await linkExternalFiles(after, dirname(resolve(inPath)), dir, inPath);
    return { path, model: after, report: optimizeReport(before, after), cleanup };
  } catch (e) {
    await cleanup();
    throw e;
  }
}

async function linkExternalFiles(model: ModelProto, fromDir: string, toDir: string, label: string): Promise<void> {
  const files = new Set<string>();
  for (const t of allTensors(model)) {
    const location = t.externalData?.find((e) => e.key === 'location')?.value;
    if (t.dataLocation === 1 && location) files.add(location);
  }
  for (const f of files) {
    const target = join(toDir, f);
    if (existsSync(target)) continue;
    const source = join(fromDir, f);
    if (!existsSync(source)) throw new UserError(`${label}: external data file ${f} (kept by onnxruntime's optimized model) not found next to the model`);
    await mkdir(dirname(target), { recursive: true });
    await symlink(source, target);
  }
}

function optimizeReport(before: ModelProto, after: ModelProto): OrtOptimizeReport {
  const count = (m: ModelProto) => {
    const c = new Map<string, number>();
    for (const n of m.graph?.node ?? []) c.set(n.opType ?? '', (c.get(n.opType ?? '') ?? 0) + 1);
    return c;
  };
  const a = count(before);
  const b = count(after);
  const opTypeChanges: Record<string, number> = {};
  for (const t of [...new Set([...a.keys(), ...b.keys()])].sort()) {
    const d = (b.get(t) ?? 0) - (a.get(t) ?? 0);
    if (d !== 0) opTypeChanges[t] = d;
  }
  return {
    level: 'basic',
    nodesBefore: before.graph?.node?.length ?? 0,
    nodesAfter: after.graph?.node?.length ?? 0,
    initializersBefore: before.graph?.initializer?.length ?? 0,
    initializersAfter: after.graph?.initializer?.length ?? 0,
    opTypeChanges,
  };
}
