-- Instances alive: each daemon writes its row every delivery.heartbeat_ms. A claim whose
-- owner has not been seen for delivery.owner_dead_after_ms is taken over at once, instead
-- of waiting for its lease (delivery.lease_ms, minutes) to lapse: an instance killed on
-- another host no longer stops its requests for the length of the lease. An owner with no
-- row here (an older daemon) keeps the lease rules. Times are the server's (now()), like
-- the leases, so that clock skew between hosts does not matter.

CREATE TABLE instances (
  id           text PRIMARY KEY,            -- daemon.instance_id, the claims' owner
  host         text,
  pid          integer,
  started_at   timestamptz NOT NULL DEFAULT now(),
  heartbeat_at timestamptz NOT NULL DEFAULT now()
);
