/**
 * A scripted stand-in for the per-session pipeline, so the protocol state machine can be tested without a model.
 * It implements the same port as the real SessionPipeline (src/server/session-pipeline-port.ts); the real pipeline
 * with the real model is exercised by test/integration/.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Observable, Subject } from 'rxjs';
import { expect } from 'vitest';
import { WebSocket } from 'ws';
import type { ErrorMessage, FinalReason, ServerMessage } from '../../src/protocol/messages.js';
import type { Hotword, SessionConfig } from '../../src/protocol/session-config.js';
import { GatewayError } from '../../src/protocol/errors.js';
import { audioBytesToMs } from '../../src/protocol/validate.js';
import type { PipelineEvent, SessionPipelinePort } from '../../src/server/session-pipeline-port.js';
import { resolveGatewayConfig, type SessionLimitsConfig } from '../../src/server/config.js';
import type { DecodeSettings } from '../../src/stream/ctc-decode.js';
import { startGateway, type Gateway, type GatewayServices } from '../../src/server/gateway.js';
import { LocalSession } from '../../src/server/local-session.js';
import { createMetrics } from '../../src/server/metrics.js';

export interface ScriptedOptions {
  /**
   * true: every pushed frame is "decoded" on the next macrotask: backlog returns to 0 and a partial with one more
   * word is emitted; `end()` emits speech.stopped + the final. false: the test drives everything.
   */
  auto?: boolean;
  /** How long `end()` takes, ms (default 2). */
  endDelayMs?: number;
  /** `end()` never settles, as behind an encoder that stopped answering (which no real model can be made to do). */
  endHangs?: boolean;
}

export class ScriptedPipeline implements SessionPipelinePort {
  private readonly subject = new Subject<PipelineEvent>();
  /** Teardown runs on unsubscribe (abandoned session) and after complete/error. */
  readonly events$ = new Observable<PipelineEvent>((subscriber) => {
    const inner = this.subject.subscribe(subscriber);
    return () => {
      this.tornDown = true;
      inner.unsubscribe();
    };
  });
  tornDown = false;
  backlog = 0;
  pushedBytes = 0;
  lastArrivalMs = 0;
  hotwords: Hotword[];
  endpointing: { silenceMs: number; maxUtteranceMs: number };
  decoding: DecodeSettings;
  endReason: FinalReason | undefined;
  finalizeCalls = 0;
  private words: string[] = [];
  private utteranceId = 0;
  private speaking = false;
  private open: string | null = null;

  constructor(readonly config: SessionConfig, private readonly options: ScriptedOptions = {}) {
    this.hotwords = config.hotwords;
    this.endpointing = { silenceMs: config.silenceMs, maxUtteranceMs: config.maxUtteranceMs };
    this.decoding = { minConfidence: config.minConfidence, alternatives: config.alternatives,
      backgroundRejectionDb: config.backgroundRejectionDb };
  }

  pushAudio(bytes: Uint8Array, arrivalMs: number): void {
    this.pushedBytes += bytes.byteLength;
    this.lastArrivalMs = arrivalMs;
    this.backlog += audioBytesToMs(bytes.byteLength, this.config.encoding, this.config.sampleRateHz, this.config.channels);
    if (this.options.auto === true) setTimeout(() => this.decodeAll(), 1);
  }

  /** Auto mode: everything pushed so far is decoded into one more word. */
  decodeAll(): void {
    if (this.backlog === 0) return;
    this.backlog = 0;
    this.words.push(`w${this.words.length}`);
    this.emitPartial(this.words.join(' '), this.words.slice(0, -1).join(' '));
  }

  /** Emits a partial of the open utterance (speech.started first if needed). */
  emitPartial(text: string, stableText: string): void {
    if (!this.speaking) {
      this.speaking = true;
      this.subject.next({ kind: 'speech.started', audioMs: 0 });
    }
    this.open = text;
    this.subject.next({ kind: 'partial', utteranceId: this.utteranceId, text, stableText, startMs: 0,
      endMs: this.audioMs(), newestArrivalMs: this.lastArrivalMs });
  }

