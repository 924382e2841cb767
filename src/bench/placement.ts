import type { ResolvedDevice } from '../runtime/device.js';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { InferenceSession } from 'onnxruntime-node';

/** Where the nodes of one model ran, from onnxruntime's profile of one inference. */
export interface Placement {
  /** Nodes executed (after onnxruntime's graph optimizations, so fused ops count once). */
  nodes: number;
  /** Nodes per execution provider, e.g. { CPUExecutionProvider: 154 }. */
  byProvider: Record<string, number>;
  /** Per op type and provider: how many nodes, and their share of the profiled kernel time. */
  ops: PlacedOp[];
}

export interface PlacedOp {
  opType: string;
  provider: string;
  nodes: number;
  /** Microseconds of kernel time in the profiled run. */
  kernelUs: number;
}

interface TraceEvent {
  cat?: string;
  name?: string;
  dur?: number;
  args?: { op_name?: string; provider?: string; node_index?: string };
}

/**
 * Summarises an onnxruntime profile (Chrome trace JSON): node events carry the op type and the
 * provider that ran the kernel. Each node counts once even when the trace holds several runs.
 */
export function summarizeProfile(events: readonly TraceEvent[]): Placement {
  const nodeEvents = events.filter((e) => e.cat === 'Node' && e.args?.op_name && e.args?.provider);
  // Newer traces have one `<node>_kernel_time` event per node and run; older ones add fences.
  const kernels = nodeEvents.some((e) => e.name?.endsWith('_kernel_time')) ? nodeEvents.filter((e) => e.name?.endsWith('_kernel_time')) : nodeEvents;
  const seen = new Set<string>();
  const ops = new Map<string, PlacedOp>();
  const byProvider: Record<string, number> = {};
  let nodes = 0;
  for (const e of kernels) {
    const opType = e.args!.op_name!;
    const provider = e.args!.provider!;
    const key = `${opType}\u0000${provider}`;
    let op = ops.get(key);
    if (!op) ops.set(key, (op = { opType, provider, nodes: 0, kernelUs: 0 }));
    op.kernelUs += e.dur ?? 0;
    const nodeId = `${e.name}\u0000${e.args!.node_index ?? ''}`;
    if (seen.has(nodeId)) continue;
    seen.add(nodeId);
    op.nodes++;
    byProvider[provider] = (byProvider[provider] ?? 0) + 1;
    nodes++;
  }
  const sorted = [...ops.values()].sort((a, b) => b.kernelUs - a.kernelUs || a.opType.localeCompare(b.opType));
  return { nodes, byProvider, ops: sorted };
}

/** Short provider names for tables: CPUExecutionProvider -> CPU. */
export function shortProvider(provider: string): string {
  return provider.replace(/ExecutionProvider$/, '');
}

/** "CPU 154" or "CUDA 140, CPU 14". */
export function describePlacement(p: Placement): string {
  return Object.entries(p.byProvider)
    .sort((a, b) => b[1] - a[1])
    .map(([provider, n]) => `${shortProvider(provider)} ${n}`)
    .join(', ');
}

/** Op types that only exist in quantized graphs (QDQ, integer matmuls, onnxruntime's Q* contrib ops). */
export function isQuantizedOp(opType: string): boolean {
  return /^(Q[A-Z]|DynamicQuantize|MatMulInteger|ConvInteger|MatMulNBits|MatMulBnb4|MatMulIntegerToFloat)|[Qq]uantizeLinear$/.test(opType);
}

/** Warnings about a placement: work that a GPU (CUDA, WebGPU) run leaves on the CPU, quantized ops above all. */
export function placementWarnings(p: Placement, device: ResolvedDevice, label: string): string[] {
  if (device === 'cpu') return [];
  const gpu = device === 'cuda' ? 'CUDA' : 'WebGPU';
  const onCpu = p.ops.filter((o) => o.provider === 'CPUExecutionProvider');
  if (onCpu.length === 0) return [];
  const list = (ops: PlacedOp[]) => ops.map((o) => `${o.opType} x${o.nodes}`).join(', ');
  const quantized = onCpu.filter((o) => isQuantizedOp(o.opType));
  const warnings: string[] = [];
  if (quantized.length) {
    warnings.push(
      `${label}: ${gpu} run falls back to CPU for quantized ops (${list(quantized)}): their inputs copy between GPU and CPU ` +
        `on every run; this int8 model will be slow on ${gpu} (use the fp32/fp16 model on GPU)`,
    );
  }
  // Shape arithmetic on the CPU is normal for GPU graphs; compute ops there are not.
  const shapeOps = new Set(['Shape', 'Gather', 'Unsqueeze', 'Squeeze', 'Concat', 'Slice', 'Reshape', 'Cast', 'ConstantOfShape', 'Range', 'Size', 'MemcpyToHost', 'MemcpyFromHost']);
  const other = onCpu.filter((o) => !isQuantizedOp(o.opType) && !shapeOps.has(o.opType));
  if (other.length) warnings.push(`${label}: ${gpu} run falls back to CPU for ${list(other)}`);
  return warnings;
}

/** A fresh folder for onnxruntime's profile file; removed by `readProfile`. */
export async function profileDir(): Promise<string> {
  return mkdtemp(join(tmpdir(), 'distillery-profile-'));
}

/**
 * Ends profiling on a session that was opened with profileFilePrefix inside `dir`, reads the
 * trace, summarises it and deletes the folder.
 */
export async function readProfile(session: InferenceSession, dir: string): Promise<Placement> {
  try {
    session.endProfiling();
    const files = (await readdir(dir)).filter((f) => f.endsWith('.json'));
    const events: TraceEvent[] = [];
    for (const f of files) events.push(...(JSON.parse(await readFile(join(dir, f), 'utf8')) as TraceEvent[]));
    return summarizeProfile(events);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
