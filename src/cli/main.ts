import { Command, CommanderError } from './commander.js';
import chalk from 'chalk';
import { ExitCode, isUserError } from '../errors.js';
import { registerCommands } from './commands.js';
import { isOnnxruntimeMissing, onnxruntimeMissingHint } from '../runtime/missing-onnxruntime.js';

/**
 * Runs the CLI and resolves to the process exit code. Never throws: user errors become one
 * line on stderr (a stack trace only with --verbose), bugs become a short report.
 */
export async function main(argv: string[]): Promise<number> {
  const program = new Command('distillery');
  program
    .description('Distill, quantize, evaluate and benchmark ONNX NLP models on onnxruntime, without Python.')
    .version(await packageVersion(), '-V, --version')
    .option('--verbose', 'print stack traces and extra diagnostics')
    .showHelpAfterError('(run with --help for usage)')
    .addHelpText(
      'after',
      '\nExamples (the usual recipe: distill first, then quantize):\n' +
        '  $ distillery demo --quick\n' +
        '  $ distillery distill --teacher teacher/model.onnx --student-config layers=2,hidden=128,heads=2,ffn=512 \\\n' +
        '      --train train.tsv --val validation.tsv -o student/model.onnx\n' +
        '  $ distillery quantize student/model.onnx -o student-int8/model.onnx\n' +
        '  $ distillery eval --teacher teacher/model.onnx --model student/model.onnx student-int8/model.onnx --data validation.tsv\n' +
        '  $ distillery bench teacher/model.onnx student/model.onnx student-int8/model.onnx --seq-len 128\n' +
        '\nRun `distillery <command> --help` for every option of a command.\n',
    )
    .exitOverride();
  registerCommands(program);
  try {
    await program.parseAsync(argv);
    return typeof process.exitCode === 'number' ? process.exitCode : ExitCode.ok;
  } catch (e) {
    if (e instanceof CommanderError) {
      // --help and --version end here with exitCode 0; parse errors were already printed.
      return e.exitCode === 0 ? ExitCode.ok : ExitCode.badInput;
    }
    const verbose = argv.includes('--verbose');
    if (isUserError(e)) {
      process.stderr.write(chalk.red('error: ') + e.message + '\n');
      if (verbose && e.stack) process.stderr.write(e.stack + '\n');
      return e.exitCode;
    }
    if (isOnnxruntimeMissing(e)) {
      process.stderr.write(chalk.red('error: ') + onnxruntimeMissingHint + '\n');
      return ExitCode.internal;
    }
    const err = e as Error;
    process.stderr.write(chalk.red('internal error: ') + (err?.message ?? String(e)) + '\n');
    if (verbose && err?.stack) process.stderr.write(err.stack + '\n');
    else process.stderr.write('(run with --verbose for a stack trace)\n');
    return ExitCode.internal;
  }
}

async function packageVersion(): Promise<string> {
  const { readFile } = await import('node:fs/promises');
  const url = new URL('../../../package.json', import.meta.url);
  try {
    return (JSON.parse(await readFile(url, 'utf8')) as { version: string }).version;
  } catch {
    return '0.0.0';
  }
}
