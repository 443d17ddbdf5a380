-- The AI client: its response cache (shared by every instance) and the style profiles
-- injected into its prompts.

CREATE TABLE ai_cache (
  key        text PRIMARY KEY,          -- SHA-256 (hex) of provider, model, messages, parameters
  value      jsonb NOT NULL,            -- the validated answer: subject, text, html, sentiment, tokens
  created_at timestamptz NOT NULL DEFAULT now(),
  expires_at timestamptz NOT NULL
);

-- Purging expired rows.
CREATE INDEX ai_cache_expires_idx ON ai_cache (expires_at);

CREATE TABLE style_profiles (
  id         bigserial PRIMARY KEY,
  tenant     text NOT NULL,
  sender     text NOT NULL DEFAULT '',  -- '' = the tenant's default profile
  tone       text NOT NULL DEFAULT '',
  formality  text NOT NULL DEFAULT '' CHECK (formality IN ('', 'tu', 'vous')),
  language   text NOT NULL DEFAULT '',
  signature  text NOT NULL DEFAULT '',  -- signature conventions, free text
  updated_at timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT style_profiles_sender_key UNIQUE (tenant, sender)
);
