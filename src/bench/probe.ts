/**
 * Server-side figures of an in-process run, sampled once a second: CPU of the
 * whole process (all threads, so it includes the senders when they run in
 * the same process; run with --sender-threads to keep them on their own
 * threads, whose CPU is still counted), RSS, and the main thread's
 * event-loop delay (the edge's event loop); and, given a way to read it,
 * how much the server's store file grew over the run (for sizing a disk:
 * the report divides it by the events accepted).
 */
import { monitorEventLoopDelay, type IntervalHistogram } from 'node:perf_hooks';

/** Resolution of the event-loop delay monitor, ms. */
const LOOP_RESOLUTION_MS = 10;

export interface ProbeSample {
  second: number;
  /** Process CPU over the last second as a share of one core (2.0 = two cores busy). */
  cpuCores: number;
  rssBytes: number;
}

export interface ProbeSummary {
  samples: ProbeSample[];
  cpuCoresMean: number;
  rssBytesMax: number;
  loopLagP50Ms: number;
  loopLagP99Ms: number;
  loopLagMaxMs: number;
  /** Bytes the store's file grew by from start() to stop(); absent when the target has no file to read (a remote server, MongoDB). */
  storeGrowthBytes?: number;
}

export class ServerProbe {
  private readonly loop: IntervalHistogram = monitorEventLoopDelay({ resolution: LOOP_RESOLUTION_MS });
  private readonly samples: ProbeSample[] = [];
  private timer: NodeJS.Timeout | undefined;
  private lastCpu = process.cpuUsage();
  private lastMs = performance.now();
  private second = 0;
  private storeBytesAtStart: number | undefined;

  /** `storeBytes`: the size of the server's store file now, or undefined when there is none. */
  constructor(private readonly storeBytes: () => number | undefined = () => undefined) {}

  start(): void {
    this.storeBytesAtStart = this.storeBytes();
    this.loop.enable();
    this.lastCpu = process.cpuUsage();
    this.lastMs = performance.now();
    this.timer = setInterval(() => this.sample(), 1000);
    this.timer.unref();
  }

  private sample(): void {
    const cpu = process.cpuUsage(this.lastCpu);
    const now = performance.now();
    const wallUs = (now - this.lastMs) * 1000;
    this.lastCpu = process.cpuUsage();
    this.lastMs = now;
    this.samples.push({ second: this.second++, cpuCores: Math.round(((cpu.user + cpu.system) / wallUs) * 100) / 100, rssBytes: process.memoryUsage.rss() });
  }

  stop(): ProbeSummary {
    if (this.timer !== undefined) clearInterval(this.timer);
    this.loop.disable();
    const n = this.samples.length;
    const ms = (ns: number): number => Math.round(ns / 1e4) / 100;
    const storeBytesAtEnd = this.storeBytes();
    const growth = this.storeBytesAtStart === undefined || storeBytesAtEnd === undefined ? {} : { storeGrowthBytes: storeBytesAtEnd - this.storeBytesAtStart };
    return {
      ...growth,
      samples: this.samples,
      cpuCoresMean: n === 0 ? 0 : Math.round((this.samples.reduce((a, s) => a + s.cpuCores, 0) / n) * 100) / 100,
      rssBytesMax: this.samples.reduce((a, s) => Math.max(a, s.rssBytes), 0),
      loopLagP50Ms: ms(this.loop.percentile(50)),
      loopLagP99Ms: ms(this.loop.percentile(99)),
      loopLagMaxMs: ms(this.loop.max),
    };
  }
}
