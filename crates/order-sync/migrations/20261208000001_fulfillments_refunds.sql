-- Shipments sent back to Shopify as fulfillments, refunds turned into ERP documents, and
-- orders archived in Shopify. Owned by order-sync alone.

-- A fulfillment about to be created in Shopify, written (and committed) before
-- fulfillmentCreate is sent: fulfillmentCreate takes no idempotency key, so after a crash or
-- an answer lost on the way, the order's fulfillments are read and one that was not there
-- before (`known_before`) and ships exactly `lines` from `location_id` is this one; only when
-- none is found is it sent again. One row per shipment and Shopify location (and part: at most
-- 250 line items per request).
CREATE TABLE order_sync.fulfillment_sends (
    shop            text        NOT NULL,
    shipment_no     text        NOT NULL,
    location_id     bigint      NOT NULL,
    part            integer     NOT NULL DEFAULT 0,
    order_id        bigint      NOT NULL,
    -- [{fulfillment_order_line, line_item, quantity}] (crate::shipments::SendLine).
    lines           jsonb       NOT NULL,
    known_before    bigint[]    NOT NULL,
    state           text        NOT NULL CHECK (state IN ('sending', 'sent')),
    -- The Shopify fulfillment gid (state 'sent').
    fulfillment_id  text,
    attempts        integer     NOT NULL DEFAULT 1,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (shop, shipment_no, location_id, part),
    CHECK ((state = 'sent') = (fulfillment_id IS NOT NULL))
);
-- A Shopify fulfillment answers one request: reconciliation never takes one twice.
CREATE UNIQUE INDEX fulfillment_sends_fulfillment ON order_sync.fulfillment_sends (shop, fulfillment_id)
    WHERE fulfillment_id IS NOT NULL;
CREATE INDEX fulfillment_sends_order ON order_sync.fulfillment_sends (shop, order_id);

-- What sending a shipment gave, for the shipment cues (the posting service keeps the state
-- the ERP shows; this keeps the reason grouped by cause).
CREATE TABLE order_sync.shipment_results (
    shop            text        NOT NULL,
    shipment_no     text        NOT NULL,
    order_id        bigint      NOT NULL,
    order_name      text        NOT NULL DEFAULT '',
    state           text        NOT NULL CHECK (state IN ('sent', 'failed', 'nothing_to_send')),
    -- The cause as a key (e.g. `third_party`, `not_open`, `user_error`) and as a person reads it.
    reason_key      text,
    reason          text,
    updated_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (shop, shipment_no)
);
CREATE INDEX shipment_results_failed ON order_sync.shipment_results (shop, reason_key)
    WHERE state = 'failed';

-- A Shopify refund and what became of it: a credit memo (posted documents), an update of the
-- order's unposted document, or held with a reason. Recorded when the import first sees it.
CREATE TABLE order_sync.refunds (
    shop            text        NOT NULL,
    refund_id       bigint      NOT NULL,
    order_id        bigint      NOT NULL,
    state           text        NOT NULL DEFAULT 'pending'
                    CHECK (state IN ('pending', 'credited', 'applied', 'held')),
    -- The order's document was made from an order that already had this refund: its lines
    -- and shipping are in it (Shopify's current quantities and amounts), only an amount
    -- beyond them is still to credit.
    in_document     boolean     NOT NULL DEFAULT false,
    document_no     text,
    reason          text,
    created_at      timestamptz,
    seen_at         timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (shop, refund_id)
);
CREATE INDEX refunds_open ON order_sync.refunds (shop, order_id) WHERE state IN ('pending', 'held');

-- Closed (archived) in Shopify by us once paid, fulfilled and invoiced; when its document was
-- last made.
ALTER TABLE order_sync.orders ADD COLUMN archived_at timestamptz,
    ADD COLUMN processed_at timestamptz;
