-- Exact lookups of the posting service (Erp.FindItems, Erp.FindCustomers).
--
-- Items by SKU and by barcode, their own and their variants' (kept in the `variants` JSON
-- array). Customers by normalised e-mail address (trimmed, lowercased) and phone number (its
-- digits, a leading + kept); the functions below are the one definition of the normalisation,
-- applied to the stored values and to the values looked up alike.
--
-- Only adds: older releases ignore all of it.

CREATE INDEX items_barcode ON posting.items (barcode) WHERE barcode <> '';

-- A field of every variant that has it: `posting.variant_values(variants, 'sku')`.
CREATE FUNCTION posting.variant_values(variants jsonb, field text) RETURNS text[]
LANGUAGE sql IMMUTABLE PARALLEL SAFE STRICT AS $$
  SELECT COALESCE(array_agg(v ->> field) FILTER (WHERE COALESCE(v ->> field, '') <> ''), '{}')
  FROM jsonb_array_elements(CASE WHEN jsonb_typeof(variants) = 'array' THEN variants
                                 ELSE '[]'::jsonb END) AS v
$$;

CREATE INDEX items_variant_skus ON posting.items
  USING gin (posting.variant_values(variants, 'sku'));
CREATE INDEX items_variant_barcodes ON posting.items
  USING gin (posting.variant_values(variants, 'barcode'));

CREATE FUNCTION posting.norm_email(email text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE STRICT AS $$
  SELECT lower(btrim(email, E' \t\r\n'))
$$;

CREATE FUNCTION posting.norm_phone(phone text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE STRICT AS $$
  SELECT CASE WHEN btrim(phone, E' \t\r\n') LIKE '+%' THEN '+' ELSE '' END
         || regexp_replace(phone, '[^0-9]', '', 'g')
$$;

CREATE INDEX customers_email_norm ON posting.customers (posting.norm_email(email))
  WHERE email <> '';
CREATE INDEX customers_phone_norm ON posting.customers (posting.norm_phone(phone))
  WHERE phone <> '';
