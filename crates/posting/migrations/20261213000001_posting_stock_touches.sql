-- What a Shopify level fed by the stock feed also depends on besides the item ledger:
--
-- * reserved: base units still to ship on open sales orders and invoices (quantity minus
--   quantity shipped), by the document's shop ('' = not from a Shopify order). "Free" stock
--   is on hand minus what *other* channels reserve: the shop's own orders are already
--   committed in Shopify.
-- * awaiting fulfillment: base units of posted shipments of Shopify orders not yet sent as
--   fulfillments (pending or failed). The ERP has shipped them; Shopify still counts them on
--   hand and committed until the fulfillment is created.
--
-- A change to either writes a touch: a row keyed like a ledger entry (entry_no from the same
-- sequence, change_xid of the writing transaction), so the stock feed orders ledger entries
-- and touches as one stream and resumes from one cursor. Triggers, so no write path of
-- sales documents or shipments can forget it.
CREATE TABLE posting.stock_touches (
    entry_no        bigint NOT NULL DEFAULT nextval(pg_get_serial_sequence('posting.item_ledger_entries', 'entry_no')::regclass),
    item_no         text NOT NULL,
    variant_code    text NOT NULL,
    location_code   text NOT NULL,
    change_xid      xid8 NOT NULL DEFAULT pg_current_xact_id(),
    created_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX stock_touches_changes ON posting.stock_touches (change_xid, entry_no);
CREATE INDEX sales_lines_stock ON posting.sales_lines (item_no, variant_code, location_code);
CREATE INDEX posted_shipment_lines_stock ON posting.posted_shipment_lines (item_no, variant_code, location_code);

CREATE FUNCTION posting.touch_sales_line() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        INSERT INTO posting.stock_touches (item_no, variant_code, location_code)
        VALUES (OLD.item_no, OLD.variant_code, OLD.location_code);
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') AND (TG_OP = 'INSERT'
        OR (NEW.item_no, NEW.variant_code, NEW.location_code)
           IS DISTINCT FROM (OLD.item_no, OLD.variant_code, OLD.location_code)) THEN
        INSERT INTO posting.stock_touches (item_no, variant_code, location_code)
        VALUES (NEW.item_no, NEW.variant_code, NEW.location_code);
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER sales_lines_touch
    AFTER INSERT OR DELETE OR UPDATE OF item_no, variant_code, location_code, quantity,
        qty_per_uom, quantity_shipped ON posting.sales_lines
    FOR EACH ROW EXECUTE FUNCTION posting.touch_sales_line();

-- A document posted (or its type changed) changes whether its lines reserve.
CREATE FUNCTION posting.touch_sales_header() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO posting.stock_touches (item_no, variant_code, location_code)
    SELECT DISTINCT item_no, variant_code, location_code FROM posting.sales_lines
    WHERE header_id = NEW.id;
    RETURN NULL;
END $$;
CREATE TRIGGER sales_headers_touch
    AFTER UPDATE OF status, document_type ON posting.sales_headers
    FOR EACH ROW WHEN (OLD.status IS DISTINCT FROM NEW.status
                       OR OLD.document_type IS DISTINCT FROM NEW.document_type)
    EXECUTE FUNCTION posting.touch_sales_header();

-- A shipment sent as a fulfillment (or reset to be sent again) stops (starts) awaiting it.
CREATE FUNCTION posting.touch_posted_shipment() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO posting.stock_touches (item_no, variant_code, location_code)
    SELECT DISTINCT item_no, variant_code, location_code FROM posting.posted_shipment_lines
    WHERE shipment_id = NEW.id;
    RETURN NULL;
END $$;
CREATE TRIGGER posted_shipments_touch
    AFTER UPDATE OF fulfillment_state ON posting.posted_shipments
    FOR EACH ROW WHEN ((OLD.fulfillment_state IN ('pending', 'failed'))
                       IS DISTINCT FROM (NEW.fulfillment_state IN ('pending', 'failed')))
    EXECUTE FUNCTION posting.touch_posted_shipment();
