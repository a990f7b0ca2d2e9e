-- Shops, owned by the scheduler (which refuses entries of unknown or disabled shops, so the
-- check is a local read) and served to everyone else by its `Shops` gRPC API: the shops and
-- their settings, their credentials sealed with XChaCha20-Poly1305 (key id, nonce and
-- ciphertext; the plain text is never stored), the links between ERP and Shopify records, and
-- the sync cursors.
CREATE SCHEMA IF NOT EXISTS shops;

CREATE TABLE shops.shops (
    name                    text PRIMARY KEY,
    store_domain            text NOT NULL,
    api_version             text NOT NULL,
    plan                    text NOT NULL CHECK (plan IN ('standard', 'advanced', 'plus', 'enterprise')),
    enabled                 boolean NOT NULL DEFAULT true,
    -- shopsync_common::shop::ShopSettings as JSON (fields added later read as their defaults).
    settings                jsonb NOT NULL,
    access_token_key        text,
    access_token_nonce      bytea,
    access_token            bytea,
    webhook_secret_key      text,
    webhook_secret_nonce    bytea,
    webhook_secret          bytea,
    -- The create's idempotency key.
    request_id              uuid UNIQUE,
    version                 bigint NOT NULL DEFAULT 1,
    created_at              timestamptz NOT NULL DEFAULT now(),
    updated_at              timestamptz NOT NULL DEFAULT now(),
    CHECK ((access_token IS NULL) = (access_token_key IS NULL)
       AND (access_token IS NULL) = (access_token_nonce IS NULL)),
    CHECK ((webhook_secret IS NULL) = (webhook_secret_key IS NULL)
       AND (webhook_secret IS NULL) = (webhook_secret_nonce IS NULL))
);

-- ERP record <-> Shopify record, per shop and kind; each side unique.
CREATE TABLE shops.links (
    shop                        text NOT NULL REFERENCES shops.shops (name),
    kind                        text NOT NULL CHECK (kind IN ('item', 'customer', 'company', 'location')),
    erp_id                      text NOT NULL,
    erp_variant                 text NOT NULL DEFAULT '',
    shopify_id                  text NOT NULL,
    shopify_parent_id           text,
    shopify_inventory_item_id   text,
    updated_at                  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (shop, kind, erp_id, erp_variant),
    UNIQUE (shop, kind, shopify_id)
);

-- Sync cursors. A reset keeps the row with an empty value and a new version, so a run that
-- read the cursor before the reset cannot save over it (no ABA through delete and re-create).
CREATE TABLE shops.cursors (
    shop        text NOT NULL REFERENCES shops.shops (name),
    resource    text NOT NULL,
    value       text NOT NULL,
    version     bigint NOT NULL CHECK (version > 0),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (shop, resource)
);
