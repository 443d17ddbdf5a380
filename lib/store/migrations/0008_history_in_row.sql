-- The history of a request moves into its row (issue 13): a bounded JSON array, appended by
-- the same statement that changes the row's state. Before, every step also inserted a
-- message_events row with three index entries (one of them a random uuid, a full-page image
-- in the WAL for nearly every insert after a checkpoint): three of the seven row writes of a
-- request sent at once, and most of its WAL.
--
-- One element per step, in the order recorded, null fields left out:
--   {"status": "sent", "attempt": 1, "at": "2026-12-07T22:15:30.123456Z",
--    "smtp": {"code": 250, "enhanced": "2.0.0", "text": "Ok: queued as 4Xk2"},
--    "reason": "...", "next_attempt_at": "...", "message_id": "<...>"}
-- message_id appears only where it differs from the row's (which is set once).

ALTER TABLE messages ADD COLUMN history jsonb NOT NULL DEFAULT '[]'
  CHECK (jsonb_typeof(history) = 'array');
-- Inline (compressed if need be) rather than out of line: the array changes with every
-- update, and an out-of-line value would be written again to the TOAST table each time
-- (toast_tuple_target is 128 so that the stored content, which does not change, goes there).
ALTER TABLE messages ALTER COLUMN history SET STORAGE MAIN;

-- `prior` with `events` appended, in order, at most 64 events: the first one (how the
-- request came in) and the newest 63. A plain expression (no subquery), so that PostgreSQL
-- inlines it into the statement rather than calling it for each row.
-- `events` already all in `prior` are not appended again: a batch retried after a commit
-- whose outcome is unknown (the connection lost during COMMIT) writes each step once, which
-- message_events' op_id did before. The store retries a batch whole, so a request's events
-- of one statement are either all there or none.
CREATE FUNCTION history_append(prior jsonb, events jsonb) RETURNS jsonb
  LANGUAGE sql IMMUTABLE PARALLEL SAFE
  RETURN CASE WHEN prior @> events THEN prior
              WHEN jsonb_array_length(prior) + jsonb_array_length(events) <= 64
                THEN prior || events
              ELSE jsonb_build_array((prior || events) -> 0) ||
                   jsonb_path_query_array(prior || events, '$[last - 62 to last]') END;

-- The rows recorded so far, each request's in the order they were written; an event's
-- message_id is left out where it is the row's.
UPDATE messages m
   SET history = history_append('[]', h.events)
  FROM (SELECT e.tenant, e.request_id,
               jsonb_agg(jsonb_strip_nulls(jsonb_build_object(
                   'status', e.status, 'attempt', e.attempt, 'at', e.at,
                   'smtp', CASE WHEN e.smtp_code IS NOT NULL THEN jsonb_strip_nulls(
                               jsonb_build_object('code', e.smtp_code,
                                                  'enhanced', e.smtp_enhanced,
                                                  'text', e.smtp_text)) END,
                   'reason', e.reason, 'next_attempt_at', e.next_attempt_at,
                   'message_id', CASE WHEN e.message_id IS DISTINCT FROM r.message_id
                                      THEN e.message_id END)) ORDER BY e.id) AS events
          FROM message_events e
          JOIN messages r ON r.tenant = e.tenant AND r.request_id = e.request_id
         GROUP BY e.tenant, e.request_id) h
 WHERE m.tenant = h.tenant AND m.request_id = h.request_id;

DROP TABLE message_events;
