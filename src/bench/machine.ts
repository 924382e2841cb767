import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';

/** What makes a benchmark comparable with another one: the hardware and the software under it. */
export interface MachineInfo {
  cpuModel: string;
  /** SIMD features that decide which onnxruntime kernels run (int8 speed depends on VNNI). */
  cpuFlags: { avx2: boolean; avx512f: boolean; avx512Vnni: boolean; avxVnni: boolean };
  /** Logical CPUs the OS reports. */
  logicalCpus: number;
  /** CPUs this process may use (cgroup/affinity limits included). */
  availableParallelism: number;
  totalMemoryBytes: number;
  platform: string;
  arch: string;
  osRelease: string;
  nodeVersion: string;
  onnxruntimeVersion: string;
  /** GPU name(s) from nvidia-smi, when a CUDA run was asked for and nvidia-smi answers. */
  gpus?: string[];
}

const require = createRequire(import.meta.url);

/** The SIMD flags we report, from a /proc/cpuinfo `flags` line. */
export function parseCpuFlags(flagsLine: string): MachineInfo['cpuFlags'] {
  const flags = new Set(flagsLine.split(/\s+/));
  return {
    avx2: flags.has('avx2'),
    avx512f: flags.has('avx512f'),
    avx512Vnni: flags.has('avx512_vnni'),
    avxVnni: flags.has('avx_vnni'),
  };
}

function readCpuinfo(): { model?: string; flags?: string } {
  try {
    const text = readFileSync('/proc/cpuinfo', 'utf8');
    const field = (name: string) => text.match(new RegExp(`^${name}\\s*:\\s*(.*)$`, 'm'))?.[1]?.trim();
    return { model: field('model name'), flags: field('flags') };
  } catch {
    return {};
  }
}

function onnxruntimeVersion(): string {
  try {
    return (require('onnxruntime-node/package.json') as { version: string }).version;
  } catch {
    return 'unknown';
  }
}

function nvidiaGpus(): string[] | undefined {
  try {
    const out = execFileSync('nvidia-smi', ['--query-gpu=name,driver_version', '--format=csv,noheader'], { encoding: 'utf8', timeout: 5000, stdio: ['ignore', 'pipe', 'ignore'] });
    const gpus = out.split('\n').map((l) => l.trim()).filter(Boolean);
    return gpus.length ? gpus : undefined;
  } catch {
    return undefined;
  }
}

export function machineInfo(opts: { cuda?: boolean } = {}): MachineInfo {
  const info = readCpuinfo();
  const cpus = os.cpus();
  const machine: MachineInfo = {
    cpuModel: info.model ?? cpus[0]?.model ?? 'unknown',
    cpuFlags: parseCpuFlags(info.flags ?? ''),
    logicalCpus: cpus.length,
    availableParallelism: os.availableParallelism(),
    totalMemoryBytes: os.totalmem(),
    platform: process.platform,
    arch: process.arch,
    osRelease: os.release(),
    nodeVersion: process.version,
    onnxruntimeVersion: onnxruntimeVersion(),
  };
  if (opts.cuda) {
    const gpus = nvidiaGpus();
    if (gpus) machine.gpus = gpus;
  }
  return machine;
}

/** One line for people: "AMD EPYC, 2 CPUs, AVX2 AVX512 VNNI, onnxruntime 1.30.0". */
export function describeMachine(m: MachineInfo): string {
  const simd = [m.cpuFlags.avx2 && 'AVX2', m.cpuFlags.avx512f && 'AVX512', (m.cpuFlags.avx512Vnni || m.cpuFlags.avxVnni) && 'VNNI'].filter(Boolean);
  const parts = [m.cpuModel, `${m.availableParallelism} CPUs`, simd.length ? simd.join(' ') : 'no AVX2', `onnxruntime ${m.onnxruntimeVersion}`, `Node ${m.nodeVersion}`];
  if (m.gpus) parts.push(m.gpus.join('; '));
  return parts.join(', ');
}
