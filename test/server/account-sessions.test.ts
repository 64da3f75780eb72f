import { describe, expect, it } from 'vitest';
import { AccountSessions } from '../../src/server/account-sessions.js';

describe('AccountSessions', () => {
  const acme = { id: 'acme', maxSessions: 2 };
  const free = { id: 'free', maxSessions: null };
  const acmeKey = { keyId: 'k-acme', account: acme };
  const freeKey = { keyId: 'k-free', account: free };

  it('refuses an account at its own limit, or at the default when its key sets none', () => {
    const s = new AccountSessions<string>(1);
    expect(s.limitOf(acme)).toBe(2);
    expect(s.limitOf(free)).toBe(1);
    s.open('a1', acmeKey);
    expect(s.refusal(acme)).toBeNull();
    s.open('a2', acmeKey);
    expect(s.refusal(acme)).toMatch(/"acme" has its limit of 2 open sessions/);
    expect(s.refusal(free)).toBeNull();
    s.open('f1', freeKey);
    expect(s.refusal(free)).toMatch(/limit of 1/);
    expect(new AccountSessions<string>(0).refusal(free)).toBeNull(); // 0: no default limit
  });

  it('counts each connection once, however often its close is reported, and forgets empty accounts', () => {
    const s = new AccountSessions<object>(0);
    const c1 = {};
    const c2 = {};
    s.open(c1, acmeKey);
    s.open(c1, acmeKey);
    s.open(c2, acmeKey);
    expect(s.count('acme')).toBe(2);
    s.close(c1);
    s.close(c1);
    expect(s.count('acme')).toBe(1);
    expect(s.refusal(acme)).toBeNull();
    s.close(c2);
    s.close({});
    expect([...s.entries()]).toEqual([]);
  });
});
