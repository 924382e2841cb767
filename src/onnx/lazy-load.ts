import { randomBytes } from 'node:crypto';
import { closeSync, fstatSync, openSync, readSync, rmSync, writeFileSync } from 'node:fs';
import { basename, dirname, resolve } from 'node:path';
import { trackTempFile } from '../temp-files.js';
import { decodeModel, encodeVarint, loadModel, type LoadOptions } from './io.js';
import type { ModelProto } from './proto.js';

export interface LazyLoadOptions extends LoadOptions {
  /** Initializers whose raw_data has at least this many bytes stay on disk (default 64 KiB). */
  minLazyBytes?: number;
}

/**
 * Reads a model's structure without the bulk of its weights. Graph initializers whose raw_data
 * is at least `minLazyBytes` come back as external-data tensors pointing into the model file
 * itself (location = the file's name, offset, length): the form ONNX uses for external data,
 * so `readExternalData(model, dirname(path))` reads them in, and tensors that already live in
 * external files keep pointing there. Nothing large is copied into memory, which matters on
 * machines where touching fresh memory is slow. A file the scanner cannot walk is handed to
 * loadModel, so errors read exactly as loadModel's.
 */
export async function loadModelLazy(path: string, opts: LazyLoadOptions = {}): Promise<ModelProto> {
  let skeleton: Uint8Array;
  try {
    skeleton = scanSkeleton(path, opts.minLazyBytes ?? 64 * 1024).bytes;
  } catch {
    return loadModel(path, opts);
  }
  return decodeModel(skeleton, { ...opts, label: path });
}

/**
 * Writes the skeleton of the model file at `path` (its own bytes, large initializers' raw_data
 * swapped for external-data references into `path` itself) to a temporary file in the same
 * folder, for onnxruntime to load without copying every weight into memory (on VMs where fresh
 * memory is slow, that copy cost more than everything else in the load). Returns the skeleton's
 * path and a function that removes it, or undefined when no initializer is that large (load
 * `path` itself then). Throws when the file's protobuf framing cannot be walked.
 */
export function writeSkeletonFile(path: string, minLazyBytes = 64 * 1024): { path: string; remove: () => void } | undefined {
  const { bytes, lazyTensors } = scanSkeleton(path, minLazyBytes);
  if (lazyTensors === 0) return undefined;
  const skeleton = `${resolve(path)}.${randomBytes(4).toString('hex')}.skeleton.tmp`;
  const untrack = trackTempFile(skeleton);
  const remove = () => {
    rmSync(skeleton, { force: true });
    untrack();
  };
  try {
    writeFileSync(skeleton, bytes);
  } catch (e) {
    remove();
    throw e;
  }
  return { path: skeleton, remove };
}

/** The model's bytes with large initializer raw_data fields swapped for references into the file. */
function scanSkeleton(path: string, minLazyBytes: number): { bytes: Uint8Array; lazyTensors: number } {
  const fd = openSync(path, 'r');
  try {
    const win = new FileWindow(fd, fstatSync(fd).size);
    const counter = { lazyTensors: 0 };
    const out = scanMessage(win, 0, win.size, 'model', basename(resolve(path)), minLazyBytes, counter);
    const bytes = new Uint8Array(out.length);
    let off = 0;
    for (const p of out.pieces) {
      bytes.set(p, off);
      off += p.length;
    }
    return { bytes, lazyTensors: counter.lazyTensors };
  } finally {
    closeSync(fd);
  }
}

type Kind = 'model' | 'graph' | 'tensor';
interface Pieces {
  pieces: Uint8Array[];
  length: number;
}

/** Field numbers to descend into: ModelProto.graph (7) -> GraphProto.initializer (5) -> TensorProto.raw_data (9). */
const CHILD: Record<Kind, { field: number; kind: Kind } | undefined> = {
  model: { field: 7, kind: 'graph' },
  graph: { field: 5, kind: 'tensor' },
  tensor: undefined,
};
const RAW_DATA = 9;

