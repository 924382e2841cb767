import { randomBytes } from 'node:crypto';
import { close, closeSync, fsync, openSync, readSync, writeSync, fsyncSync } from 'node:fs';
import { readFile, rename, rm, rmdir, stat, access, constants, mkdir } from 'node:fs/promises';
import { basename, dirname, isAbsolute, join, resolve } from 'node:path';
import type * as protobuf from 'protobufjs';
import { UserError } from '../errors.js';
import { GraphProtoType, ModelProtoType, TensorProtoType } from './schema.js';
import type { GraphProto, ModelProto, TensorProto } from './proto.js';
import { toNumber } from './longs.js';
import { checkModel, undefinedInputs } from './check.js';
import { topologicalSort } from './graph.js';
import { trackTempFile } from '../temp-files.js';

/** Newest IR version onnxruntime-node 1.30 loads. */
export const MAX_SUPPORTED_IR_VERSION = 11;
/** protobuf messages cannot exceed 2 GiB; larger models must keep weights in external data. */
export const PROTOBUF_LIMIT = 2 ** 31 - 1;

export interface LoadOptions {
  /** Check the IR version against what onnxruntime supports (default true). */
  checkIrVersion?: boolean;
  /** Called once per external data file read (absolute path), e.g. to count bytes on disk. */
  onExternalFile?: (file: string) => void;
}

/**
 * Reads an ONNX model. External data (`location` files next to the model) is read into each
 * tensor's raw_data, so the returned model is self-contained; saveModel writes it back out.
 * Every failure is a UserError naming the file.
 */
export async function loadModel(path: string, opts: LoadOptions = {}): Promise<ModelProto> {
  let bytes: Buffer;
  try {
    bytes = await readFile(path);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new UserError(`${path}: ${code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'is a directory, not a model file' : `cannot read (${code})`}`);
  }
  return decodeModel(bytes, { label: path, baseDir: dirname(resolve(path)), ...opts });
}

export function decodeModel(bytes: Uint8Array, opts: LoadOptions & { label?: string; baseDir?: string } = {}): ModelProto {
  const label = opts.label ?? '<model bytes>';
  if (bytes.length === 0) throw new UserError(`${label}: empty file, not an ONNX model`);
  let model: ModelProto;
  try {
    model = ModelProtoType.decode(bytes) as unknown as ModelProto;
  } catch (e) {
    const msg = (e as Error).message;
    // Every exporter writes ir_version (field 1, varint: byte 0x08) first; garbage that merely
    // runs past its own end (a text file, an image) is not a truncated model.
    if (bytes[0] === 0x08 && (e instanceof RangeError || /index out of range/.test(msg))) {
      throw new UserError(`${label}: truncated or corrupt ONNX file (protobuf data ends early: ${msg})`);
    }
    throw new UserError(`${label}: not an ONNX model (protobuf decode failed: ${msg})`);
  }
  if (!model.graph || toNumber(model.irVersion) <= 0) {
    throw new UserError(`${label}: not an ONNX model (no graph or IR version found)`);
  }
  const ir = toNumber(model.irVersion);
  if ((opts.checkIrVersion ?? true) && ir > MAX_SUPPORTED_IR_VERSION) {
    throw new UserError(
      `${label}: IR version ${ir} is newer than onnxruntime here supports (<= ${MAX_SUPPORTED_IR_VERSION}); re-export with an older opset/IR`,
    );
  }
  const dangling = undefinedInputs(model.graph);
  if (dangling.length) {
    const { node, input } = dangling[0]!;
    const more = dangling.length > 1 ? ` (and ${dangling.length - 1} more)` : '';
    throw new UserError(
      `${label}: corrupt graph: node ${node} reads "${input}", which no node, graph input or initializer produces${more}`,
    );
  }
  if (opts.baseDir) readExternalData(model, opts.baseDir, label, opts.onExternalFile);
  return model;
}

/** All tensors stored in the model (initializers, Constant attributes, subgraphs). */
export function* allTensors(model: ModelProto): Generator<TensorProto> {
  function* inGraph(g: GraphProto | null | undefined): Generator<TensorProto> {
    if (!g) return;
    yield* g.initializer ?? [];
    for (const n of g.node ?? []) {
      for (const a of n.attribute ?? []) {
        if (a.t) yield a.t;
        yield* a.tensors ?? [];
        if (a.g) yield* inGraph(a.g);
        for (const sg of a.graphs ?? []) yield* inGraph(sg);
      }
    }
  }
  yield* inGraph(model.graph);
}

