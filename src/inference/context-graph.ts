/**
 * The hotword automaton of the TypeScript reference search (ctc-prefix-beam-search.ts): the twin of
 * native/src/context-graph.cc, same order of floating-point operations. Aho-Corasick over token ids, scored as
 * native/src/context-graph.h says (icefall/sherpa strict mode, but a completed phrase keeps its own boost x its
 * length), and with a separator id phrases match whole words: each is stored as [separator, phrase, separator], the
 * boundaries at bonus 0, an utterance starts after a separator (`start`) and ends with one (`finalize`).
 */

interface CtxNode {
  tokenScore: number; nodeScore: number; outputScore: number; isEnd: boolean; fail: number; output: number;
  /** At a phrase end: the largest (boost x length) of the phrases ending here (a completed phrase's own bonus). */
  phraseScore: number;
  next: Map<number, number>;
}

/** A score delta and the automaton state after it. */
export interface ContextStep {
  score: number;
  state: number;
}

/** Largest hotword boost magnitude the automaton uses (larger ones are clamped, as in native/src/context-graph.cc). */
const MAX_BOOST = 1e6;

/** Aho-Corasick hotword automaton (see the file comment). Validation of ids and boosts is the caller's. */
export class ContextGraph {
  readonly #nodes: CtxNode[] = [];
  readonly #final: number[] = [];
  readonly #start: ContextStep = { score: 0, state: 0 };

  /** `separatorId` -1: a phrase matches anywhere; else whole words (a phrase's leading and trailing separators are
   * boundaries, not tokens of it; a phrase of separators alone matches nothing). */
  constructor(phrases: readonly (readonly number[])[] = [], boosts: readonly number[] = [], separatorId = -1) {
    const nodes = this.#nodes;
    nodes.push(this.#node(0));
    const wholeWords = separatorId >= 0;
    phrases.forEach((phrase, i) => {
      // As native: a boost near 1e308 would overflow a phrase's running score and make NaN scores.
      const boost = Math.min(Math.max(boosts[i]!, -MAX_BOOST), MAX_BOOST);
      let [begin, end] = [0, phrase.length];
      if (wholeWords) {
        while (begin < end && phrase[begin] === separatorId) begin++;
        while (begin < end && phrase[end - 1] === separatorId) end--;
        if (begin === end) return; // separators alone: no word to match
      }
      let u = wholeWords ? this.#addChild(0, separatorId, 0) : 0;
      for (let k = begin; k < end; k++) u = this.#addChild(u, phrase[k]!, boost);
      if (wholeWords) u = this.#addChild(u, separatorId, 0);
      const phraseScore = boost * (end - begin);
      nodes[u]!.phraseScore = nodes[u]!.isEnd ? Math.max(nodes[u]!.phraseScore, phraseScore) : phraseScore;
      nodes[u]!.isEnd = true;
    });
    const queue = [0];
    for (let head = 0; head < queue.length; head++) {
      const u = queue[head]!;
      for (const token of [...nodes[u]!.next.keys()].sort((a, b) => a - b)) {
        const v = nodes[u]!.next.get(token)!;
        const nv = nodes[v]!;
        nv.nodeScore = nodes[u]!.nodeScore + nv.tokenScore;
        let fail = 0;
        if (u !== 0) {
          let f = nodes[u]!.fail;
          while (f !== 0 && !nodes[f]!.next.has(token)) f = nodes[f]!.fail;
          fail = nodes[f]!.next.get(token) ?? 0;
        }
        nv.fail = fail;
        for (let o = fail; o !== 0; o = nodes[o]!.fail) {
          if (nodes[o]!.isEnd) {
            nv.output = o;
            break;
          }
        }
        nv.outputScore = (nv.isEnd ? nv.phraseScore : 0) + (nv.output >= 0 ? nodes[nv.output]!.outputScore : 0);
        queue.push(v);
      }
    }
    // The utterance's start and end: whole words read a separator there (precomputed, as native).
    nodes.forEach((n, i) => {
      if (!wholeWords) {
        this.#final.push(-n.nodeScore);
        return;
      }
      const step = this.forward(i, separatorId);
      this.#final.push(step.score - nodes[step.state]!.nodeScore);
    });
    if (wholeWords) this.#start = this.forward(0, separatorId);
  }

  #node(tokenScore: number): CtxNode {
    return {
      tokenScore, nodeScore: 0, phraseScore: 0, outputScore: 0, isEnd: false, fail: 0, output: -1, next: new Map(),
    };
  }

  /** The child of `u` on `token`, made if new; a shared node takes the largest token score. */
  #addChild(u: number, token: number, tokenScore: number): number {
    const nodes = this.#nodes;
    const child = nodes[u]!.next.get(token);
    if (child !== undefined) {
      nodes[child]!.tokenScore = Math.max(nodes[child]!.tokenScore, tokenScore);
      return child;
    }
    nodes.push(this.#node(tokenScore));
    nodes[u]!.next.set(token, nodes.length - 1);
    return nodes.length - 1;
  }

  get empty(): boolean {
    return this.#nodes.length === 1;
  }

  /** Score delta and state of an utterance's start: after a separator (whole words), else the root. */
  get start(): ContextStep {
    return { ...this.#start };
  }

  /** Score delta and next state for `token` from `state`. */
  forward(state: number, token: number): ContextStep {
    const nodes = this.#nodes;
    let node = nodes[state]!.next.get(token);
    let score: number;
    if (node !== undefined) {
      score = nodes[node]!.tokenScore;
    } else {
      let n = nodes[state]!.fail;
      while (n !== 0 && !nodes[n]!.next.has(token)) n = nodes[n]!.fail;
      node = nodes[n]!.next.get(token) ?? n;
      score = nodes[node]!.nodeScore - nodes[state]!.nodeScore;
    }
    return { score: score + nodes[node]!.outputScore, state: node };
  }

  /** The bonus of the match open at `state` (its tokens' boosts so far), which a mismatch or the utterance's end
   * takes back: a hypothesis's context score minus this is what its completed phrases hold. */
  open(state: number): number {
    return this.#nodes[state]!.nodeScore;
  }

  /** Score delta at the end of the utterance: completes a phrase whose last token was read (whole words: a separator
   * is read first), then removes the bonus of an unfinished match. */
  finalize(state: number): number {
    return this.#final[state]!;
  }
}
