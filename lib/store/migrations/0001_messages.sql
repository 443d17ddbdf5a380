-- Messages: one row per request (its current state) and its status history.

CREATE TABLE messages (
  id              bigserial PRIMARY KEY,
  tenant          text NOT NULL,
  request_id      text NOT NULL,
  state           text NOT NULL CHECK (state IN ('accepted', 'sending', 'deferred', 'sent',
                    'bounced', 'failed', 'rejected', 'suppressed', 'duplicate')),
  message_id      text,                      -- the Message-ID header, reused when resuming
  sender          text,
  subject         text,
  recipients      integer,
  source          text,                      -- "topic/partition@offset" of the first claim
  attempts        integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
  claims          integer NOT NULL DEFAULT 0, -- how many times the request was claimed (redeliveries)
  last_code       integer,
  last_enhanced   text,
  last_reply      text,
  reason          text,
  next_attempt_at timestamptz,
  owner           text,                      -- instance holding the lease
  lease_until     timestamptz,
  created_at      timestamptz NOT NULL DEFAULT now(),
  updated_at      timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT messages_request_key UNIQUE (tenant, request_id)
);

-- Operators: "what is stuck in deferred since ...", "what failed in the last hour".
CREATE INDEX messages_state_updated_idx ON messages (state, updated_at);

CREATE TABLE message_events (
  id              bigserial PRIMARY KEY,
  tenant          text NOT NULL,
  request_id      text NOT NULL,
  status          text NOT NULL CHECK (status IN ('accepted', 'sending', 'deferred', 'sent',
                    'bounced', 'failed', 'rejected', 'suppressed', 'duplicate')),
  attempt         integer NOT NULL DEFAULT 0,
  message_id      text,
  smtp_code       integer,
  smtp_enhanced   text,
  smtp_text       text,
  reason          text,
  next_attempt_at timestamptz,
  at              timestamptz NOT NULL,
  recorded_at     timestamptz NOT NULL DEFAULT now(),
  -- Key of the store operation that wrote the row: a batch retried after a commit whose
  -- outcome is unknown (connection lost during COMMIT) must not append it twice.
  op_id           uuid NOT NULL,
  CONSTRAINT message_events_op_key UNIQUE (op_id),
  CONSTRAINT message_events_message_fk FOREIGN KEY (tenant, request_id)
    REFERENCES messages (tenant, request_id) ON DELETE CASCADE
);

-- History of one request, in the order it was recorded.
CREATE INDEX message_events_request_idx ON message_events (tenant, request_id, id);
