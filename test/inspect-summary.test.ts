import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { inspectModel } from '../src/inspect/index.js';
import { loadModel, loadModelLazy, saveModel } from '../src/onnx/index.js';
import { quantizeFile, quantizeModel, type QuantizeOptions } from '../src/quantize/index.js';
import { cli } from './cli-run.js';
import { smallBert, smallBertModel } from './quantize-fixtures.js';
import { hasSharedFiles, SST2_MODEL } from './shared-fixtures.js';

const REAL = SST2_MODEL;
const hasShared = hasSharedFiles('inspect on sst2-bert-mini', REAL);

const dir = mkdtempSync(join(tmpdir(), 'inspect-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('inspectModel', () => {
  const fp32 = smallBertModel(2);

  it('summarises a float model: interface with symbolic shapes, opsets, histogram, parameters, bytes by dtype', () => {
    const s = inspectModel(fp32);
    expect(s.irVersion).toBe(8);
    expect(s.opsets).toEqual([{ domain: 'ai.onnx', version: 17 }]);
    expect(s.inputs).toEqual([
      { name: 'input_ids', dtype: 'int64', shape: ['batch', 'sequence'] },
      { name: 'attention_mask', dtype: 'int64', shape: ['batch', 'sequence'] },
      { name: 'token_type_ids', dtype: 'int64', shape: ['batch', 'sequence'] },
    ]);
    expect(s.outputs).toEqual([{ name: 'logits', dtype: 'float32', shape: ['batch', 3] }]);
    expect(s.opHistogram.MatMul).toBe(16);
    expect(s.opHistogram.Gemm).toBe(2);
    expect(Object.values(s.opHistogram).reduce((a, b) => a + b, 0)).toBe(s.nodes);
    const H = smallBert.hiddenSize;
    const F = smallBert.intermediateSize;
    const expected = 1000 * H + 32 * H + 2 * H + 2 * H + 2 * (4 * (H * H + H) + (H * F + F) + (F * H + H) + 4 * H) + (H * H + H) + (3 * H + 3);
    expect(s.parameters).toBe(expected);
    expect(s.initializerBytesByDtype.float32).toBe(4 * (expected + 6)); // + 6 float scalars (mask fill, GELU constants...)
    expect(s.initializerBytesByDtype.int64).toBeGreaterThan(0);
    expect(s.quantized).toEqual([]);
  });

  for (const options of [{}, { format: 'qoperator' }, { format: 'qdq', perChannel: true }, { weightType: 'uint8', perChannel: true, format: 'qoperator' }, { msOp: 'DynamicQuantizeMatMul', weightType: 'uint8' }] as QuantizeOptions[]) {
    it(`lists int8 tensors with the scale and zero point the quantizer chose (${JSON.stringify(options)})`, () => {
      const { model, report } = quantizeModel(fp32, options);
      const s = inspectModel(model);
      expect(s.quantized.map((q) => q.name).sort()).toEqual(report.tensors.map((t) => t.quantizedName).sort());
      for (const t of report.tensors) {
        const q = s.quantized.find((x) => x.name === t.quantizedName)!;
        expect(q.dtype).toBe(t.dtype);
        expect(q.scale, t.name).toEqual(t.scale);
        expect(q.zeroPoint, t.name).toEqual(t.zeroPoint);
        // inspect gives the axis of the stored tensor: integer formats store a transB=1 Gemm weight transposed.
        if (Array.isArray(t.scale)) expect(q.axis).toBe(t.opType === 'Gemm' && options.format !== 'qdq' ? 1 - t.axis! : t.axis);
      }
      // Quantized weights count as parameters; scales and zero points do not.
      expect(s.parameters).toBe(inspectModel(fp32).parameters);
      expect(s.initializerBytesByDtype[report.options.weightType]).toBeGreaterThan(1000 * 64);
    });
  }

  for (const options of [{ bits: 4, symmetric: true }, { bits: 4, symmetric: false }, { bits: 8, symmetric: true }] as QuantizeOptions[]) {
    it(`lists block-quantized tensors by their weight shape, bits and block size, and counts their logical weights (${JSON.stringify(options)})`, () => {
      const { model, report } = quantizeModel(fp32, { ...options, minElements: 0 });
      const s = inspectModel(model);
      const blocks = report.tensors.filter((t) => t.block);
      expect(blocks.length).toBeGreaterThan(10);
      expect(s.quantized.map((q) => q.name).sort()).toEqual(report.tensors.map((t) => t.quantizedName).sort());
      for (const t of blocks) {
        const q = s.quantized.find((x) => x.name === t.quantizedName)!;
        expect(q.block, t.name).toEqual({ bits: options.bits, blockSize: t.block!.size, logicalShape: expect.any(Array), zeroPoints: !options.symmetric });
        // MatMulNBits stores a [K, N] MatMul weight one row per output: [N, K]; Gather tables keep their shape.
        const [r, c] = t.shape;
        expect(q.block!.logicalShape.reduce((a, b) => a * b, 1), t.name).toBe(r! * c!);
        if (t.opType === 'MatMul') expect(q.block!.logicalShape, t.name).toEqual([c, r]);
        if (t.opType === 'Gather') expect(q.block!.logicalShape, t.name).toEqual([r, c]);
        // Two 4-bit codes a byte: the stored tensor has half the elements of the weight.
        if (options.bits === 4) expect(q.shape.reduce((a, b) => a * b, 1), t.name).toBe((r! * c!) / 2);
      }
      // Packed bytes are not the parameter count: the block-quantized model has as many weights as the float one.
      expect(s.parameters).toBe(inspectModel(fp32).parameters);
    });
  }
});

