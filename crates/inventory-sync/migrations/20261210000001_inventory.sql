-- inventory-sync's state: what it knows of each Shopify inventory level, the ERP stock feed
-- it follows per shop, the push in flight, and the drift it found. Owned by inventory-sync.
CREATE SCHEMA IF NOT EXISTS inventory;

-- One Shopify level (inventory item x location) of a shop.
CREATE TABLE inventory.levels (
    shop               text        NOT NULL,
    inventory_item_id  text        NOT NULL,  -- gid://shopify/InventoryItem/…
    location_id        text        NOT NULL,  -- gid://shopify/Location/…
    item_no            text        NOT NULL,
    variant_code       text        NOT NULL DEFAULT '',
    -- The on_hand quantity we last know Shopify has (read, or written by us): the
    -- changeFromQuantity of the next write.
    shopify_quantity   bigint,
    -- The last quantity we sent, and the ERP change (feed cursor, or 'reconcile:<run>') it
    -- came from.
    sent_quantity      bigint,
    sent_change        text,
    sent_at            timestamptz,
    updated_at         timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (shop, inventory_item_id, location_id)
);

-- The ERP quantity on hand per ERP level as the shop's feed delivered it last (a Shopify level
-- sums several of them).
CREATE TABLE inventory.erp_levels (
    shop           text   NOT NULL,
    item_no        text   NOT NULL,
    variant_code   text   NOT NULL,
    location_code  text   NOT NULL,
    quantity       bigint NOT NULL,
    change_cursor  text   NOT NULL,
    PRIMARY KEY (shop, item_no, variant_code, location_code)
);

-- The durable cursor of Posting.StreamStockChanges, per shop: moved only after the writes
-- of the changes before it are done.
CREATE TABLE inventory.feed_cursors (
    shop        text        PRIMARY KEY,
    cursor      text        NOT NULL,
    updated_at  timestamptz NOT NULL DEFAULT now()
);

-- The push a follower is making (at most one per shop): written before the first
-- inventorySetQuantities, so a crash re-sends exactly these lines with the same keys, then
-- finished (levels, ERP levels, cursor) and deleted in one transaction.
CREATE TABLE inventory.pending_pushes (
    shop        text        PRIMARY KEY,
    cursor      text        NOT NULL,
    lines       jsonb       NOT NULL,
    erp_levels  jsonb       NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);

-- A level Shopify had at another value than we last knew (edited by hand, by another app,
-- or a push we did not record).
CREATE TABLE inventory.drift (
    id                 bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    shop               text        NOT NULL,
    inventory_item_id  text        NOT NULL,
    location_id        text        NOT NULL,
    ours               bigint,
    shopify            bigint      NOT NULL,
    source             text        NOT NULL,
    seen_at            timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX drift_shop_seen ON inventory.drift (shop, seen_at);
