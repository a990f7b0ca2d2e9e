-- The posting service's schema: the ERP side (master data, item ledger, sales documents,
-- posted documents, customer ledger). Only the posting service reads or writes it; everyone
-- else goes through gRPC `Erp` and `Posting`.
--
-- Change feeds: rows carry `change_xid`, the id of the transaction that last wrote them
-- (pg_current_xact_id()). A feed returns rows with change_xid below the oldest transaction
-- still running (pg_snapshot_xmin), ordered by (change_xid, key), so it never returns a
-- change that a still-running transaction could precede, and a cursor (xid, key) resumes
-- exactly. A sequence number would not do: numbers are taken before commit, so a reader can
-- see 11 committed while 10 is still in flight and skip 10 forever.
--
-- No foreign keys from the high-volume tables (documents, ledgers) to master data (items,
-- customers, locations): every insert would lock its parent row FOR KEY SHARE, and one hot
-- row (the main location, a big customer) locked by every concurrent posting turns into
-- MultiXact contention that halves throughput. Master data is never deleted (it is blocked
-- instead; there is no delete API), and every write checks that what it references exists.
CREATE SCHEMA IF NOT EXISTS posting;

-- Document numbers. Sequences never block concurrent posting; numbers can have gaps when a
-- transaction rolls back (see ARCHITECTURE.md).
CREATE SEQUENCE posting.sales_order_nos;
CREATE SEQUENCE posting.sales_invoice_nos;
CREATE SEQUENCE posting.posted_shipment_nos;
CREATE SEQUENCE posting.posted_invoice_nos;

-- PL/pgSQL, not SQL: its plan is cached per session instead of planned at every call.
CREATE FUNCTION posting.next_no(prefix text, seq regclass) RETURNS text LANGUAGE plpgsql VOLATILE AS $$
DECLARE
  n bigint := nextval(seq);
BEGIN
  RETURN prefix || CASE WHEN n < 1000000 THEN lpad(n::text, 6, '0') ELSE n::text END;
END
$$;

