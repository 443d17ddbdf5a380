-- The hot path updates each messages row four or five times (claim, accepted, sending,
-- sent, published). Two changes make those updates cheap:
-- * the stored content (1 KiB and more) goes out of line (TOAST) as soon as a row passes
--   128 bytes, so that an update that leaves it alone copies a pointer, not the message,
--   into the new row version and the WAL;
-- * pages keep 20% free and the (state, updated_at) index, which no query of the daemon
--   or the admin API uses, is dropped, so that most updates are HOT (no index entries to
--   write). Measured with scripts/bench on 10,000 requests: 11.6 KB of WAL per message
--   before, 7.6 KB after (docs/BENCHMARKS.md). Operators looking for stuck requests query
--   message_events (indexed by request) or scan messages by state.

ALTER TABLE messages SET (toast_tuple_target = 128, fillfactor = 80);
DROP INDEX IF EXISTS messages_state_updated_idx;
