/**
 * Open sessions per API-key account (server/api-keys.ts), for the per-key session limit: the upgrade gate asks
 * {@link AccountSessions.refusal} before it admits a session, the gateway {@link AccountSessions.open}s it when its
 * socket opens and {@link AccountSessions.close}s it when the socket closes (both ends may report a close; the second
 * report is a no-op). Counts live here, not in the key set, so they survive a key reload (SIGHUP): a reload that
 * lowers a limit refuses new sessions only, and the open ones keep running.
 */
import type { ApiKeyAccount } from './api-keys.js';

export class AccountSessions<Conn> {
  private readonly counts = new Map<string, number>();
  private readonly accountOf = new Map<Conn, string>();

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

  open(conn: Conn, account: ApiKeyAccount): void {
    if (this.accountOf.has(conn)) return;
    this.accountOf.set(conn, account.id);
    this.counts.set(account.id, this.count(account.id) + 1);
  }

  close(conn: Conn): void {
    const id = this.accountOf.get(conn);
    if (id === undefined) return;
    this.accountOf.delete(conn);
    const n = this.count(id) - 1;
    if (n > 0) this.counts.set(id, n);
    else this.counts.delete(id);
  }

  count(accountId: string): number {
    return this.counts.get(accountId) ?? 0;
  }

  /** Accounts with open sessions and their counts (metrics). */
  entries(): IterableIterator<[string, number]> {
    return this.counts.entries();
  }
}