CREATE TABLE posting.locations (
    code                    text PRIMARY KEY CHECK (code <> ''),
    name                    text NOT NULL DEFAULT '',
    address                 jsonb NOT NULL DEFAULT '{}',
    prevent_negative_stock  boolean NOT NULL DEFAULT false,
    version                 bigint NOT NULL DEFAULT 1,
    created_at              timestamptz NOT NULL DEFAULT now(),
    updated_at              timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE posting.items (
    no                  text PRIMARY KEY CHECK (no <> ''),
    description         text NOT NULL DEFAULT '',
    -- List price and unit cost per base unit.
    unit_price_minor    bigint NOT NULL DEFAULT 0 CHECK (unit_price_minor >= 0),
    unit_cost_minor     bigint NOT NULL DEFAULT 0 CHECK (unit_cost_minor >= 0),
    currency            text NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    blocked             boolean NOT NULL DEFAULT false,
    sku                 text NOT NULL DEFAULT '',
    barcode             text NOT NULL DEFAULT '',
    base_uom            text NOT NULL DEFAULT 'PCS',
    -- [{"code": "BOX", "qty_per_unit": 12}, ...]; the base unit is always there with 1.
    uoms                jsonb NOT NULL DEFAULT '[]',
    -- [{"code": "RED-L", "description": "...", "sku": "...", "barcode": "..."}, ...]
    variants            jsonb NOT NULL DEFAULT '[]',
    item_category       text NOT NULL DEFAULT '',
    vendor              text NOT NULL DEFAULT '',
    version             bigint NOT NULL DEFAULT 1,
    change_xid          xid8 NOT NULL DEFAULT pg_current_xact_id(),
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX items_changes ON posting.items (change_xid, no);
CREATE INDEX items_sku ON posting.items (sku) WHERE sku <> '';

CREATE TABLE posting.sales_prices (
    item_no             text NOT NULL REFERENCES posting.items ON DELETE CASCADE,
    variant_code        text NOT NULL DEFAULT '',
    -- '' = every customer.
    price_group         text NOT NULL DEFAULT '',
    currency            text NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    minimum_quantity    bigint NOT NULL DEFAULT 0 CHECK (minimum_quantity >= 0),
    unit_price_minor    bigint NOT NULL CHECK (unit_price_minor >= 0),
    PRIMARY KEY (item_no, variant_code, price_group, currency, minimum_quantity)
);

CREATE TABLE posting.customers (
    no                  text PRIMARY KEY CHECK (no <> ''),
    name                text NOT NULL DEFAULT '',
    email               text NOT NULL DEFAULT '',
    phone               text NOT NULL DEFAULT '',
    bill_to             jsonb NOT NULL DEFAULT '{}',
    ship_to             jsonb NOT NULL DEFAULT '{}',
    price_group         text NOT NULL DEFAULT '',
    payment_terms       text NOT NULL DEFAULT '',
    blocked             boolean NOT NULL DEFAULT false,
    currency            text NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    version             bigint NOT NULL DEFAULT 1,
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX customers_email ON posting.customers (lower(email)) WHERE email <> '';

-- Stock: quantity on hand is the sum of these rows, never stored on its own.
CREATE TABLE posting.item_ledger_entries (
    entry_no            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    entry_type          text NOT NULL CHECK (entry_type IN ('positive_adjustment', 'negative_adjustment', 'sale')),
    item_no             text NOT NULL,
    variant_code        text NOT NULL DEFAULT '',
    location_code       text NOT NULL,
    posting_date        date NOT NULL,
    -- Base units: positive in, negative out.
    quantity            bigint NOT NULL CHECK (quantity <> 0),
    cost_amount_minor   bigint NOT NULL DEFAULT 0,
    sales_amount_minor  bigint NOT NULL DEFAULT 0,
    currency            text NOT NULL,
    document_type       text NOT NULL CHECK (document_type IN ('adjustment', 'shipment', 'invoice')),
    document_no         text NOT NULL DEFAULT '',
    shop                text NOT NULL DEFAULT '',
    shopify_order_id    bigint,
    shopify_order_no    text NOT NULL DEFAULT '',
    change_xid          xid8 NOT NULL DEFAULT pg_current_xact_id(),
    created_at          timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX item_ledger_stock ON posting.item_ledger_entries (item_no, variant_code, location_code) INCLUDE (quantity);
CREATE INDEX item_ledger_changes ON posting.item_ledger_entries (change_xid, entry_no);
CREATE INDEX item_ledger_shopify ON posting.item_ledger_entries (shop, shopify_order_id) WHERE shopify_order_id IS NOT NULL;

-- Idempotency keys of stock adjustments: a replay returns the first call's entries.
CREATE TABLE posting.adjustment_requests (
    idempotency_key     text PRIMARY KEY,
    entry_nos           bigint[] NOT NULL DEFAULT '{}',
    created_at          timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE posting.sales_headers (
    id                      bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    document_type           text NOT NULL CHECK (document_type IN ('order', 'invoice')),
    no                      text NOT NULL UNIQUE CHECK (no <> ''),
    shop                    text NOT NULL DEFAULT '',
    shopify_order_id        bigint CHECK (shopify_order_id > 0),
    shopify_order_no        text NOT NULL DEFAULT '',
    external_document_no    text NOT NULL DEFAULT '',
    sell_to_customer_no     text NOT NULL,
    bill_to_customer_no     text NOT NULL,
    ship_to                 jsonb NOT NULL DEFAULT '{}',
    currency                text NOT NULL,
    status                  text NOT NULL CHECK (status IN ('open', 'released', 'posted')),
    order_date              date NOT NULL,
    posting_date            date NOT NULL,
    amount_minor            bigint NOT NULL DEFAULT 0,
    version                 bigint NOT NULL DEFAULT 1,
    created_at              timestamptz NOT NULL DEFAULT now(),
    updated_at              timestamptz NOT NULL DEFAULT now(),
    -- One document per Shopify order and shop, whoever races to create it.
    CONSTRAINT sales_headers_shopify_order UNIQUE (shop, shopify_order_id)
);
-- Batch posting selects open work by type, status and posting date.
CREATE INDEX sales_headers_to_post ON posting.sales_headers (document_type, status, posting_date, no)
    WHERE status <> 'posted';
CREATE INDEX sales_headers_customer ON posting.sales_headers (sell_to_customer_no);

CREATE TABLE posting.sales_lines (
    header_id               bigint NOT NULL REFERENCES posting.sales_headers ON DELETE CASCADE,
    line_no                 integer NOT NULL,
    item_no                 text NOT NULL,
    variant_code            text NOT NULL DEFAULT '',
    location_code           text NOT NULL,
    description             text NOT NULL DEFAULT '',
    -- In `uom`; qty_per_uom base units each.
    quantity                bigint NOT NULL CHECK (quantity > 0),
    uom                     text NOT NULL,
    qty_per_uom             integer NOT NULL CHECK (qty_per_uom > 0),
    unit_price_minor        bigint NOT NULL CHECK (unit_price_minor >= 0),
    line_discount_minor     bigint NOT NULL DEFAULT 0 CHECK (line_discount_minor >= 0),
    amount_minor            bigint NOT NULL,
    quantity_shipped        bigint NOT NULL DEFAULT 0,
    quantity_invoiced       bigint NOT NULL DEFAULT 0,
    shopify_order_line_id   bigint,
    shopify_order_no        text NOT NULL DEFAULT '',
    PRIMARY KEY (header_id, line_no),
    CHECK (quantity_shipped BETWEEN 0 AND quantity),
    CHECK (quantity_invoiced BETWEEN 0 AND quantity),
    CHECK (amount_minor >= 0)
);

CREATE TABLE posting.posted_shipments (
    id                  bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    no                  text NOT NULL UNIQUE,
    order_no            text NOT NULL,
    shop                text NOT NULL DEFAULT '',
    shopify_order_id    bigint,
    shopify_order_no    text NOT NULL DEFAULT '',
    customer_no         text NOT NULL,
    posting_date        date NOT NULL,
    fulfillment_state   text NOT NULL CHECK (fulfillment_state IN ('pending', 'sent', 'failed', 'nothing_to_send')),
    fulfillment_id      text NOT NULL DEFAULT '',
    fulfillment_error   text NOT NULL DEFAULT '',
    change_xid          xid8 NOT NULL DEFAULT pg_current_xact_id(),
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX posted_shipments_awaiting ON posting.posted_shipments (change_xid, id)
    WHERE fulfillment_state IN ('pending', 'failed');
CREATE INDEX posted_shipments_shopify ON posting.posted_shipments (shop, shopify_order_id);
CREATE INDEX posted_shipments_order ON posting.posted_shipments (order_no);

CREATE TABLE posting.posted_shipment_lines (
    shipment_id             bigint NOT NULL REFERENCES posting.posted_shipments ON DELETE CASCADE,
    line_no                 integer NOT NULL,
    item_no                 text NOT NULL,
    variant_code            text NOT NULL DEFAULT '',
    location_code           text NOT NULL,
    quantity                bigint NOT NULL,
    shopify_order_line_id   bigint,
    PRIMARY KEY (shipment_id, line_no)
);

CREATE TABLE posting.posted_invoices (
    id                  bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    no                  text NOT NULL UNIQUE,
    order_no            text NOT NULL,
    shop                text NOT NULL DEFAULT '',
    shopify_order_id    bigint,
    shopify_order_no    text NOT NULL DEFAULT '',
    customer_no         text NOT NULL,
    posting_date        date NOT NULL,
    currency            text NOT NULL,
    amount_minor        bigint NOT NULL,
    created_at          timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX posted_invoices_shopify ON posting.posted_invoices (shop, shopify_order_id);
CREATE INDEX posted_invoices_order ON posting.posted_invoices (order_no);

CREATE TABLE posting.posted_invoice_lines (
    invoice_id              bigint NOT NULL REFERENCES posting.posted_invoices ON DELETE CASCADE,
    line_no                 integer NOT NULL,
    item_no                 text NOT NULL,
    variant_code            text NOT NULL DEFAULT '',
    quantity                bigint NOT NULL,
    unit_price_minor        bigint NOT NULL,
    amount_minor            bigint NOT NULL,
    shopify_order_line_id   bigint,
    PRIMARY KEY (invoice_id, line_no)
);

CREATE TABLE posting.customer_ledger_entries (
    entry_no                bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    customer_no             text NOT NULL,
    posting_date            date NOT NULL,
    document_type           text NOT NULL CHECK (document_type IN ('invoice')),
    document_no             text NOT NULL,
    currency                text NOT NULL,
    amount_minor            bigint NOT NULL,
    remaining_amount_minor  bigint NOT NULL,
    open                    boolean NOT NULL DEFAULT true,
    shop                    text NOT NULL DEFAULT '',
    shopify_order_id        bigint,
    shopify_order_no        text NOT NULL DEFAULT '',
    created_at              timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX customer_ledger_customer ON posting.customer_ledger_entries (customer_no, posting_date);
CREATE INDEX customer_ledger_shopify ON posting.customer_ledger_entries (shop, shopify_order_id) WHERE shopify_order_id IS NOT NULL;
