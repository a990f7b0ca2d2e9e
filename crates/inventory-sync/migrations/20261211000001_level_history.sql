-- What we sent to and saw at each Shopify level, newest last: a write (`sent`: the quantity,
-- the changeFromQuantity it held, the ERP change) and a value found other than we knew
-- (`seen`: Shopify's quantity, ours as compare). Read by Stock.GetLevelHistory.
CREATE TABLE inventory.level_history (
    id                 bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    shop               text        NOT NULL,
    inventory_item_id  text        NOT NULL,
    location_id        text        NOT NULL,
    kind               text        NOT NULL CHECK (kind IN ('sent', 'seen')),
    quantity           bigint      NOT NULL,
    compare            bigint,
    change             text,
    source             text        NOT NULL,
    at                 timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX level_history_level ON inventory.level_history (shop, inventory_item_id, location_id, id);
