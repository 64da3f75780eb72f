/**
 * One benchmark client session over `ws`: sends session.start, then audio in its wire format (load-wire.ts: 16 kHz
 * PCM in 50 ms frames, 8 kHz mu-law in 20 ms frames, or a stereo call transcribed per channel) at real time pace
 * (driven by `tick(now)` from the shared scheduler), ends with session.end and records what the latency report
 * needs. Never throws: failures are counted in `errors`. Word latencies are tracked per channel.
 *
 * Word-to-partial latency: for word i of a final, the audio sample at the word's end (end_ms - 1) was sent at wall
 * time T (this client records every frame's send time); the latency runs from T to the arrival of the first message
 * of that utterance (partial, else the final itself, counted in wordsOnlyInFinal) whose first i + 1 words equal the
 * final's first i + 1 words (word-latency.ts).
 *
 * Speech-onset latency (what a voice bot's barge-in waits for): from sending the frame that holds the sample at
 * speech.started's `audio_ms` to the arrival of speech.started. It includes the VAD's onset debouncing (30 ms) and
 * the wait for the rest of that frame, as a client experiences it.
 */
import { WebSocket } from 'ws';
import type { ServerMessage, SessionStats, TranscriptFinalMessage } from '../src/protocol/messages.js';
import type { LoadWire } from './load-wire.js';
import { splitWords, wordLatencies, type SeenTranscript } from './word-latency.js';

export interface LoadSessionOptions {
  url: string;
  wire: LoadWire;
  /** Sample offset into the wire's loop where this session starts. */
  offsetSamples: number;
  /** Audio to stream, ms (rounded up to whole frames). */
  durationMs: number;
  latency: 'low' | 'balanced' | 'accurate';
  /** How long to wait for session.started / session.ended, ms. */
  timeoutMs: number;
}

export interface SessionResult {
  /** latency_ms of every transcript.partial. */
  partialLatencyMs: number[];
  /** latency_ms of every transcript.final. */
  finalLatencyMs: number[];
  wordLatencyMs: number[];
  /** Words of finals no partial held (in wordLatencyMs, timed to the final's arrival). */
  wordsOnlyInFinal: number;
  /** Words of finals that could not be timed (word-latency.ts); not in wordLatencyMs. */
  wordsUnmatched: number;
  /**
   * Per frame: sent minus due (session.started + k x frame duration), ms. Shows whether this client kept real-time
   * pace (a busy client sends late, in bursts, and offers the server less than real time). Includes waiting out a
   * flow.pause the server asked for.
   */
  sendLagMs: number[];
  speechStartedLatencyMs: number[];
  flowPauses: number;
  /** Error code (wire `error` codes, or BENCH_* for client-side failures) -> count. */
  errors: Record<string, number>;
  stats: SessionStats | null;
  /** session.end sent -> session.ended received, ms (how much backlog the server still held). */
  endDrainMs: number | null;
  closeCode: number | null;
  framesSent: number;
  /** session.started -> session.end sent (or the socket's end, if first), ms; 0 if it never started streaming. */
  streamMs: number;
}

export class LoadSession {
  readonly result: SessionResult = {
    partialLatencyMs: [], finalLatencyMs: [], wordLatencyMs: [], wordsOnlyInFinal: 0, wordsUnmatched: 0, sendLagMs: [],
    speechStartedLatencyMs: [], flowPauses: 0, errors: {}, stats: null,
    endDrainMs: null, closeCode: null, framesSent: 0, streamMs: 0,
  };
  /** Resolves when the socket is closed (or given up on). */
  readonly done: Promise<SessionResult>;
  private readonly o: LoadSessionOptions;
  private readonly totalFrames: number;
  private readonly sendTimes: Float64Array;
  private ws: WebSocket | null = null;
  private streamStartMs = -1;
  private paused = false;
  private endSentAtMs = -1;
  private finished = false;
  private timer: NodeJS.Timeout | null = null;
  /** Per channel (-1 without multichannel): the messages of its current utterance. */
  private readonly seen = new Map<number, { utterance: number; list: SeenTranscript[] }>();
  private resolveDone!: (r: SessionResult) => void;

  constructor(options: LoadSessionOptions) {
    this.o = options;
    this.totalFrames = Math.ceil(options.durationMs / options.wire.frameMs);
    this.sendTimes = new Float64Array(this.totalFrames);
    this.done = new Promise((r) => (this.resolveDone = r));
  }

  /** True while the session still has audio to send. */
  get streaming(): boolean {
    return this.streamStartMs >= 0 && !this.finished && this.endSentAtMs < 0;
  }

