-- What produced a request's stored content, as JSON (for a request with ai: the provider,
-- model, cache and fallback flags and the tone, as its status events carry them). Stored
-- with the content by the claim that stores it, so that a redelivery that reuses the
-- content (and does not call the model again) still says who wrote it.

ALTER TABLE messages ADD COLUMN content_meta jsonb;
