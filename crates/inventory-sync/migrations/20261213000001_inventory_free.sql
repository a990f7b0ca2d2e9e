-- Free stock of an ERP level for the shop (on hand minus what other channels reserve; see
-- map.rs). NULL on rows stored before it existed: read as the on-hand quantity until the
-- level's next change.
ALTER TABLE inventory.erp_levels ADD COLUMN free bigint;
