import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { main } from '../src/cli/main.js';
import { fixtureDir, removeFixtureDirs, writeBert, writeIdentity } from './bench-fixtures.js';

afterAll(removeFixtureDirs);

let dir: string;
let teacher: string;
let student: string;

beforeAll(() => {
  dir = fixtureDir();
  teacher = writeBert(dir, 'teacher.onnx');
  student = writeBert(dir, 'student.onnx', undefined, 7);
});

afterEach(() => {
  vi.restoreAllMocks();
  process.exitCode = undefined;
});

async function cli(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => ((stdout += String(chunk)), true));
  vi.spyOn(process.stderr, 'write').mockImplementation((chunk: string | Uint8Array) => ((stderr += String(chunk)), true));
  try {
    const code = await main(['node', 'distillery', 'bench', ...args]);
    return { code, stdout, stderr };
  } finally {
    vi.restoreAllMocks();
    process.exitCode = undefined;
  }
}

describe('distillery bench', () => {
  it('prints a table with ratios against the first model, and the placement before timing', async () => {
    const r = await cli(teacher, student, '--seq-len', '8', '-n', '5', '--warmup', '1');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^machine: .*onnxruntime 1\.\d+/m);
    expect(r.stdout).toMatch(/teacher \(baseline\)/);
    expect(r.stdout).toMatch(/p50 ms\s+p90 ms\s+p99 ms/);
    expect(r.stdout).toMatch(/^student\s+1\s+8\s+.*\d\.\d\dx/m);
    expect(r.stderr).toMatch(/placement teacher: CPU \d+ nodes/);
  });

  it('writes JSON, CSV and --out files', async () => {
    const json = await cli(teacher, '--seq-len', '4,8', '--batch-size', '1,2', '-n', '3', '--warmup', '0', '--json', '--no-placement');
    expect(json.code).toBe(0);
    const result = JSON.parse(json.stdout);
    expect(result.schema).toBe('onnx-distillery/bench@1');
    expect(result.runs).toHaveLength(4);
    const out = join(dir, 'results.csv');
    const csv = await cli(teacher, student, '--seq-len', '4', '-n', '3', '--csv', '--out', out, '--no-placement');
    expect(csv.code).toBe(0);
    const lines = csv.stdout.trim().split('\n');
    expect(lines[0]).toMatch(/^model,path,batch_size,seq_len,/);
    expect(lines).toHaveLength(3);
    expect(readFileSync(out, 'utf8')).toBe(csv.stdout);
    const outJson = join(dir, 'results.json');
    await cli(teacher, '--seq-len', '4', '-n', '2', '--out', outJson, '--no-placement');
    expect(JSON.parse(readFileSync(outJson, 'utf8')).runs).toHaveLength(1);
  });

  it('answers bad input with one line and exit code 2', async () => {
    const corrupt = join(dir, 'corrupt.onnx');
    writeFileSync(corrupt, 'not a model');
    const cases: Array<[string[], RegExp]> = [
      [[corrupt, '--seq-len', '8'], /corrupt\.onnx: /],
      [[join(dir, 'nope.onnx'), '--seq-len', '8'], /nope\.onnx: no such file/],
      [[teacher], /input "input_ids" dim 1 \("sequence"\) is a dynamic sequence length; pass --seq-len/],
      [[teacher, '--seq-len', '8', '--batch-size', '0'], /--batch-size 0: must be a positive integer/],
      [[teacher, '--seq-len', '8', '--batch-size', '-3'], /--batch-size -3: must be a positive integer/],
      [[teacher, '--seq-len', '8', '--device', 'tpu'], /unknown device "tpu"/],
      [[teacher, '--seq-len', '8', '--baseline', 'other.onnx'], /--baseline other\.onnx: not one of the models/],
    ];
    for (const [args, pattern] of cases) {
      const r = await cli(...args);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.stdout).toBe('');
      const lines = r.stderr.trim().split('\n');
      expect(lines, r.stderr).toHaveLength(1);
      expect(lines[0]).toMatch(/^.*error: /);
      expect(lines[0]).toMatch(pattern);
    }
  });

  it('on Ctrl-C prints what was measured and exits 130', async () => {
    const identity = writeIdentity(dir);
    const timer = setTimeout(() => process.emit('SIGINT'), 1000);
    const r = await cli(identity, '--seq-len', '8', '-n', '100000000', '--block-size', '1000', '--no-placement');
    clearTimeout(timer);
    expect(r.code).toBe(130);
    expect(r.stdout).toMatch(/^identity \(\d+\/100000000\)/m);
    expect(r.stderr).toMatch(/interrupted/);
    expect(existsSync(identity)).toBe(true);
  });
});
