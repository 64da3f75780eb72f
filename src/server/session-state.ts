/**
 * The states of one session socket and the state table of docs/protocol.md section 2: which client message types a
 * state refuses, and with which error. Judged by the `type` a text frame names, before its other fields, so that a
 * broken session.start on a started session is the non-fatal ALREADY_STARTED, not a fatal BAD_MESSAGE that would
 * throw its transcripts away. Apart from session.ts so the table reads as one rule.
 */
import { GatewayError } from '../protocol/errors.js';
import type { ClientMessage } from '../protocol/messages.js';

export type SessionState = 'connected' | 'started' | 'ending' | 'closed';

/** The error refusing a message of `type` (undefined: no client type) in `state`, or null when it may go on. */
export function refusedInState(state: SessionState, type: ClientMessage['type'] | undefined): GatewayError | null {
  if (type === undefined || type === 'ping') return null; // ping: every state; no type: the validator answers
  if (state === 'ending') return new GatewayError('GW_ERR_SESSION_ENDED', `${type} after session.end is discarded`);
  if (type === 'session.start') {
    return state === 'started'
      ? new GatewayError('GW_ERR_ALREADY_STARTED', 'session.start on a started session is ignored') : null;
  }
  return state === 'started' ? null : new GatewayError('GW_ERR_NOT_STARTED', `${type} before session.start`);
}