  /** Ends the open utterance with a final (speech.stopped first if speech was open). */
  emitFinal(reason: FinalReason, text = this.open ?? ''): void {
    if (this.speaking) this.subject.next({ kind: 'speech.stopped', audioMs: this.audioMs() });
    this.speaking = false;
    this.subject.next({
      kind: 'final', utteranceId: this.utteranceId++, text,
      words: text === '' ? [] : text.split(' ').map((word, i) => ({ word, startMs: i * 40, endMs: i * 40 + 40, confidence: 0.9 })),
      confidence: 0.9, startMs: 0, endMs: this.audioMs(), reason, newestArrivalMs: this.lastArrivalMs,
    });
    this.open = null;
    this.words = [];
  }

  /** A final of an utterance the decoder rejected as noise (min_confidence): empty, with what was heard. */
  emitRejectedFinal(heard: string, confidence: number): void {
    this.subject.next({ kind: 'final', utteranceId: this.utteranceId++, text: '', words: [], confidence: 0, startMs: 0,
      endMs: this.audioMs(), reason: 'silence', newestArrivalMs: this.lastArrivalMs, rejected: { text: heard, confidence } });
  }

  finalize(): void {
    this.finalizeCalls++;
    if (this.open !== null) this.emitFinal('finalize');
  }

  /** Whether an `end()` call has settled (tests order events by it instead of timing them). */
  endSettled = false;
  end(reason: FinalReason = 'session_end'): Promise<void> {
    this.endReason = reason;
    if (this.options.endHangs === true) return new Promise(() => undefined);
    return new Promise((resolve) => setTimeout(() => {
      if (this.options.auto === true) this.decodeAll();
      this.backlog = 0;
      if (this.open !== null) this.emitFinal(reason);
      this.subject.complete();
      this.endSettled = true;
      resolve();
    }, this.options.endDelayMs ?? 2));
  }

  fail(code: 'GW_ERR_INFERENCE' | 'GW_ERR_DECODER' = 'GW_ERR_INFERENCE'): void {
    this.subject.error(new GatewayError(code, 'scripted failure'));
  }

  updateHotwords(h: Hotword[]): void {
    this.hotwords = h;
  }

  updateEndpointing(e: { silenceMs: number; maxUtteranceMs: number }): void {
    this.endpointing = e;
  }

  updateDecoding(d: DecodeSettings): void {
    this.decoding = d;
  }

  backlogMs(): number {
    return this.backlog;
  }

  disposed = false;
  dispose(): void {
    this.disposed = true;
  }

  audioMs(): number {
    return Math.round(audioBytesToMs(this.pushedBytes, this.config.encoding, this.config.sampleRateHz, this.config.channels));
  }
}

export interface ScriptedServices extends GatewayServices {
  readonly created: ScriptedPipeline[];
  closedCalls: number;
}

/** Services whose `createPipeline` makes ScriptedPipelines (kept in `created`, newest last). */
export function scriptedServices(options: ScriptedOptions = {}): ScriptedServices {
  const created: ScriptedPipeline[] = [];
  return {
    modelName: 'test-model',
    language: 'en',
    created,
    closedCalls: 0,
    createPipeline(config: SessionConfig) {
      if (config.hotwords.some((h) => /[0-9]/.test(h.phrase))) {
        throw new GatewayError('GW_ERR_BAD_HOTWORD', 'hotwords[0].phrase has characters outside the vocabulary');
      }
      const p = new ScriptedPipeline(config, options);
      created.push(p);
      return p;
    },
    close() {
      this.closedCalls++;
      return Promise.resolve();
    },
  };
}

export const START_16K = { type: 'session.start', audio: { encoding: 'pcm_s16le', sample_rate_hz: 16000, channels: 1 } } as const;

/** `ms` of 16 kHz s16le mono silence-ish audio (a quiet ramp, so it is not all zeros). */
export function pcm16(ms: number): Uint8Array {
  const samples = Math.round((16000 * ms) / 1000);
  const out = new Int16Array(samples);
  for (let i = 0; i < samples; i++) out[i] = (i % 64) - 32;
  return new Uint8Array(out.buffer);
}

