import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { UserError } from '../errors.js';

export type Device = 'cpu' | 'cuda' | 'auto';

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
  if (value === 'cpu' || value === 'cuda' || value === 'auto') return value;
  throw new UserError(`unknown device "${value}" (expected cpu, cuda or auto)`);
}

/** The device a session will really use: cuda only when asked for and installed. */
export function resolveDevice(device: Device): 'cpu' | 'cuda' {
  if (device === 'cpu') return 'cpu';
  if (cudaInstalled()) return 'cuda';
  if (device === 'auto') return 'cpu';
  throw new UserError(cudaInstallHint);
}
