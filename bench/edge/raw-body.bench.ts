/**
 * The ingest body parser (collect into one unpooled, transferable Buffer) vs
 * fastify's built-in `parseAs: 'buffer'` parser (Buffer.concat of the chunks),
 * on BODY_BYTES bodies through app.inject, in one run. Both sides pay the
 * same inject overhead, so the ratio understates the parser difference; the
 * point is that the transferable buffer costs no more than fastify's own.
 *
 * Run: node dist/bench/edge/raw-body.bench.js
 */
import Fastify, { type FastifyInstance } from 'fastify';
import { Bench } from 'tinybench';
import { registerRawBodyParsers, type RawBody } from '../../src/edge/raw-body.js';

/** A large SDK batch, about 500 events of 200 bytes. */
const BODY_BYTES = 100 * 1024;
const BODY_BYTES_MAX = 4 * 1024 * 1024;
const BENCH_TIME_MS = 2_000;

const body = Buffer.alloc(BODY_BYTES, 'a');
let sink = 0;

async function build(kind: 'raw' | 'fastify'): Promise<FastifyInstance> {
  const app = Fastify({ logger: false, bodyLimit: BODY_BYTES_MAX });
  await app.register((scope, _options, done) => {
    if (kind === 'raw') {
      registerRawBodyParsers(scope, { bodyBytesMax: BODY_BYTES_MAX });
    } else {
      scope.removeAllContentTypeParsers();
      scope.addContentTypeParser('application/json', { parseAs: 'buffer' }, (_request, payload, doneParse) => doneParse(null, payload));
    }
    scope.post('/in', (request, reply) => {
      const bytes = kind === 'raw' ? (request.body as RawBody).bytes : (request.body as Buffer);
      sink += bytes.length;
      return reply.send('ok');
    });
    done();
  });
  await app.ready();
  return app;
}

const raw = await build('raw');
const builtIn = await build('fastify');
const request = { method: 'POST' as const, url: '/in', headers: { 'content-type': 'application/json' }, payload: body };

const bench = new Bench({ time: BENCH_TIME_MS, warmup: true });
bench
  .add('raw-body (unpooled, transferable)', async () => {
    await raw.inject(request);
  })
  .add("fastify parseAs: 'buffer'", async () => {
    await builtIn.inject(request);
  });
await bench.run();
console.table(bench.table());

function medianMs(name: string): number {
  const result = bench.tasks.find((t) => t.name === name)?.result;
  if (result === undefined || !('latency' in result)) throw new Error(`task ${name} has no result`);
  return result.latency.p50;
}
const ours = medianMs('raw-body (unpooled, transferable)');
const theirs = medianMs("fastify parseAs: 'buffer'");
console.log(`median per ${BODY_BYTES}-byte request: raw-body ${(ours * 1e3).toFixed(1)} µs, fastify ${(theirs * 1e3).toFixed(1)} µs`);
console.log(`ratio fastify / raw-body: ${(theirs / ours).toFixed(2)}x (checksum ${sink})`);
await raw.close();
await builtIn.close();
