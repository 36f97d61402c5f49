/**
 * `eventide bench`: parse options, run, write result.json / result.md /
 * result.svg, print the table. Exit code 0 when every correctness check
 * passed, 1 when one failed (the diff is printed), 2 on a bad option, an
 * unusable --against file or an unreachable target, 3 when the checks passed
 * but a figure regressed past --max-regression-pct (against.ts).
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { EventideError } from '../errors.js';
import { benchHelp, parseBenchArgs } from './options.js';
import { againstMarkdown, loadPrevious, withAgainst, type PreviousRun } from './against.js';
import { markdownTable, svgChart } from './report.js';
import { runBench } from './run.js';

export async function runBenchCli(argv: string[]): Promise<number> {
  let options;
  let previous: PreviousRun | undefined;
  try {
    options = parseBenchArgs(argv);
    // Read before the run: a wrong file fails now, not after the load.
    if (options !== undefined && options.against !== '') previous = loadPrevious(options.against);
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
  if (previous !== undefined) result = withAgainst(result, previous, options.maxRegressionPct);
  const md = markdownTable(result) + (result.against === undefined ? '' : `\n${againstMarkdown(result.against)}`);
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
  if (!result.ok) return 1;
  return result.against !== undefined && !result.against.ok ? 3 : 0;
}