describe('distillery inspect (CLI)', () => {
  it('shows block-quantized (--bits 4) tensors with their weight shape and block size, not a run-time scale', async () => {
    const fp32Path = join(dir, 'model-for-q4.onnx');
    const q4Path = join(dir, 'model-q4.onnx');
    await saveModel(smallBertModel(2), fp32Path);
    await quantizeFile(fp32Path, q4Path, { bits: 4, blockSize: 32, minElements: 0 });
    const table = await cli('inspect', q4Path);
    expect(table.code, table.stderr).toBe(0);
    expect(table.stdout).toContain(`Parameters: ${inspectModel(smallBertModel(2)).parameters.toLocaleString('en-US')} in`);
    expect(table.stdout).toMatch(/bert\.embeddings\.word_embeddings\.weight\S*\s+uint8 \(4-bit\)\s+\[1000, 64\] packed \[1000, 32\]\s+per block of 32\s+none \(symmetric\)\s+com\.microsoft\.GatherBlockQuantized/);
    expect(table.stdout).toMatch(/uint8 \(4-bit\)\s+\[64, 64\] packed \[64, 2, 16\]\s+per block of 32\s+none \(symmetric\)\s+com\.microsoft\.MatMulNBits/);
    expect(table.stdout).not.toMatch(/run time/);
  });

  it('prints a table, or JSON with --json; weights are not loaded into memory', async () => {
    const fp32Path = join(dir, 'model.onnx');
    const int8Path = join(dir, 'model-int8.onnx');
    await saveModel(smallBertModel(2), fp32Path);
    await quantizeFile(fp32Path, int8Path, { perChannel: true });
    const table = await cli('inspect', int8Path);
    expect(table.code, table.stderr).toBe(0);
    expect(table.stdout).toMatch(/IR version 8, producer onnx-distillery, opsets ai\.onnx 17, com\.microsoft 1/);
    expect(table.stdout).toMatch(/input_ids\s+int64\s+\[batch, sequence\]/);
    expect(table.stdout).toMatch(/Quantized tensors \(15\)/);
    expect(table.stdout).toMatch(/bert\.embeddings\.word_embeddings\.weight_quantized\s+int8\s+\[1000, 64\]\s+\S+\.\.\S+ \(64, axis 1\)\s+0 x64\s+Gather/);
    expect(table.stdout).not.toMatch(/external data/);
    const json = JSON.parse((await cli('inspect', int8Path, '--json')).stdout);
    expect(json.file).toBe(int8Path);
    expect(json.quantized).toHaveLength(15);
    expect(json.externalTensors).toBe(0);
    // Same summary as from a fully loaded model.
    const { schema, file: _f, fileBytes: _b, ...summary } = json;
    expect(schema).toBe('onnx-distillery/inspect@1');
    expect(summary).toEqual(JSON.parse(JSON.stringify(inspectModel(await loadModel(int8Path)))));
    expect(inspectModel(await loadModelLazy(int8Path), { path: int8Path })).toEqual(inspectModel(await loadModel(int8Path)));
  });

  it('bad input: one line naming the file', async () => {
    const r = await cli('inspect', join(dir, 'nope.onnx'));
    expect(r.code).toBe(2);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/nope\.onnx: no such file/);
  });
});

describe.skipIf(!hasShared)('inspect sst2-bert-mini', () => {
  it('matches the model card: 11,056,386 parameters, opset 14, the exporter op histogram', async () => {
    const s = inspectModel(await loadModelLazy(REAL), { path: REAL });
    expect(s.parameters).toBe(11_056_386);
    expect(s.irVersion).toBe(7);
    expect(s.opsets).toEqual([{ domain: 'ai.onnx', version: 14 }]);
    expect(s.opHistogram).toMatchObject({ Constant: 137, Add: 60, Gather: 37, Unsqueeze: 35, Shape: 33, MatMul: 32, Gemm: 2, Erf: 4, Softmax: 4 });
    expect(s.outputs).toEqual([{ name: 'logits', dtype: 'float32', shape: ['batch', 2] }]);
    expect(s.initializerBytesByDtype).toEqual({ float32: 4 * 11_056_386 });
  });

  it('counts the 4-bit (--bits 4) copy by its weights, not its packed bytes: 11,056,386 parameters', async () => {
    const { model } = quantizeModel(await loadModel(REAL), { bits: 4 });
    expect(inspectModel(model).parameters).toBe(11_056_386);
  });
});
