-- Credit memos (Shopify refunds), shipment tracking, posted credit memos.
--
-- Only adds, and widens checks for values only this release writes: older releases keep
-- working beside it. In particular `sales_headers_shopify_order` (one order or invoice per
-- shop and Shopify order), which older releases name in ON CONFLICT, stays as it is: a
-- credit memo keeps its Shopify order in `refund_order_id` and leaves `shopify_order_id`
-- NULL, so a Shopify order can have a credit memo per refund besides its order or invoice.
-- `sales_headers_shopify_refund` makes a credit memo unique per shop and Shopify refund
-- (NULLs are distinct: orders and invoices never collide on it).

ALTER TABLE posting.sales_headers DROP CONSTRAINT sales_headers_document_type_check;
ALTER TABLE posting.sales_headers ADD CONSTRAINT sales_headers_document_type_check
    CHECK (document_type IN ('order', 'invoice', 'credit_memo'));
ALTER TABLE posting.sales_headers
    ADD COLUMN shopify_refund_id bigint CHECK (shopify_refund_id > 0),
    ADD COLUMN refund_order_id   bigint CHECK (refund_order_id > 0),
    ADD COLUMN applies_to_doc_no text NOT NULL DEFAULT '',
    ADD COLUMN tracking_company  text NOT NULL DEFAULT '',
    ADD COLUMN tracking_number   text NOT NULL DEFAULT '',
    ADD COLUMN tracking_url      text NOT NULL DEFAULT '',
    ADD CONSTRAINT sales_headers_shopify_refund UNIQUE (shop, shopify_refund_id),
    ADD CONSTRAINT sales_headers_credit_memo_keys
        CHECK (document_type = 'credit_memo' OR (shopify_refund_id IS NULL AND refund_order_id IS NULL));
CREATE INDEX sales_headers_refund_order ON posting.sales_headers (shop, refund_order_id)
    WHERE refund_order_id IS NOT NULL;

ALTER TABLE posting.sales_lines ADD COLUMN return_to_stock boolean NOT NULL DEFAULT false;

ALTER TABLE posting.posted_shipments
    ADD COLUMN tracking_company text NOT NULL DEFAULT '',
    ADD COLUMN tracking_number  text NOT NULL DEFAULT '',
    ADD COLUMN tracking_url     text NOT NULL DEFAULT '';

CREATE SEQUENCE posting.sales_credit_memo_nos;
CREATE SEQUENCE posting.posted_credit_memo_nos;

CREATE TABLE posting.posted_credit_memos (
    id                  bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    no                  text NOT NULL UNIQUE,
    -- The credit memo it was posted from.
    document_no         text NOT NULL,
    shop                text NOT NULL DEFAULT '',
    shopify_order_id    bigint,
    shopify_order_no    text NOT NULL DEFAULT '',
    shopify_refund_id   bigint,
    applies_to_doc_no   text NOT NULL DEFAULT '',
    customer_no         text NOT NULL,
    posting_date        date NOT NULL,
    currency            text NOT NULL,
    -- The amount credited, positive (the customer ledger entry has it negative).
    amount_minor        bigint NOT NULL,
    created_at          timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX posted_credit_memos_shopify ON posting.posted_credit_memos (shop, shopify_order_id);
CREATE INDEX posted_credit_memos_document ON posting.posted_credit_memos (document_no);

CREATE TABLE posting.posted_credit_memo_lines (
    credit_memo_id          bigint NOT NULL REFERENCES posting.posted_credit_memos ON DELETE CASCADE,
    line_no                 integer NOT NULL,
    item_no                 text NOT NULL,
    variant_code            text NOT NULL DEFAULT '',
    location_code           text NOT NULL,
    quantity                bigint NOT NULL,
    unit_price_minor        bigint NOT NULL,
    amount_minor            bigint NOT NULL,
    return_to_stock         boolean NOT NULL,
    shopify_order_line_id   bigint,
    PRIMARY KEY (credit_memo_id, line_no)
);

ALTER TABLE posting.item_ledger_entries DROP CONSTRAINT item_ledger_entries_document_type_check;
ALTER TABLE posting.item_ledger_entries ADD CONSTRAINT item_ledger_entries_document_type_check
    CHECK (document_type IN ('adjustment', 'shipment', 'invoice', 'credit_memo'));

ALTER TABLE posting.customer_ledger_entries DROP CONSTRAINT customer_ledger_entries_document_type_check;
ALTER TABLE posting.customer_ledger_entries ADD CONSTRAINT customer_ledger_entries_document_type_check
    CHECK (document_type IN ('invoice', 'credit_memo'));
