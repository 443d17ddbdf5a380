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
-- message_id appears only where it differs from the row's.

ALTER TABLE messages ADD COLUMN history jsonb NOT NULL DEFAULT '[]'
  CHECK (jsonb_typeof(history) = 'array');
-- Inline (compressed if need be) rather than out of line: the array changes with every
-- update, and an out-of-line value would be written again to the TOAST table each time
-- (toast_tuple_target is 128 so that the stored content, which does not change, goes there).
ALTER TABLE messages ALTER COLUMN history SET STORAGE MAIN;

-- `prior` with `events` appended, in order:
-- * an event already in `prior` (the same status, attempt, time and reply) is not appended
--   again: a batch retried after a commit whose outcome is unknown (the connection lost
--   during COMMIT) writes each step once, which message_events' op_id did before;
-- * an event's message_id is dropped when it is the row's (`mid`);
-- * at most 64 events: the first one (how the request came in) and the newest 63.
CREATE FUNCTION history_append(prior jsonb, events jsonb, mid text) RETURNS jsonb
  LANGUAGE sql IMMUTABLE PARALLEL SAFE
  RETURN (
    WITH added AS (
      SELECT prior || coalesce(jsonb_agg(y.e ORDER BY y.n), '[]') AS h
        FROM (SELECT CASE WHEN x.e ->> 'message_id' = mid THEN x.e - 'message_id'
                          ELSE x.e END AS e, x.n
                FROM jsonb_array_elements(events) WITH ORDINALITY AS x(e, n)) y
       WHERE NOT prior @> jsonb_build_array(y.e))
    SELECT CASE WHEN jsonb_array_length(h) <= 64 THEN h
                ELSE jsonb_build_array(h -> 0) || jsonb_path_query_array(h, '$[last - 62 to last]')
           END
      FROM added);

-- The rows recorded so far, each request's in the order they were written.
UPDATE messages m
   SET history = history_append('[]', h.events, m.message_id)
  FROM (SELECT tenant, request_id,
               jsonb_agg(jsonb_strip_nulls(jsonb_build_object(
                   'status', status, 'attempt', attempt, 'at', at,
                   'smtp', CASE WHEN smtp_code IS NOT NULL THEN jsonb_strip_nulls(
                               jsonb_build_object('code', smtp_code, 'enhanced', smtp_enhanced,
                                                  'text', smtp_text)) END,
                   'reason', reason, 'next_attempt_at', next_attempt_at,
                   'message_id', message_id)) ORDER BY id) AS events
          FROM message_events
         GROUP BY tenant, request_id) h
 WHERE m.tenant = h.tenant AND m.request_id = h.request_id;

DROP TABLE message_events;
