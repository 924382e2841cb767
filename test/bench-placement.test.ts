import { existsSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { afterAll, describe, expect, it } from 'vitest';
import { resolveInputShapes, syntheticFeeds } from '../src/bench/inputs.js';
import { describePlacement, isQuantizedOp, placementWarnings, summarizeProfile } from '../src/bench/placement.js';
import { SessionRunner } from '../src/bench/session-runner.js';
import { fixtureDir, removeFixtureDirs, writeBert } from './bench-fixtures.js';

afterAll(removeFixtureDirs);

const node = (name: string, op: string, provider: string, dur = 10, index = name) => ({
  cat: 'Node',
  name: `${name}_kernel_time`,
  dur,
  args: { op_name: op, provider, node_index: index },
});

describe('placement from an onnxruntime profile', () => {
  it('counts each node once per provider and op type, ignoring session events', () => {
    const events = [
      { cat: 'Session', name: 'session_initialization', dur: 1000, args: {} },
      node('mm1', 'MatMul', 'CUDAExecutionProvider', 30),
      node('mm2', 'MatMul', 'CUDAExecutionProvider', 20),
      node('shape', 'Shape', 'CPUExecutionProvider', 1),
      node('mmi', 'MatMulInteger', 'CPUExecutionProvider', 50),
      node('dq', 'DynamicQuantizeLinear', 'CPUExecutionProvider', 5),
      // A second run of the same node adds time, not a node.
      node('mm1', 'MatMul', 'CUDAExecutionProvider', 30),
      { cat: 'Node', name: 'mm1_fence_before', dur: 0, args: { op_name: 'MatMul', provider: 'CUDAExecutionProvider' } },
    ];
    const p = summarizeProfile(events);
    expect(p.nodes).toBe(5);
    expect(p.byProvider).toEqual({ CUDAExecutionProvider: 2, CPUExecutionProvider: 3 });
    expect(p.ops[0]).toEqual({ opType: 'MatMul', provider: 'CUDAExecutionProvider', nodes: 2, kernelUs: 80 });
    expect(describePlacement(p)).toBe('CPU 3, CUDA 2');

    const warnings = placementWarnings(p, 'cuda', 'student-int8');
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(/student-int8: CUDA run falls back to CPU for quantized ops \(MatMulInteger x1, DynamicQuantizeLinear x1\)/);
    expect(placementWarnings(p, 'cpu', 'x')).toEqual([]);
    const softmaxOnCpu = summarizeProfile([node('a', 'MatMul', 'CUDAExecutionProvider'), node('s', 'Softmax', 'CPUExecutionProvider')]);
    expect(placementWarnings(softmaxOnCpu, 'cuda', 'm')).toEqual(['m: CUDA run falls back to CPU for Softmax x1']);
  });

  it('knows quantized op types', () => {
    for (const op of ['MatMulInteger', 'QLinearMatMul', 'DynamicQuantizeLinear', 'DequantizeLinear', 'QuantizeLinear', 'QAttention', 'MatMulIntegerToFloat', 'DynamicQuantizeMatMul']) {
      expect(isQuantizedOp(op), op).toBe(true);
    }
    for (const op of ['MatMul', 'Gather', 'Softmax', 'Equal']) expect(isQuantizedOp(op), op).toBe(false);
  });

  it('profiles one real run in its own session and deletes the profile', async () => {
    const model = writeBert(fixtureDir(), 'bert.onnx');
    const before = readdirSync(tmpdir()).filter((f) => f.startsWith('distillery-profile-'));
    const runner = new SessionRunner({ model, settings: { device: 'cpu' }, profile: true });
    const opened = await runner.open();
    const shapes = resolveInputShapes(opened.inputs, { batchSize: 1, batchExplicit: true, seqLen: 8, model }).shapes;
    await runner.setFeeds(syntheticFeeds(opened.inputs, shapes, { vocabSize: 1000 }));
    const p = await runner.placement();
    await runner.close();
    expect(p.nodes).toBeGreaterThan(10);
    expect(Object.keys(p.byProvider)).toEqual(['CPUExecutionProvider']);
    expect(p.ops.map((o) => o.opType)).toContain('MatMul');
    const after = readdirSync(tmpdir()).filter((f) => f.startsWith('distillery-profile-'));
    expect(after.filter((f) => !before.includes(f)).filter((f) => existsSync(`${tmpdir()}/${f}`))).toEqual([]);
  });
});
