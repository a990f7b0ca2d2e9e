-- order-sync's mirror of the Shopify orders it imported, and where each one stands on its way
-- to an ERP sales document. Owned by order-sync alone.
CREATE SCHEMA IF NOT EXISTS order_sync;

CREATE TABLE order_sync.orders (
    shop                text        NOT NULL,
    -- Shopify's numeric order id (the tail of gid://shopify/Order/<id>).
    order_id            bigint      NOT NULL,
    name                text        NOT NULL,
    shopify_updated_at  timestamptz NOT NULL,
    financial_status    text        NOT NULL DEFAULT '',
    fulfillment_status  text        NOT NULL DEFAULT '',
    -- The typed mirror (crate::mirror::Order) as imported last; null when the order could
    -- not be read (state 'held', hold_kind 'import', the reason says why).
    body                jsonb,
    -- What its sales document is made of (lines, quantities, prices, shipping), hashed: a
    -- change after processing is detected by comparing it with processed_hash.
    content_hash        text        NOT NULL DEFAULT '',
    content             jsonb,
    state               text        NOT NULL DEFAULT 'pending'
                        CHECK (state IN ('pending', 'held', 'processed', 'changed', 'cancelled')),
    -- Why a held order waits, grouped by (hold_kind, hold_key) for the cues.
    hold_kind           text,
    hold_key            text,
    hold_reason         text,
    -- A person released a high-risk order.
    risk_released       boolean     NOT NULL DEFAULT false,
    document_no         text,
    document_type       text,
    processed_hash      text,
    -- The document content at processing, to say what changed since.
    processed_content   jsonb,
    -- What changed in Shopify after processing (state 'changed').
    changes             text,
    imported_at         timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (shop, order_id),
    CHECK ((state = 'held') = (hold_kind IS NOT NULL))
);

-- The create step's work list and the cues' counts.
CREATE INDEX orders_open ON order_sync.orders (shop, state, order_id)
    WHERE state IN ('pending', 'held', 'changed');
