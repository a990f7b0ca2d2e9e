-- The Shopify rate budget of each shop, shared by every process that talks to it (the sync
-- services' replicas): one row per shop mirrors Shopify's leaky bucket. A request reserves its
-- cost with one UPDATE that applies the refill (the row lock orders the reservations), and
-- settles it with the server's throttleStatus. Reservations of a process that died stop
-- counting once nothing was reserved for `reserved_until`.
CREATE SCHEMA IF NOT EXISTS shopify;

CREATE TABLE shopify.rate_budget (
    shop            text PRIMARY KEY,
    -- Points in the bucket at `at`, as the server last said or as refilled since.
    available       double precision NOT NULL,
    at              timestamptz NOT NULL,
    maximum         double precision NOT NULL CHECK (maximum > 0),
    restore_rate    double precision NOT NULL CHECK (restore_rate > 0),
    -- Cost held by requests in flight.
    reserved        double precision NOT NULL DEFAULT 0 CHECK (reserved >= 0),
    reserved_until  timestamptz NOT NULL,
    -- Whether the latest reservation was granted (read back by its statement).
    granted         boolean NOT NULL DEFAULT false
);
