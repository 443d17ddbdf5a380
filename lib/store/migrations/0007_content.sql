-- Stored content of each tenant: templates (immutable versions, one variant per locale),
-- contacts, signatures and the suppression list (docs/CONTENT.md).

-- The key under which an address is unique: the local part as given (RFC 5321 §2.4: it may
-- be case-sensitive) and the domain with its ASCII letters lower-cased (RFC 4343: DNS names
-- compare case-insensitively). COLLATE "C" makes lower() touch ASCII only, whatever the
-- database's locale, as lib/store's address_key() does. Used by the contacts' generated
-- key column, by the checks on signatures and suppressions, and by every query that looks
-- an address up, so that one definition decides what "the same address" is. A plain SQL
-- expression, not STRICT: PostgreSQL inlines it (a regular expression or a non-inlined call
-- cost 20 µs a row, a quarter of a 100,000-row contacts import).
CREATE FUNCTION address_key(address text) RETURNS text
  LANGUAGE sql IMMUTABLE PARALLEL SAFE
  RETURN CASE WHEN strpos(address, '@') = 0 THEN address
              ELSE left(address, length(address) - strpos(reverse(address), '@')) ||
                   lower(right(address, strpos(reverse(address), '@')) COLLATE "C") END;

-- A template: its flags and which version requests get when they name no version.
CREATE TABLE templates (
  tenant         text NOT NULL,
  name           text NOT NULL,
  active_version integer CHECK (active_version >= 1), -- set with the first version
  strict         boolean NOT NULL DEFAULT false,      -- a missing variable is an error
  allow_raw_html boolean NOT NULL DEFAULT false,      -- unescaped ({{{ }}}) HTML allowed
  created_at     timestamptz NOT NULL DEFAULT now(),
  updated_at     timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT templates_pkey PRIMARY KEY (tenant, name)
);

-- One row per (version, locale). The primary key serves every query: a version's variants,
-- the next version number (max + 1) and the list of versions.
CREATE TABLE template_versions (
  tenant     text NOT NULL,
  name       text NOT NULL,
  version    integer NOT NULL CHECK (version >= 1),
  locale     text NOT NULL DEFAULT '' CHECK (locale = lower(locale COLLATE "C")), -- '' = default
  subject    text NOT NULL DEFAULT '',
  text       text NOT NULL DEFAULT '',
  html       text NOT NULL DEFAULT '',
  markdown   text NOT NULL DEFAULT '',
  created_at timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT template_versions_pkey PRIMARY KEY (tenant, name, version, locale),
  CONSTRAINT template_versions_template_fk FOREIGN KEY (tenant, name)
    REFERENCES templates (tenant, name) ON DELETE CASCADE
);

-- Versions are immutable: the daemon caches them for as long as it runs, and a message's
-- history names the version it was rendered from. A change is a new version.
CREATE FUNCTION template_versions_immutable() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'template versions are immutable: store a new version instead'
    USING ERRCODE = 'object_not_in_prerequisite_state';
END $$;

CREATE TRIGGER template_versions_no_update BEFORE UPDATE ON template_versions
  FOR EACH ROW EXECUTE FUNCTION template_versions_immutable();

CREATE TABLE contacts (
  id         bigserial PRIMARY KEY,
  tenant     text NOT NULL,
  email      text NOT NULL,                               -- as last given
  email_key  text GENERATED ALWAYS AS (address_key(email)) STORED,
  name       text NOT NULL DEFAULT '',
  company    text NOT NULL DEFAULT '',
  locale     text NOT NULL DEFAULT '' CHECK (locale = lower(locale COLLATE "C")),
  attributes jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(attributes) = 'object'),
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  -- Upserts (one, or a CSV import) and look-ups by email.
  CONSTRAINT contacts_email_key UNIQUE (tenant, email_key)
);

-- Export, in creation order.
CREATE INDEX contacts_tenant_id_idx ON contacts (tenant, id);

-- A sender's signature; sender '' is the tenant's default.
CREATE TABLE signatures (
  tenant     text NOT NULL,
  sender     text NOT NULL CHECK (sender = address_key(sender)),
  html       text NOT NULL DEFAULT '',
  text       text NOT NULL DEFAULT '',
  updated_at timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT signatures_pkey PRIMARY KEY (tenant, sender)
);

-- Addresses no mail goes to. list '' is every list. Which reasons stop which category of
-- mail is decided by the code that reads them (docs/CONTENT.md): marketing mail is stopped by
-- any reason, transactional mail by all but unsubscribe.
CREATE TABLE suppressions (
  tenant            text NOT NULL,
  address           text NOT NULL CHECK (address = address_key(address)),
  reason            text NOT NULL
                      CHECK (reason IN ('hard_bounce', 'complaint', 'unsubscribe', 'manual')),
  list              text NOT NULL DEFAULT '',
  since             timestamptz NOT NULL DEFAULT now(),
  source_request_id text,                                  -- the request whose outcome added it
  note              text NOT NULL DEFAULT '',
  -- Look-ups by address (every list of it at once), listing a tenant's in address order.
  CONSTRAINT suppressions_pkey PRIMARY KEY (tenant, address, list)
);
