import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { UserError } from '../errors.js';

export type Device = 'cpu' | 'cuda' | 'webgpu' | 'auto';
/** The device a session really runs on (auto resolved). */
export type ResolvedDevice = 'cpu' | 'cuda' | 'webgpu';

const require = createRequire(import.meta.url);

/** Where onnxruntime-node keeps its native libraries for this platform. */
export function onnxruntimeBinaryDir(): string {
  const pkg = dirname(require.resolve('onnxruntime-node/package.json'));
  return join(pkg, 'bin', 'napi-v6', process.platform, process.arch);
}

/** True when the CUDA execution provider's library was installed (it is not by default, see README "GPU"). */
export function cudaInstalled(): boolean {
  return existsSync(join(onnxruntimeBinaryDir(), 'libonnxruntime_providers_cuda.so'));
}

export const cudaInstallHint =
  'CUDA support is not installed: onnxruntime-node skips its CUDA download by default here. ' +
  'Install it with `ONNXRUNTIME_NODE_INSTALL=cuda12 npm rebuild onnxruntime-node` (needs access to the NuGet feed ' +
  'and a CUDA 12 driver), or run with --device cpu (or --device auto to fall back to CPU).';

export function parseDevice(value: string): Device {
  if (value === 'cpu' || value === 'cuda' || value === 'webgpu' || value === 'auto') return value;
  throw new UserError(`unknown device "${value}" (expected cpu, cuda, webgpu or auto)`);
}

/** Help text of every --device flag. */
export const deviceHelp = 'cpu, cuda, webgpu or auto (auto: cuda when installed, else cpu; webgpu is in the npm package but untested on a GPU here)';

/**
 * onnxruntime-node's WebGPU provider ships in the npm package (no download), but needs a GPU
 * adapter (Vulkan on Linux) at run time. Its failure is one long native message; this is the
 * line a user needs.
 */
export const webgpuNoAdapterHint =
  '--device webgpu: onnxruntime found no WebGPU adapter on this machine ("No supported adapters": no GPU, or no Vulkan driver); run with --device cpu';

/** True for onnxruntime's error when the WebGPU provider finds no adapter. */
export function isNoWebgpuAdapter(message: string): boolean {
  return /No supported adapters|Failed to get a WebGPU adapter/i.test(message);
}

/** The device a session will really use: cuda only when asked for and installed; webgpu as asked. */
export function resolveDevice(device: Device): ResolvedDevice {
  if (device === 'cpu') return 'cpu';
  if (device === 'webgpu') return 'webgpu';
  if (cudaInstalled()) return 'cuda';
  if (device === 'auto') return 'cpu';
  throw new UserError(cudaInstallHint);
}
