/**
 * onnxruntime-node is an optional dependency: its install script downloads CUDA libraries from
 * NuGet, and an install that cannot reach NuGet drops the package instead of failing the whole
 * install (README, "Install"). Commands that need it then end here with what to do.
 */
export const onnxruntimeMissingHint =
  'onnxruntime-node is not installed: its install script downloads CUDA libraries from NuGet, and npm ' +
  'drops the package when that fails. Install again with ONNXRUNTIME_NODE_INSTALL=skip set (the CPU and WebGPU ' +
  'providers ship in the npm package), e.g. `ONNXRUNTIME_NODE_INSTALL=skip npm install onnxruntime-node@1.30`; ' +
  'for npx, run `npm cache npx rm` first (README, "Install")';

/** True for the error a dynamic import of onnxruntime-node throws when npm dropped it. */
export function isOnnxruntimeMissing(e: unknown): boolean {
  const err = e as { code?: unknown; message?: unknown } | null;
  return (
    err !== null &&
    typeof err === 'object' &&
    (err.code === 'ERR_MODULE_NOT_FOUND' || err.code === 'MODULE_NOT_FOUND') &&
    typeof err.message === 'string' &&
    err.message.includes("'onnxruntime-node'")
  );
}
