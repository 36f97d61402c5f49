/**
 * What `npm publish` would ship, from `npm pack --dry-run` on the built tree:
 * every entry point package.json names is in it, every module it imports is
 * in it or a declared dependency, the dashboard script and the proto files
 * are in it, and nothing of the tests, benchmarks or sources is.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { builtinModules } from 'node:module';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { loadBaseline } from '../src/bench/run.js';

const run = promisify(execFile);
const ROOT = fileURLToPath(new URL('../../', import.meta.url));

interface PackageJson {
  main: string;
  types: string;
  bin: Record<string, string>;
  exports: Record<string, string | { types: string; default: string }>;
  dependencies: Record<string, string>;
  scripts: Record<string, string>;
}

const pkg = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as PackageJson;

async function packedFiles(): Promise<Set<string>> {
  // --ignore-scripts: prepack would rebuild; the tests run on the tree `npm test` just built.
  const { stdout } = await run('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: ROOT, maxBuffer: 16 << 20 });
  const [report] = JSON.parse(stdout) as Array<{ files: Array<{ path: string }> }>;
  return new Set(report!.files.map((file) => file.path));
}

const files = await packedFiles();
const normal = (p: string) => p.replace(/^\.\//, '');

/** Package names a compiled module imports: static, re-export, side-effect and literal dynamic imports. */
function importsOf(source: string): string[] {
  const found: string[] = [];
  for (const m of source.matchAll(/^(?:import|export)\b[^;'"]*?\bfrom\s*['"]([^'"]+)['"]/gm)) found.push(m[1]!);
  for (const m of source.matchAll(/^import\s*['"]([^'"]+)['"]/gm)) found.push(m[1]!);
  for (const m of source.matchAll(/\bimport\(\s*['"]([^'"]+)['"]\s*\)/g)) found.push(m[1]!);
  return found;
}

void test('every entry point of package.json is packed, and the bin runs under node', () => {
  const entries = [pkg.main, pkg.types, ...Object.values(pkg.bin)];
  for (const target of Object.values(pkg.exports)) entries.push(...(typeof target === 'string' ? [target] : [target.types, target.default]));
  for (const entry of entries) assert.ok(files.has(normal(entry)), `${entry} is in the package`);
  for (const bin of Object.values(pkg.bin)) assert.match(readFileSync(path.join(ROOT, bin), 'utf8'), /^#!\/usr\/bin\/env node\n/);
  assert.match(pkg.scripts.prepack ?? '', /npm run build/, 'a publish builds first');
});

void test('the package holds what runs and nothing of the tests, benchmarks or TypeScript sources', () => {
  for (const needed of [
    'dist/src/edge/dashboard/browser/app.js', // read from disk by the dashboard route
    'proto/eventide/v1/ingest.proto',
    'proto/eventide/v1/event.proto',
    'proto/eventide.binpb', // gRPC reflection
    'proto/grpc-health-v1.binpb',
    'dist/config/defaults.js',
    'README.md',
    'LICENSE',
    'docs/deploy.md',
  ]) {
    assert.ok(files.has(needed), `${needed} is in the package`);
  }
  const stray = [...files].filter((file) => /^(test|bench|dist\/test|dist\/bench|src|config)\//.test(file) || file.endsWith('.map') || file.endsWith('.tsbuildinfo'));
  assert.deepEqual(stray, [], 'files that do not belong in the package');
});

void test('every module the package imports is in it, or a dependency (not a devDependency)', () => {
  const builtins = new Set([...builtinModules, ...builtinModules.map((name) => `node:${name}`)]);
  const problems: string[] = [];
  for (const file of files) {
    if (!file.endsWith('.js')) continue;
    const source = readFileSync(path.join(ROOT, file), 'utf8');
    for (const specifier of importsOf(source)) {
      if (specifier.startsWith('.')) {
        const target = path.posix.normalize(path.posix.join(path.posix.dirname(file), specifier));
        if (!files.has(target)) problems.push(`${file} imports ${specifier}, which is not packed`);
      } else if (!builtins.has(specifier)) {
        const name = specifier.startsWith('@') ? specifier.split('/').slice(0, 2).join('/') : specifier.split('/')[0]!;
        if (!Object.hasOwn(pkg.dependencies, name)) problems.push(`${file} imports ${specifier}, not a dependency`);
      }
    }
  }
  assert.deepEqual(problems, []);
  // The check can fail: it reads imports the way they are written.
  assert.deepEqual(importsOf("import a from 'x';\nimport {\n  b,\n} from './y.js';\nexport * from '@s/z/w';\nimport 'side';\nconst c = await import('./d.js');\n"), ['x', './y.js', '@s/z/w', 'side', './d.js']);
});

void test('`eventide bench --compare baseline` outside a checkout is a plain usage error, not a crash', async () => {
  await assert.rejects(loadBaseline(new URL('./no-such-baseline.js', import.meta.url).href), (err: { code?: string; field?: string; message?: string }) => {
    assert.equal(err.code, 'EVT_BENCH_OPTION');
    assert.equal(err.field, 'compare');
    assert.match(err.message ?? '', /checkout/);
    return true;
  });
  // In the checkout it loads.
  assert.equal(typeof (await loadBaseline()), 'function');
});
