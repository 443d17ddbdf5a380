-- Idempotent claim: the composed message is stored by the claim that takes a request
-- (first content wins), so that every attempt sends the same bytes (same Message-ID and
-- Date); published_at records that the broker acknowledged the request's terminal status
-- event, so that a redelivery can tell "publish it again" from "duplicate".

ALTER TABLE messages
  ADD COLUMN content      text,        -- MIME message, CRLF; kept after the request ends
  ADD COLUMN published_at timestamptz; -- terminal event acknowledged; cleared on a state change

-- Requests that ended before this migration: their offsets were committed only after their
-- terminal event was acknowledged, so count them as published (a redelivery answers
-- duplicate, as it did before) rather than publish their terminal event a second time.
UPDATE messages SET published_at = updated_at
 WHERE state IN ('sent', 'bounced', 'failed', 'rejected', 'suppressed', 'duplicate');
