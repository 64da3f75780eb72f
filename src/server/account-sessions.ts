/**
 * Open sessions per API-key account (server/api-keys.ts), for the per-key session limit: the upgrade gate asks
 * {@link AccountSessions.refusal} before it admits a session, the gateway {@link AccountSessions.open}s it when its
 * socket opens and {@link AccountSessions.close}s it when the socket closes (both ends may report a close; the second
 * report is a no-op). Counts live here, not in the key set, so they survive a key reload (SIGHUP): a reload that
 * lowers a limit refuses new sessions only, and the open ones keep running.
 *
 * Each session remembers the key that admitted it, so that a reload can {@link AccountSessions.rebind} it to the
 * account its key belongs to now: a limit is the account's as the file names it now (renamed, merged or split), and
 * a renamed account's open sessions must not leave the new name a second quota beside them.
 */
import type { ApiKeyAccount, ApiKeyGrant, ApiKeys } from './api-keys.js';

export class AccountSessions<Conn> {
  private readonly counts = new Map<string, number>();
  /** Each open session's key and the account it is counted under now. */
  private readonly held = new Map<Conn, { readonly keyId: string; accountId: string }>();

  /** @param defaultLimit sessions per account when its key sets no `max_sessions`; 0: no limit. */
  constructor(private readonly defaultLimit: number) {}

  /** The account's limit: its own `max_sessions`, else the default; null when it has none. */
  limitOf(account: ApiKeyAccount): number | null {
    return account.maxSessions ?? (this.defaultLimit > 0 ? this.defaultLimit : null);
  }

  /** Why a new session of `account` must be refused (its limit is reached), or null when it may open. */
  refusal(account: ApiKeyAccount): string | null {
    const limit = this.limitOf(account);
    if (limit === null || this.count(account.id) < limit) return null;
    return `API key account ${JSON.stringify(account.id)} has its limit of ${limit} open sessions; retry when one ends`;
  }

  open(conn: Conn, grant: ApiKeyGrant): void {
    if (this.held.has(conn)) return;
    this.held.set(conn, { keyId: grant.keyId, accountId: grant.account.id });
    this.add(grant.account.id, 1);
  }

  close(conn: Conn): void {
    const held = this.held.get(conn);
    if (held === undefined) return;
    this.held.delete(conn);
    this.add(held.accountId, -1);
  }

  /**
   * After a key reload: every open session counts under the account its key belongs to in `keys`. A session whose
   * key `keys` no longer holds stays under its last account: it keeps running, and a key rotation (old key removed,
   * new key of the same name) must not give the new key a fresh quota while the old key's sessions run.
   */
  rebind(keys: ApiKeys): void {
    for (const held of this.held.values()) {
      const now = keys.accountOf(held.keyId);
      if (now === null || now.id === held.accountId) continue;
      this.add(held.accountId, -1);
      this.add(now.id, 1);
      held.accountId = now.id;
    }
  }

  count(accountId: string): number {
    return this.counts.get(accountId) ?? 0;
  }

  /** Accounts with open sessions and their counts (metrics). */
  entries(): IterableIterator<[string, number]> {
    return this.counts.entries();
  }

  /** Accounts left without open sessions are forgotten: the metrics drop their series. */
  private add(accountId: string, delta: number): void {
    const n = this.count(accountId) + delta;
    if (n > 0) this.counts.set(accountId, n);
    else this.counts.delete(accountId);
  }
}
