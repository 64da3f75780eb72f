/**
 * Drain (SIGTERM, docs/protocol.md section 8) on a real gateway with the real model, real `ws` clients on loopback:
 * a session still holding audio when the drain's grace period ends is told why and how much was transcribed
 * (GW_ERR_SHUTTING_DOWN, session.ended, 1001) and counted as GW_ERR_SHUTTING_DOWN, not as a client that left.
 */
import { describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import type { ServerMessage, SessionEndedMessage } from '../../src/protocol/messages.js';
import { longestFixture, repeatPcm, startRealGateway } from './helpers.js';

describe.each(['uws', 'ws'] as const)('drain deadline over %s (real model)', (transport) => {
  it('a session still transcribing at the deadline gets GW_ERR_SHUTTING_DOWN, session.ended and 1001', async () => {
    const gw = await startRealGateway(transport, { drainTimeoutMs: 0 });
    try {
      const { wav } = longestFixture();
      const ws = new WebSocket(`ws://127.0.0.1:${gw.port}/v1/stream`);
      const msgs: ServerMessage[] = [];
      ws.on('message', (data: Buffer) => msgs.push(JSON.parse(data.toString()) as ServerMessage));
      const closed = new Promise<number>((resolve) => ws.once('close', (code: number) => resolve(code)));
      await new Promise((resolve, reject) => { ws.once('open', resolve); ws.once('error', reject); });
      ws.send(JSON.stringify({ type: 'session.start',
        audio: { encoding: 'pcm_s16le', sample_rate_hz: wav.sampleRateHz, channels: 1 } }));
      // 8 s of speech at once: far more than the model gets through before a deadline of 0 ms
      const pcm = repeatPcm(wav, 8000);
      const frameBytes = Math.round(wav.sampleRateHz / 10) * wav.frameBytes;
      for (let off = 0; off < pcm.byteLength; off += frameBytes) ws.send(pcm.subarray(off, off + frameBytes));
      await new Promise<void>((resolve) => {
        const poll = setInterval(() => {
          if (msgs.some((m) => m.type === 'flow.pause')) { clearInterval(poll); resolve(); }
        }, 5);
      });
      await gw.drain();
      expect(await closed).toBe(1001);
      const [error, ended] = msgs.slice(-2) as [ServerMessage, SessionEndedMessage];
      expect(error).toMatchObject({ type: 'error', code: 'GW_ERR_SHUTTING_DOWN', fatal: true });
      expect(ended).toMatchObject({ type: 'session.ended', reason: 'error', error_code: 'GW_ERR_SHUTTING_DOWN' });
      // audio still in flight when the drain began is not read (bytes_discarded or never): audio_ms may be less than 8 s
      expect(ended.stats.audio_ms).toBeGreaterThan(0);
      expect(ended.stats.processed_audio_ms).toBeLessThan(ended.stats.audio_ms);
      const metrics = await gw.metrics.metricsText();
      expect(metrics).toContain('voxgate_sessions_total{reason="GW_ERR_SHUTTING_DOWN"} 1');
      expect(metrics).not.toContain('reason="abandoned"');
    } finally {
      await gw.close();
    }
  }, 60_000);
});