const EXTERNAL = 1;

/**
 * Reads every external-data tensor's bytes (files relative to `baseDir`) into its raw_data, so
 * the model is self-contained. loadModel does this; models from loadModelLazy need it before
 * anything but saveModel's external-data path writes them.
 */
export function readExternalData(model: ModelProto, baseDir: string, label: string, onFile?: (file: string) => void): void {
  const fds = new Map<string, number>();
  try {
    for (const t of allTensors(model)) {
      if (t.dataLocation !== EXTERNAL) continue;
      const kv = Object.fromEntries((t.externalData ?? []).map((e) => [e.key, e.value]));
      const location = kv.location;
      if (!location || isAbsolute(location) || location.split(/[\\/]/).includes('..')) {
        throw new UserError(`${label}: tensor ${t.name}: external data location ${JSON.stringify(location)} is not a file next to the model`);
      }
      const file = join(baseDir, location);
      let fd = fds.get(file);
      if (fd === undefined) {
        try {
          fd = openSync(file, 'r');
        } catch {
          throw new UserError(`${label}: tensor ${t.name}: external data file ${location} not found next to the model`);
        }
        fds.set(file, fd);
        onFile?.(file);
      }
      const offset = Number(kv.offset ?? 0);
      const length = kv.length !== undefined ? Number(kv.length) : undefined;
      const size = length ?? expectedBytes(t);
      const buf = Buffer.allocUnsafe(size);
      const got = readSync(fd, buf, 0, size, offset);
      if (got !== size) throw new UserError(`${label}: tensor ${t.name}: external data file ${location} is truncated`);
      t.rawData = buf;
      // Absent, not explicitly DEFAULT: the tensor then encodes as if it had always been inline.
      delete t.dataLocation;
      delete t.externalData;
    }
  } finally {
    for (const fd of fds.values()) closeSync(fd);
  }
}

function expectedBytes(t: TensorProto): number {
  const bytesPer: Record<number, number> = { 1: 4, 2: 1, 3: 1, 4: 2, 5: 2, 6: 4, 7: 8, 9: 1, 10: 2, 11: 8, 12: 4, 13: 8, 16: 2 };
  const n = (t.dims ?? []).reduce<number>((a, d) => a * toNumber(d), 1);
  return n * (bytesPer[t.dataType ?? 0] ?? 0);
}

export interface SaveOptions {
  /** Overwrite an existing file. */
  force?: boolean;
  /** Paths the output must not replace (the inputs), even with force. */
  inputs?: string[];
  /**
   * Keep tensor data in a separate file next to the model: true, false, or 'auto' (default:
   * only when the model would exceed protobuf's 2 GiB limit).
   */
  externalData?: boolean | 'auto';
  /** Tensors smaller than this stay inside the model file (default 1024 bytes). */
  externalThreshold?: number;
  /** 'auto' moves tensor data out past this many bytes (default: protobuf's 2 GiB limit less 64 MiB). */
  autoExternalBytes?: number;
  /**
   * Runs on the written temporary file (its external data already in place) before it is
   * renamed to `path`; throwing leaves nothing behind. quantize loads it in onnxruntime here.
   */
  verify?: (tmpPath: string) => Promise<void>;
  /**
   * Tensor bytes computed while the file is written, keyed by the tensor's raw_data buffer (a
   * placeholder of the right length, never read): the function hands the real bytes to `write`,
   * in order. quantize uses it so that 100 MB of int8 weights never sit in fresh memory, which
   * on VMs with slow page faults cost more than quantizing them. Each must be written exactly
   * once (raw_data of at least 64 KiB, the whole buffer), or nothing is written.
   */
  deferred?: Map<ArrayBufferLike, DeferredBytes>;
}

/** See SaveOptions.deferred. */
export type DeferredBytes = (write: (bytes: Uint8Array) => void) => void;

export interface SavedModel {
  path: string;
  bytes: number;
  externalDataPath?: string;
  externalDataBytes?: number;
}

