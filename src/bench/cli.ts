/**
 * `eventide bench`: parse options, run, write result.json / result.md /
 * result.svg, print the table. Exit code 0 when every correctness check
 * passed, 1 when one failed (the diff is printed), 2 on a bad option or an
 * unreachable target.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { EventideError } from '../errors.js';
import { benchHelp, parseBenchArgs } from './options.js';
import { markdownTable, svgChart } from './report.js';
import { runBench } from './run.js';

export async function runBenchCli(argv: string[]): Promise<number> {
  let options;
  try {
    options = parseBenchArgs(argv);
  } catch (err) {
    if (err instanceof EventideError) {
      process.stderr.write(`eventide bench: ${err.message} [${err.code}]\n`);
      return 2;
    }
    throw err;
  }
  if (options === undefined) {
    process.stdout.write(benchHelp());
    return 0;
  }
  const tty = process.stdout.isTTY === true || options.progress;
  const io = {
    progress: tty ? (line: string) => process.stdout.write(`\r\x1b[K${line}`) : undefined,
    log: (line: string) => process.stderr.write(`${line}\n`),
  };
  let result;
  try {
    result = await runBench(options, io, `eventide bench ${argv.join(' ')}`.trim());
  } catch (err) {
    if (tty) process.stdout.write('\n');
    if (err instanceof EventideError) {
      process.stderr.write(`eventide bench: ${err.message} [${err.code}]\n`);
      return 2;
    }
    throw err;
  }
  if (tty) process.stdout.write('\r\x1b[K');
  const md = markdownTable(result);
  process.stdout.write(md);
  for (const t of result.targets) {
    if (t.check.ok) continue;
    process.stdout.write(`\n${t.label}: correctness check FAILED:\n${t.check.failures.map((f) => `  ${f}`).join('\n')}\n`);
  }
  if (options.outDir !== '') {
    await mkdir(options.outDir, { recursive: true });
    await writeFile(join(options.outDir, 'result.json'), JSON.stringify(result, null, 2) + '\n');
    await writeFile(join(options.outDir, 'result.md'), md);
    await writeFile(join(options.outDir, 'result.svg'), svgChart(result));
    process.stdout.write(`\nwrote ${join(options.outDir, 'result.{json,md,svg}')}\n`);
  }
  return result.ok ? 0 : 1;
}
