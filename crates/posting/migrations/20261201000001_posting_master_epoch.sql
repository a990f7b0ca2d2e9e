-- One counter for the master data sales documents are built from (items, sales prices,
-- customers, locations): every statement writing one of them bumps it. The posting service
-- caches that master data with the counter's value and writes a document only while the counter
-- still has it, so a cached create needs no read round trip and never uses stale data.
CREATE TABLE posting.master_epoch (
    only_row  boolean PRIMARY KEY DEFAULT true CHECK (only_row),
    n         bigint NOT NULL
);
INSERT INTO posting.master_epoch (n) VALUES (1);

CREATE FUNCTION posting.bump_master_epoch() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  UPDATE posting.master_epoch SET n = n + 1;
  RETURN NULL;
END
$$;

CREATE TRIGGER items_master_epoch AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE
  ON posting.items FOR EACH STATEMENT EXECUTE FUNCTION posting.bump_master_epoch();
CREATE TRIGGER sales_prices_master_epoch AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE
  ON posting.sales_prices FOR EACH STATEMENT EXECUTE FUNCTION posting.bump_master_epoch();
CREATE TRIGGER customers_master_epoch AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE
  ON posting.customers FOR EACH STATEMENT EXECUTE FUNCTION posting.bump_master_epoch();
CREATE TRIGGER locations_master_epoch AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE
  ON posting.locations FOR EACH STATEMENT EXECUTE FUNCTION posting.bump_master_epoch();