/** Checks that a model may be written to `path`; throws a UserError otherwise. */
export async function checkOutputPath(path: string, opts: Pick<SaveOptions, 'force' | 'inputs'> = {}): Promise<void> {
  const out = resolve(path);
  for (const input of opts.inputs ?? []) {
    if (resolve(input) === out) throw new UserError(`${path}: refusing to overwrite the input model; choose another output path`);
  }
  const dir = dirname(out);
  try {
    const info = await stat(dir);
    if (!info.isDirectory()) throw new UserError(`${path}: output directory ${dir} is not a directory`);
    await access(dir, constants.W_OK);
  } catch (e) {
    if (e instanceof UserError) throw e;
    const code = (e as NodeJS.ErrnoException).code;
    throw new UserError(`${path}: output directory ${dir} ${code === 'ENOENT' ? 'does not exist' : 'is not writable'}`);
  }
  if (!opts.force) {
    try {
      await stat(out);
      throw new UserError(`${path}: already exists (use --force to overwrite)`);
    } catch (e) {
      if (e instanceof UserError) throw e;
    }
  }
}

/**
 * Writes a model atomically: to a temporary file in the same directory, then renamed into
 * place, so a failure never leaves a partial or clobbered output. Refuses to replace an input,
 * or an existing file without `force`.
 */