  start(): void {
    let ws: WebSocket;
    try {
      ws = new WebSocket(this.o.url, { perMessageDeflate: false });
    } catch {
      this.fail('BENCH_CONNECT');
      return;
    }
    this.ws = ws;
    this.armTimeout('BENCH_START_TIMEOUT');
    ws.on('open', () => ws.send(JSON.stringify({
      type: 'session.start', audio: { encoding: this.o.wire.encoding, sample_rate_hz: this.o.wire.sampleRateHz,
        channels: this.o.wire.channels },
      latency: this.o.latency,
      ...(this.o.wire.channels === 2 ? { multichannel: true } : {}),
    })));
    ws.on('message', (data, isBinary) => {
      if (!isBinary) this.onMessage(String(data), performance.now());
    });
    ws.on('unexpected-response', (_req, res) => {
      this.count(`BENCH_HTTP_${res.statusCode ?? 0}`);
      ws.terminate();
    });
    ws.on('error', () => this.count('BENCH_SOCKET'));
    ws.on('close', (code) => {
      this.result.closeCode = code;
      if (code !== 1000) this.count(`BENCH_CLOSE_${code}`);
      this.finish();
    });
  }

  /** Sends every frame due by `nowMs` (performance.now()); sends session.end after the last one. */
  tick(nowMs: number): void {
    if (!this.streaming || this.paused || this.ws === null) return;
    const { wire } = this.o;
    const due = Math.min(this.totalFrames, Math.floor((nowMs - this.streamStartMs) / wire.frameMs) + 1);
    const frameSamples = (wire.sampleRateHz * wire.frameMs) / 1000;
    const r = this.result;
    while (r.framesSent < due) {
      const k = r.framesSent;
      const bytes = wire.bytes(this.o.offsetSamples + k * frameSamples, frameSamples);
      this.sendTimes[k] = performance.now();
      r.sendLagMs.push(this.sendTimes[k]! - (this.streamStartMs + k * wire.frameMs));
      this.ws.send(bytes);
      r.framesSent++;
    }
    if (r.framesSent === this.totalFrames) {
      this.ws.send(JSON.stringify({ type: 'session.end' }));
      this.endSentAtMs = performance.now();
      r.streamMs = this.endSentAtMs - this.streamStartMs;
      this.armTimeout('BENCH_END_TIMEOUT');
    }
  }

  /** Gives up: closes the socket now (counted as BENCH_ABORTED if the session had not ended). */
  abort(): void {
    if (this.finished) return;
    this.count('BENCH_ABORTED');
    this.ws?.terminate();
    this.finish();
  }

  private onMessage(text: string, atMs: number): void {
    let msg: ServerMessage;
    try {
      msg = JSON.parse(text) as ServerMessage;
    } catch {
      this.count('BENCH_BAD_JSON');
      return;
    }
    const r = this.result;
    switch (msg.type) {
      case 'session.started':
        this.streamStartMs = performance.now();
        this.clearTimeout();
        break;
      case 'transcript.partial':
        r.partialLatencyMs.push(msg.latency_ms);
        this.remember(msg.channel ?? -1, msg.utterance_id, msg.text, atMs, false);
        break;
      case 'transcript.final':
        r.finalLatencyMs.push(msg.latency_ms);
        this.remember(msg.channel ?? -1, msg.utterance_id, msg.text, atMs, true);
        this.wordLatencies(msg);
        break;
      case 'speech.started': {
        const sentAt = this.sendTimes[Math.floor(msg.audio_ms / this.o.wire.frameMs)];
        if (sentAt !== undefined && sentAt > 0) r.speechStartedLatencyMs.push(atMs - sentAt);
        break;
      }
      case 'flow.pause':
        r.flowPauses++;
        this.paused = true;
        break;
      case 'flow.resume':
        this.paused = false;
        break;
      case 'error':
        this.count(msg.code);
        break;
      case 'session.ended':
        r.stats = msg.stats;
        if (this.endSentAtMs >= 0) r.endDrainMs = atMs - this.endSentAtMs;
        this.clearTimeout();
        break;
      default:
        break;
    }
  }

  private remember(channel: number, utteranceId: number, text: string, atMs: number, final: boolean): void {
    let s = this.seen.get(channel);
    if (s === undefined || s.utterance !== utteranceId) {
      s = { utterance: utteranceId, list: [] };
      this.seen.set(channel, s);
    }
    s.list.push({ atMs, words: splitWords(text), final });
  }

  private wordLatencies(final: TranscriptFinalMessage): void {
    const channel = final.channel ?? -1;
    const w = wordLatencies(this.seen.get(channel)?.list ?? [], final.words, (audioMs) => {
      const frame = Math.floor(audioMs / this.o.wire.frameMs);
      return frame < this.result.framesSent ? this.sendTimes[frame] : undefined;
    });
    this.result.wordLatencyMs.push(...w.latenciesMs);
    this.result.wordsOnlyInFinal += w.onlyInFinal;
    this.result.wordsUnmatched += w.unmatched;
    this.seen.delete(channel);
  }

  private count(code: string): void {
    this.result.errors[code] = (this.result.errors[code] ?? 0) + 1;
  }

  private armTimeout(code: string): void {
    this.clearTimeout();
    this.timer = setTimeout(() => {
      this.count(code);
      this.ws?.terminate();
      this.finish();
    }, this.o.timeoutMs);
  }

  private clearTimeout(): void {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
  }

  private fail(code: string): void {
    this.count(code);
    this.finish();
  }

  private finish(): void {
    if (this.finished) return;
    if (this.streaming) this.result.streamMs = performance.now() - this.streamStartMs;
    this.finished = true;
    this.clearTimeout();
    this.resolveDone(this.result);
  }
}
