/** InputPacer: order, one audio job per event-loop turn once anything waits, errors and clear(). */
import { describe, expect, it } from 'vitest';
import { InputPacer } from '../../src/stream/input-pacer.js';

const turn = (): Promise<void> => new Promise((r) => setImmediate(r));

describe('InputPacer', () => {
  it('runs the first job at once, then one audio job per turn; control jobs queue behind in order', async () => {
    const log: string[] = [];
    const pacer = new InputPacer((e) => { throw e; });
    const audio = (name: string) => ({ samples: 100, run: () => log.push(name) });
    pacer.submit([audio('a1'), audio('a2'), audio('a3')]);
    pacer.submit([{ samples: 0, run: () => log.push('finalize') }]);
    expect(log).toEqual(['a1']);
    expect(pacer.queuedSamples).toBe(200);
    await turn();
    expect(log).toEqual(['a1', 'a2']);
    await turn();
    expect(log).toEqual(['a1', 'a2', 'a3']); // an audio job ends the turn; the control job waits for the next
    await turn();
    expect(log).toEqual(['a1', 'a2', 'a3', 'finalize']);
    expect(pacer.queuedSamples).toBe(0);
    pacer.submit([audio('b')]); // nothing waits: at once
    expect(log.at(-1)).toBe('b');
  });

  it('a throwing job clears the queue (its audio stays counted) and reports the error; clear() drops what waits', async () => {
    const errors: unknown[] = [];
    const ran: string[] = [];
    const pacer = new InputPacer((e) => errors.push(e));
    pacer.submit([{ samples: 1, run: () => ran.push('x') }, { samples: 1, run: () => { throw new Error('boom'); } },
      { samples: 1, run: () => ran.push('never') }]);
    await turn();
    await turn();
    expect(ran).toEqual(['x']);
    expect(errors).toEqual([new Error('boom')]);
    expect(pacer.queuedSamples).toBe(1); // 'never' was dropped: still unprocessed audio
    pacer.submit([{ samples: 1, run: () => ran.push('y') }, { samples: 1, run: () => ran.push('dropped') }]);
    pacer.clear();
    await turn();
    expect(ran).toEqual(['x', 'y']);
  });

  it('a first job that clears the pacer (the session abandoned from its own events) or throws drops the rest of its '
    + 'submit unrun, still counted', async () => {
    const ran: string[] = [];
    const pacer = new InputPacer(() => undefined);
    const abandon = () => {
      ran.push('a');
      pacer.clear();
    };
    pacer.submit([{ samples: 1, run: abandon }, { samples: 5, run: () => ran.push('b') }]);
    pacer.submit([{ samples: 1, run: () => { throw new Error('boom'); } }, { samples: 7, run: () => ran.push('c') }]);
    await turn();
    await turn();
    expect(ran).toEqual(['a']);
    expect(pacer.queuedSamples).toBe(12);
  });
});