export async function saveModel(model: ModelProto, path: string, opts: SaveOptions = {}): Promise<SavedModel> {
  await checkOutputPath(path, opts);
  assertWritable(model, path);
  const out = resolve(path);
  const threshold = opts.externalThreshold ?? 1024;
  let external = opts.externalData ?? 'auto';
  if (external === 'auto') {
    let total = 0;
    for (const t of allTensors(model)) total += t.rawData?.length ?? 0;
    external = total > (opts.autoExternalBytes ?? PROTOBUF_LIMIT - 64 * 1024 * 1024);
  }
  const tmpTag = `.${randomBytes(4).toString('hex')}.tmp`;
  const tmpModel = out + tmpTag;
  let dataPath: string | undefined;
  let tmpData: string | undefined;
  const restore: Array<() => void> = [];
  const untrack = [trackTempFile(tmpModel)];
  try {
    let externalBytes = 0;
    if (external) {
      dataPath = out + '.data';
      if (!opts.force && (await stat(dataPath).then(() => true, () => false))) {
        throw new UserError(`${path}: external data file ${basename(dataPath)} already exists (use --force to overwrite)`);
      }
      tmpData = dataPath + tmpTag;
      untrack.push(trackTempFile(tmpData));
      externalBytes = writeExternalData(model, tmpData, basename(dataPath), threshold, restore, opts.deferred);
    }
    const pieces = encodeModelPieces(model);
    // The fsync runs on libuv's thread pool while `verify` reads the file (from the page cache);
    // the rename waits for both.
    const synced = writeFileSyncing(tmpModel, pieces, opts.deferred);
    try {
      for (const produce of opts.deferred?.values() ?? []) {
        if (!written.has(produce)) throw new Error('internal: a deferred tensor was not written (its placeholder was copied or is under 64 KiB)');
      }
      if (tmpData && dataPath) await rename(tmpData, dataPath);
      if (opts.verify) {
        try {
          await opts.verify(tmpModel);
        } catch (e) {
          if (dataPath) await rm(dataPath, { force: true });
          throw e;
        }
      }
    } finally {
      await synced.catch(() => undefined);
    }
    await synced;
    await rename(tmpModel, out);
    return {
      path: out,
      bytes: pieces.reduce((s, p) => s + p.length, 0),
      ...(dataPath ? { externalDataPath: dataPath, externalDataBytes: externalBytes } : {}),
    };
  } catch (e) {
    await rm(tmpModel, { force: true });
    if (tmpData) await rm(tmpData, { force: true });
    if (e instanceof UserError) throw e;
    throw new UserError(`${path}: cannot write model (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  } finally {
    for (const undo of restore) undo();
    for (const done of untrack) done();
  }
}

/**
 * The checker runs before anything is written: a model we would write invalid is refused, not
 * renamed into place. Nodes merely out of order (onnxruntime accepts that) are sorted first.
 */
function assertWritable(model: ModelProto, path: string): void {
  let problems = checkModel(model);
  const ordering = (p: string) => p.includes('is not defined before this node');
  if (problems.length && problems.every(ordering) && model.graph && undefinedInputs(model.graph).length === 0) {
    model.graph.node = topologicalSort(model.graph);
    problems = checkModel(model);
  }
  if (problems.length) {
    throw new UserError(`${path}: refusing to write a model that is not valid ONNX (${problems[0]}); nothing written`, 1);
  }
}

/** Writes a small file through a temporary file and a rename, so it is never seen half written. */
export async function writeFileAtomic(path: string, bytes: Uint8Array): Promise<void> {
  const tmp = `${path}.${randomBytes(4).toString('hex')}.tmp`;
  const untrack = trackTempFile(tmp);
  try {
    writeFileSynced(tmp, [bytes]);
    await rename(tmp, path);
  } catch (e) {
    await rm(tmp, { force: true });
    throw new UserError(`${path}: cannot write (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  } finally {
    untrack();
  }
}

/** Runs `write` with the output's folders created, removing the ones it created (still empty) when it fails. */
export async function withOutputDir<T>(path: string, write: () => Promise<T>): Promise<T> {
  const removeCreated = await prepareOutputDir(path);
  try {
    return await write();
  } catch (e) {
    await removeCreated();
    throw e;
  }
}

/**
 * Creates the output file's missing parent folders (as `mkdir -p`) and returns a function that
 * removes the ones it created if they are still empty: a command that fails leaves no empty
 * folders behind.
 */
export async function prepareOutputDir(path: string): Promise<() => Promise<void>> {
  const created: string[] = [];
  let dir = dirname(resolve(path));
  while (!(await stat(dir).then(() => true, () => false))) {
    created.unshift(dir);
    const up = dirname(dir);
    if (up === dir) break;
    dir = up;
  }
  if (created.length) {
    try {
      await mkdir(created[created.length - 1]!, { recursive: true });
    } catch (e) {
      throw new UserError(`${path}: cannot create output directory ${created[0]} (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
    }
  }
  return async () => {
    for (const d of created.reverse()) {
      try {
        await rmdir(d);
      } catch {
        return; // not empty (or gone): keep it and its parents
      }
    }
  };
}

export function encodeModel(model: ModelProto): Uint8Array {
  const writer = ModelProtoType.encode(model as unknown as protobuf.Message) as protobuf.Writer;
  return writer.finish();
}

/** raw_data of this many bytes and more is written from its own buffer (see encodeModelPieces). */
export const MIN_PIECE_BYTES = 64 << 10;

/**
 * The encoded model as consecutive pieces: large initializers' raw_data are their own buffers
 * (no copy into one big output buffer, which for a large model doubles memory and, on VMs where
 * fresh pages are slow, dominates save time). Decodes to the same model as encodeModel's bytes;
 * only the order of fields differs (the graph, and raw_data inside tensors, come last).
 */
export function encodeModelPieces(model: ModelProto, minPieceBytes = MIN_PIECE_BYTES): Uint8Array[] {
  const g = model.graph;
  const big = (t: TensorProto) => (t.rawData?.length ?? 0) >= minPieceBytes;
  if (!g || !(g.initializer ?? []).some(big)) return [encodeModel(model)];
  const encode = (type: protobuf.Type, m: object) => type.encode(m as protobuf.Message).finish();
  const field = (key: number, length: number) => Uint8Array.from([key, ...encodeVarint(length)]);
  const graphPieces: Uint8Array[] = [encode(GraphProtoType, { ...g, initializer: [] })];
  for (const t of g.initializer ?? []) {
    const tensor = big(t)
      ? [encode(TensorProtoType, { ...t, rawData: undefined }), field((9 << 3) | 2, t.rawData!.length), t.rawData!]
      : [encode(TensorProtoType, t)];
    graphPieces.push(field((5 << 3) | 2, tensor.reduce((s, p) => s + p.length, 0)), ...tensor);
  }
  const graphLength = graphPieces.reduce((s, p) => s + p.length, 0);
  return [encode(ModelProtoType, { ...model, graph: undefined }), field((7 << 3) | 2, graphLength), ...graphPieces];
}

/** A non-negative integer (< 2^53) as a protobuf varint. */
export function encodeVarint(value: number): Uint8Array {
  const bytes: number[] = [];
  let v = value;
  while (v >= 0x80) {
    bytes.push((v % 0x80) | 0x80);
    v = Math.floor(v / 0x80);
  }
  bytes.push(v);
  return Uint8Array.from(bytes);
}

/** Writes `pieces` to `path` and resolves once they are on disk (fsync and close run off the main thread). */
function writeFileSyncing(path: string, pieces: Uint8Array[], deferred?: Map<ArrayBufferLike, DeferredBytes>): Promise<void> {
  const fd = openSync(path, 'w');
  try {
    const out = new StagedWriter(fd, deferred);
    for (const bytes of pieces) out.write(bytes);
    out.flush();
  } catch (e) {
    closeSync(fd);
    throw e;
  }
  return new Promise<void>((resolve, reject) => fsync(fd, (e) => (e ? reject(e) : resolve()))).finally(() => new Promise<void>((done) => close(fd, () => done())));
}

function writeFileSynced(path: string, pieces: Uint8Array[]): void {
  const fd = openSync(path, 'w');
  try {
    const out = new StagedWriter(fd);
    for (const bytes of pieces) out.write(bytes);
    out.flush();
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** Deferred tensors already written (a WeakSet: each function belongs to one save). */
const written = new WeakSet<DeferredBytes>();

/**
 * Sequential writes through one reused 512 KiB buffer. On VMs with costly first access to user
 * memory (measured on the project's Firecracker VM) the kernel reading a freshly written
 * multi-MiB buffer took ~10 us per 4 KiB page: 105 MB of int8 weights written straight from
 * their own arrays took 250-290 ms, copied through this buffer 27 ms. Buffers of 2 MiB and up
 * were as slow as writing directly, so it stays small.
 */
class StagedWriter {
  private static buffer: Uint8Array | undefined;
  private readonly stage = (StagedWriter.buffer ??= new Uint8Array(512 << 10));
  private fill = 0;

  constructor(
    private readonly fd: number,
    private readonly deferred?: Map<ArrayBufferLike, DeferredBytes>,
  ) {}

  write(bytes: Uint8Array): void {
    const produce = this.deferred?.get(bytes.buffer);
    if (produce && bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength) return this.produce(produce, bytes.length);
    this.copy(bytes);
  }

  private produce(produce: DeferredBytes, length: number): void {
    if (written.has(produce)) throw new Error('internal: a deferred tensor is written twice');
    let n = 0;
    produce((bytes) => {
      n += bytes.length;
      this.copy(bytes);
    });
    if (n !== length) throw new Error(`internal: a deferred tensor wrote ${n} bytes for ${length}`);
    written.add(produce);
  }

  private copy(bytes: Uint8Array): void {
    let off = 0;
    while (off < bytes.length) {
      const n = Math.min(this.stage.length - this.fill, bytes.length - off);
      this.stage.set(bytes.subarray(off, off + n), this.fill);
      this.fill += n;
      off += n;
      if (this.fill === this.stage.length) this.flush();
    }
  }

  /** `n` zero bytes. */
  pad(n: number): void {
    for (let left = n; left > 0; ) {
      const k = Math.min(this.stage.length - this.fill, left);
      this.stage.fill(0, this.fill, this.fill + k);
      this.fill += k;
      left -= k;
      if (this.fill === this.stage.length) this.flush();
    }
  }

  flush(): void {
    let off = 0;
    while (off < this.fill) off += writeSync(this.fd, this.stage, off, this.fill - off);
    this.fill = 0;
  }
}

/** Moves large tensors' bytes to `file` (aligned to 4 KiB as onnx does) and points the tensors at it. */
function writeExternalData(model: ModelProto, file: string, location: string, threshold: number, restore: Array<() => void>, deferred?: Map<ArrayBufferLike, DeferredBytes>): number {
  const fd = openSync(file, 'w');
  let offset = 0;
  try {
    const out = new StagedWriter(fd, deferred);
    for (const t of allTensors(model)) {
      const raw = t.rawData;
      if (!raw || raw.length < threshold) continue;
      const aligned = Math.ceil(offset / 4096) * 4096;
      out.pad(aligned - offset);
      out.write(raw);
      const saved = { rawData: t.rawData, dataLocation: t.dataLocation, externalData: t.externalData };
      restore.push(() => Object.assign(t, saved));
      t.rawData = new Uint8Array(0);
      delete (t as { rawData?: unknown }).rawData;
      t.dataLocation = EXTERNAL;
      t.externalData = [
        { key: 'location', value: location },
        { key: 'offset', value: String(aligned) },
        { key: 'length', value: String(raw.length) },
      ];
      offset = aligned + raw.length;
    }
    out.flush();
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  return offset;
}
