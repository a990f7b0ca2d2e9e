-- Order webhooks: the deliveries received (de-duplicated by Shopify's webhook id), the latest
-- delivery per shop and topic (watermarks), each shop's subscriptions, debounce window and gap
-- check, and the gaps found (orders polling imported that no webhook announced). Owned by
-- order-sync alone.

CREATE TABLE order_sync.webhook_deliveries (
    shop              text        NOT NULL,
    -- X-Shopify-Webhook-Id: the same on every retry of a delivery.
    webhook_id        text        NOT NULL,
    topic             text        NOT NULL,
    -- The order the delivery is about (orders/*: its id; refunds, fulfillments: order_id).
    order_id          bigint,
    -- The order's updated_at as the payload has it (orders/* topics).
    order_updated_at  timestamptz,
    -- X-Shopify-Triggered-At.
    triggered_at      timestamptz,
    received_at       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (shop, webhook_id)
);

-- Did a delivery announce this order? (the gap check)
CREATE INDEX webhook_deliveries_order ON order_sync.webhook_deliveries (shop, order_id);
-- Pruning.
CREATE INDEX webhook_deliveries_received ON order_sync.webhook_deliveries (shop, received_at);
CREATE INDEX webhook_deliveries_age ON order_sync.webhook_deliveries (received_at);

-- The latest delivery per shop and topic.
CREATE TABLE order_sync.webhook_watermarks (
    shop               text        NOT NULL,
    topic              text        NOT NULL,
    last_received_at   timestamptz NOT NULL,
    last_triggered_at  timestamptz,
    deliveries         bigint      NOT NULL DEFAULT 0,
    PRIMARY KEY (shop, topic)
);

CREATE TABLE order_sync.webhook_shops (
    shop                text        PRIMARY KEY,
    -- The shop's myshopify domain as Shopify sends it (X-Shopify-Shop-Domain), read from
    -- `shop { myshopifyDomain }` when the subscriptions are checked.
    domain              text,
    -- The address the subscriptions deliver to.
    callback            text,
    -- Webhooks complete since (the gap check starts here), and last checked.
    subscribed_at       timestamptz,
    checked_at          timestamptz,
    -- An open debounce window: the first delivery's time; cleared once its job is queued.
    pending_since       timestamptz,
    -- The window is being closed (its job queued) by a replica until then; a claim that
    -- outlives its holder (a crash) is taken over by any replica's sweeper.
    closing_until       timestamptz,
    last_entry          text,
    last_queued_at      timestamptz,
    -- The gap check has looked at the orders updated before this.
    gaps_checked_until  timestamptz,
    -- A gap's window still to reconcile (from this time on).
    reconcile_from      timestamptz
);

CREATE INDEX webhook_shops_domain ON order_sync.webhook_shops (domain);
CREATE INDEX webhook_shops_pending ON order_sync.webhook_shops (pending_since)
    WHERE pending_since IS NOT NULL;

-- Orders updated in [window_from, window_to] that polling imported and no webhook announced.
CREATE TABLE order_sync.webhook_gaps (
    id             bigserial   PRIMARY KEY,
    shop           text        NOT NULL,
    window_from    timestamptz NOT NULL,
    window_to      timestamptz NOT NULL,
    orders         bigint      NOT NULL,
    -- Some of the orders, by name.
    records        text[]      NOT NULL DEFAULT '{}',
    reason         text        NOT NULL,
    detected_at    timestamptz NOT NULL DEFAULT now(),
    -- A reconciliation covered the window.
    backfilled_at  timestamptz,
    -- Deliveries announced orders again after the window, or a person retried the group.
    resolved_at    timestamptz
);

CREATE INDEX webhook_gaps_open ON order_sync.webhook_gaps (shop) WHERE resolved_at IS NULL;

-- The gap check and the reconciliation read a shop's orders by their Shopify updatedAt.
CREATE INDEX IF NOT EXISTS orders_shopify_updated
    ON order_sync.orders (shop, shopify_updated_at);
