//! Sales prices: reads for items, and the upsert and delete of one price.

use sqlx::PgExecutor;

#[derive(sqlx::FromRow)]
pub struct PriceRow {
    pub item_no: String,
    pub variant_code: String,
    pub price_group: String,
    pub currency: String,
    pub minimum_quantity: i64,
    pub unit_price_minor: i64,
}

/// The sales prices of the items `nos`, in key order.
pub async fn of_items(db: impl PgExecutor<'_>, nos: &[String]) -> sqlx::Result<Vec<PriceRow>> {
    sqlx::query_as(
        "SELECT item_no, variant_code, price_group, currency, minimum_quantity, unit_price_minor \
         FROM posting.sales_prices WHERE item_no = ANY($1) \
         ORDER BY item_no, variant_code, price_group, currency, minimum_quantity",
    )
    .bind(nos)
    .fetch_all(db)
    .await
}

/// A validated price: its key binds $1..$5 of [`upsert`] and [`delete`], the price $6.
pub type PriceIn = PriceRow;

impl PriceIn {
    fn bind_key<'q>(&self, q: super::Query<'q>) -> super::Query<'q> {
        q.bind(&self.item_no)
            .bind(&self.variant_code)
            .bind(&self.price_group)
            .bind(&self.currency)
            .bind(self.minimum_quantity)
    }
}

pub async fn upsert(db: impl PgExecutor<'_>, p: &PriceIn) -> sqlx::Result<()> {
    p.bind_key(sqlx::query(
        "INSERT INTO posting.sales_prices \
         (item_no, variant_code, price_group, currency, minimum_quantity, unit_price_minor) \
         VALUES ($1,$2,$3,$4,$5,$6) ON CONFLICT (item_no, variant_code, price_group, currency, minimum_quantity) \
         DO UPDATE SET unit_price_minor = EXCLUDED.unit_price_minor",
    ))
    .bind(p.unit_price_minor)
    .execute(db)
    .await?;
    Ok(())
}

pub async fn delete(db: impl PgExecutor<'_>, p: &PriceIn) -> sqlx::Result<()> {
    p.bind_key(sqlx::query(
        "DELETE FROM posting.sales_prices WHERE item_no=$1 AND variant_code=$2 \
         AND price_group=$3 AND currency=$4 AND minimum_quantity=$5",
    ))
    .execute(db)
    .await?;
    Ok(())
}