export function types(msgs: readonly ServerMessage[]): string[] {
  return msgs.map((m) => m.type);
}

/** Resolves when `pred` holds (polling every 5 ms) or rejects after `timeoutMs`. */
export async function until(pred: () => boolean, timeoutMs = 3000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!pred()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** A LocalSession (the Session class without a socket) on scripted services, with its messages recorded. */
export function openLocal(limits: Partial<SessionLimitsConfig> = {}, services: ScriptedServices = scriptedServices()) {
  const metrics = createMetrics({ defaultMetrics: false });
  const s = new LocalSession({ services, limits, metrics });
  const msgs: ServerMessage[] = [];
  s.onMessage((m) => msgs.push(m));
  let close: { code: number; reason: string } | undefined;
  void s.closed.then((c) => { close = c; });
  return {
    s, msgs, services, metrics,
    pipeline: () => services.created[services.created.length - 1]!,
    closeInfo: () => close,
    errors: () => msgs.filter((m): m is ErrorMessage => m.type === 'error'),
    last: () => msgs[msgs.length - 1]!,
  };
}

/** Buffers every text message of a raw socket from now on; `next()` takes them in order. */
export function inbox(ws: WebSocket): { next: () => Promise<ServerMessage> } {
  const queue: ServerMessage[] = [];
  const waiters: ((m: ServerMessage) => void)[] = [];
  ws.on('message', (data: Buffer) => {
    const msg = JSON.parse(data.toString()) as ServerMessage;
    const w = waiters.shift();
    if (w) w(msg);
    else queue.push(msg);
  });
  return {
    next: () => {
      const m = queue.shift();
      return m !== undefined ? Promise.resolve(m) : new Promise((resolve) => waiters.push(resolve));
    },
  };
}

/**
 * A started session on a gateway serving scripted pipelines: connect, `session.start` (16 kHz PCM), `audioMs` of
 * audio, and wait until the (first) pipeline has decoded it. The socket's messages after `session.started` are in
 * `box`.
 */
export async function startedSession(port: number, services: ScriptedServices, audioMs: number,
  connect: (port: number, path: string) => Promise<WebSocket>) {
  const ws = await connect(port, '/v1/stream');
  const box = inbox(ws);
  ws.send(JSON.stringify(START_16K));
  const started = await box.next();
  if (started.type !== 'session.started') throw new Error(`expected session.started, got ${JSON.stringify(started)}`);
  ws.send(pcm16(audioMs));
  await until(() => services.created[0]?.backlogMs() === 0, 2000, 'audio decoded');
  return { ws, box };
}

/** HTTP status of a refused upgrade, or 'refused' when nothing listens any more. */
export function upgradeStatus(port: number): Promise<number | 'refused'> {
  const ws = new WebSocket(`ws://127.0.0.1:${port}/v1/stream`);
  return new Promise((resolve, reject) => {
    ws.once('open', () => { ws.terminate(); reject(new Error('upgrade unexpectedly accepted')); });
    ws.once('unexpected-response', (_req, res) => { resolve(res.statusCode ?? 0); res.resume(); });
    ws.once('error', () => resolve('refused'));
  });
}

/** A gateway on loopback over `transport`, scripted pipelines, whose upgrades need `key` (a key file in a temp dir). */
export async function startKeyedGateway(transport: 'uws' | 'ws', key: string): Promise<Gateway> {
  const dir = mkdtempSync(path.join(tmpdir(), 'voxgate-keyed-'));
  writeFileSync(path.join(dir, 'keys.txt'), `${key}\n`);
  const config = resolveGatewayConfig({ host: '127.0.0.1', port: 0, transport, logLevel: 'silent',
    apiKeysFile: path.join(dir, 'keys.txt') });
  return startGateway(config, { services: scriptedServices({ auto: true }) });
}

/** The message of the GW_ERR_BAD_CONFIG that `fn` throws (fails the test when it throws nothing or another error). */
export function badConfig(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    expect(e).toMatchObject({ name: 'GatewayError', code: 'GW_ERR_BAD_CONFIG' });
    return (e as Error).message;
  }
  throw new Error('expected GW_ERR_BAD_CONFIG');
}