function scanMessage(win: FileWindow, start: number, end: number, kind: Kind, location: string, minLazyBytes: number, counter: { lazyTensors: number }): Pieces {
  const out: Pieces = { pieces: [], length: 0 };
  const push = (p: Uint8Array) => {
    out.pieces.push(p);
    out.length += p.length;
  };
  let copyFrom = start;
  const flush = (to: number) => {
    if (to > copyFrom) push(win.copy(copyFrom, to - copyFrom));
  };
  let lazy: { offset: number; length: number } | undefined;
  let pos = start;
  while (pos < end) {
    const fieldStart = pos;
    const [key, afterKey] = win.varint(pos);
    const field = Math.floor(key / 8);
    const wire = key & 7;
    if (field === 0) throw new Error('field 0');
    let next: number;
    if (wire === 0) next = win.varint(afterKey)[1];
    else if (wire === 1) next = afterKey + 8;
    else if (wire === 5) next = afterKey + 4;
    else if (wire === 2) {
      const [len, body] = win.varint(afterKey);
      next = body + len;
      if (next > end) throw new Error('length past the end');
      const child = CHILD[kind];
      if (child && field === child.field) {
        flush(fieldStart);
        const inner = scanMessage(win, body, next, child.kind, location, minLazyBytes, counter);
        push(win.copy(fieldStart, afterKey - fieldStart)); // the key
        push(encodeVarint(inner.length));
        for (const p of inner.pieces) push(p);
        copyFrom = next;
      } else if (kind === 'tensor' && field === RAW_DATA && len >= minLazyBytes) {
        flush(fieldStart);
        lazy = { offset: body, length: len };
        copyFrom = next;
      }
    } else throw new Error(`wire type ${wire}`);
    if (next > end) throw new Error('field past the end');
    pos = next;
  }
  flush(end);
  if (lazy) {
    counter.lazyTensors++;
    // external_data (13) entries and data_location (14) = EXTERNAL, after every other field so they win.
    for (const [k, v] of [
      ['location', location],
      ['offset', String(lazy.offset)],
      ['length', String(lazy.length)],
    ] as const) {
      const entry = concat([Uint8Array.of(0x0a), ...lengthDelimited(utf8(k)), Uint8Array.of(0x12), ...lengthDelimited(utf8(v))]);
      push(Uint8Array.of(13 * 8 + 2));
      push(encodeVarint(entry.length));
      push(entry);
    }
    push(Uint8Array.of(14 * 8, 1));
  }
  return out;
}

const utf8 = (s: string) => new TextEncoder().encode(s);
const lengthDelimited = (b: Uint8Array) => [encodeVarint(b.length), b];

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((s, p) => s + p.length, 0));
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}

/**
 * Positioned reads through one reused 64 KiB buffer: the scan jumps over every large raw_data, and
 * a refill after each jump reads only what the next few fields need (a 4 MiB window read 4 MiB
 * per initializer: 0.8 GB for a BERT-base).
 */
class FileWindow {
  private readonly buf = Buffer.allocUnsafe(64 << 10);
  private bufStart = 0;
  private bufLen = 0;

  constructor(
    private readonly fd: number,
    readonly size: number,
  ) {}

  private ensure(pos: number, n: number): void {
    if (pos >= this.bufStart && pos + n <= this.bufStart + this.bufLen) return;
    if (pos + n > this.size) throw new Error('read past the end');
    this.bufStart = pos;
    this.bufLen = readSync(this.fd, this.buf, 0, Math.min(this.buf.length, this.size - pos), pos);
    if (this.bufLen < n) throw new Error('short read');
  }

  /** A varint at `pos` (up to 2^53) and the position after it. */
  varint(pos: number): [number, number] {
    this.ensure(pos, Math.min(10, this.size - pos));
    let value = 0;
    let mul = 1;
    for (let i = 0; i < 10; i++) {
      const b = this.buf[pos - this.bufStart + i]!;
      value += (b & 0x7f) * mul;
      if (b < 0x80) return [value, pos + i + 1];
      mul *= 128;
    }
    throw new Error('bad varint');
  }

  /** A copy of `n` bytes at `pos`. */
  copy(pos: number, n: number): Uint8Array {
    if (n > this.buf.length) {
      const out = Buffer.allocUnsafe(n);
      if (readSync(this.fd, out, 0, n, pos) !== n) throw new Error('short read');
      return out;
    }
    this.ensure(pos, n);
    return Uint8Array.prototype.slice.call(this.buf, pos - this.bufStart, pos - this.bufStart + n);
  }
}

/** Directory that lazy and external tensors of a model loaded from `path` resolve against. */
export function modelBaseDir(path: string): string {
  return dirname(resolve(path));
}
