//! SQL of the `shops` schema: shops, links, cursors. Nothing else in the scheduler reads or
//! writes it.

use chrono::{DateTime, Utc};
use shopsync_common::shop::{
    Cursor, ErpKey, Link, LinkKind, Shop, ShopPlan, ShopSettings, ShopSpec, SyncResource,
};
use sqlx::types::Json;
use sqlx::{FromRow, PgPool, Postgres, Transaction};
use uuid::Uuid;

#[derive(Debug, thiserror::Error)]
pub enum ShopsRepoError {
    #[error("database error")]
    Db(#[from] sqlx::Error),
    #[error("stored shop {name:?} has an unreadable {field}")]
    Corrupt { name: String, field: &'static str },
}

type R<T> = Result<T, ShopsRepoError>;

/// A secret as stored: key id, nonce, ciphertext.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredSecret {
    pub key_id: String,
    pub nonce: Vec<u8>,
    pub ciphertext: Vec<u8>,
}

#[derive(Debug, FromRow)]
struct ShopRow {
    name: String,
    store_domain: String,
    api_version: String,
    plan: String,
    enabled: bool,
    settings: Json<ShopSettings>,
    access_token_key: Option<String>,
    access_token_nonce: Option<Vec<u8>>,
    access_token: Option<Vec<u8>>,
    webhook_secret_key: Option<String>,
    webhook_secret_nonce: Option<Vec<u8>>,
    webhook_secret: Option<Vec<u8>>,
    request_id: Option<Uuid>,
    version: i64,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

/// A shop with its sealed credentials.
#[derive(Debug, Clone)]
pub struct StoredShop {
    pub shop: Shop,
    pub access_token: Option<StoredSecret>,
    pub webhook_secret: Option<StoredSecret>,
    pub request_id: Option<Uuid>,
}

fn secret(
    key: Option<String>,
    nonce: Option<Vec<u8>>,
    ct: Option<Vec<u8>>,
) -> Option<StoredSecret> {
    Some(StoredSecret { key_id: key?, nonce: nonce?, ciphertext: ct? })
}

impl ShopRow {
    fn into_stored(self) -> R<StoredShop> {
        let plan: ShopPlan = self
            .plan
            .parse()
            .map_err(|_| ShopsRepoError::Corrupt { name: self.name.clone(), field: "plan" })?;
        let access_token =
            secret(self.access_token_key, self.access_token_nonce, self.access_token);
        let webhook_secret =
            secret(self.webhook_secret_key, self.webhook_secret_nonce, self.webhook_secret);
        let key_id = access_token
            .as_ref()
            .or(webhook_secret.as_ref())
            .map(|s| s.key_id.clone())
            .unwrap_or_default();
        Ok(StoredShop {
            shop: Shop {
                name: self.name,
                store_domain: self.store_domain,
                api_version: self.api_version,
                plan,
                enabled: self.enabled,
                settings: self.settings.0,
                has_access_token: access_token.is_some(),
                has_webhook_secret: webhook_secret.is_some(),
                key_id,
                version: self.version,
                created_at: self.created_at,
                updated_at: self.updated_at,
            },
            access_token,
            webhook_secret,
            request_id: self.request_id,
        })
    }
}

const SHOP_COLUMNS: &str = "name, store_domain, api_version, plan, enabled, settings, \
    access_token_key, access_token_nonce, access_token, \
    webhook_secret_key, webhook_secret_nonce, webhook_secret, \
    request_id, version, created_at, updated_at";

/// What a credentials update does to one secret.
#[derive(Debug, Clone)]
pub enum SecretUpdate {
    Keep,
    Set(StoredSecret),
    Clear,
}

impl SecretUpdate {
    /// (replace?, the new value) for the update statement.
    fn binds(&self) -> (bool, Option<&StoredSecret>) {
        match self {
            SecretUpdate::Keep => (false, None),
            SecretUpdate::Clear => (true, None),
            SecretUpdate::Set(s) => (true, Some(s)),
        }
    }
}

#[derive(Clone)]
pub struct ShopsRepo {
    pool: PgPool,
}

impl ShopsRepo {
    pub fn new(pool: PgPool) -> Self {
        Self { pool }
    }

    /// Insert a shop; `None` when the name is taken (by this request or another: the caller
    /// reads it to tell).
    pub async fn insert(
        &self,
        name: &str,
        spec: &ShopSpec,
        token: Option<&StoredSecret>,
        webhook: Option<&StoredSecret>,
        request_id: Option<Uuid>,
    ) -> R<Option<StoredShop>> {
        let sql = format!(
            "INSERT INTO shops.shops (name, store_domain, api_version, plan, settings, \
               access_token_key, access_token_nonce, access_token, \
               webhook_secret_key, webhook_secret_nonce, webhook_secret, request_id) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) \
             ON CONFLICT DO NOTHING RETURNING {SHOP_COLUMNS}"
        );
        let row: Option<ShopRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(name)
            .bind(&spec.store_domain)
            .bind(&spec.api_version)
            .bind(spec.plan.as_str())
            .bind(Json(&spec.settings))
            .bind(token.map(|s| &s.key_id))
            .bind(token.map(|s| &s.nonce))
            .bind(token.map(|s| &s.ciphertext))
            .bind(webhook.map(|s| &s.key_id))
            .bind(webhook.map(|s| &s.nonce))
            .bind(webhook.map(|s| &s.ciphertext))
            .bind(request_id)
            .fetch_optional(&self.pool)
            .await?;
        row.map(ShopRow::into_stored).transpose()
    }

    pub async fn get(&self, name: &str) -> R<Option<StoredShop>> {
        let sql = format!("SELECT {SHOP_COLUMNS} FROM shops.shops WHERE name = $1");
        let row: Option<ShopRow> =
            sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(name).fetch_optional(&self.pool).await?;
        row.map(ShopRow::into_stored).transpose()
    }

    pub async fn get_by_request(&self, request_id: Uuid) -> R<Option<StoredShop>> {
        let sql = format!("SELECT {SHOP_COLUMNS} FROM shops.shops WHERE request_id = $1");
        let row: Option<ShopRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(request_id)
            .fetch_optional(&self.pool)
            .await?;
        row.map(ShopRow::into_stored).transpose()
    }

    pub async fn list(&self, include_disabled: bool) -> R<Vec<StoredShop>> {
        let sql =
            format!("SELECT {SHOP_COLUMNS} FROM shops.shops WHERE enabled OR $1 ORDER BY name");
        let rows: Vec<ShopRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(include_disabled)
            .fetch_all(&self.pool)
            .await?;
        rows.into_iter().map(ShopRow::into_stored).collect()
    }

    /// Whether each shop exists and is enabled (absent: unknown).
    pub async fn enabled(&self, name: &str) -> R<Option<bool>> {
        Ok(sqlx::query_scalar("SELECT enabled FROM shops.shops WHERE name = $1")
            .bind(name)
            .fetch_optional(&self.pool)
            .await?)
    }

    /// Update a shop at `expected_version`; `None` when it is not there at that version.
    pub async fn update(
        &self,
        name: &str,
        expected_version: i64,
        spec: &ShopSpec,
        token: &SecretUpdate,
        webhook: &SecretUpdate,
    ) -> R<Option<StoredShop>> {
        let (t_set, t) = token.binds();
        let (w_set, w) = webhook.binds();
        let sql = format!(
            "UPDATE shops.shops SET store_domain = $3, api_version = $4, plan = $5, settings = $6, \
               access_token_key = CASE WHEN $7 THEN $8 ELSE access_token_key END, \
               access_token_nonce = CASE WHEN $7 THEN $9 ELSE access_token_nonce END, \
               access_token = CASE WHEN $7 THEN $10 ELSE access_token END, \
               webhook_secret_key = CASE WHEN $11 THEN $12 ELSE webhook_secret_key END, \
               webhook_secret_nonce = CASE WHEN $11 THEN $13 ELSE webhook_secret_nonce END, \
               webhook_secret = CASE WHEN $11 THEN $14 ELSE webhook_secret END, \
               version = version + 1, updated_at = now() \
             WHERE name = $1 AND version = $2 RETURNING {SHOP_COLUMNS}"
        );
        let row: Option<ShopRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(name)
            .bind(expected_version)
            .bind(&spec.store_domain)
            .bind(&spec.api_version)
            .bind(spec.plan.as_str())
            .bind(Json(&spec.settings))
            .bind(t_set)
            .bind(t.map(|s| &s.key_id))
            .bind(t.map(|s| &s.nonce))
            .bind(t.map(|s| &s.ciphertext))
            .bind(w_set)
            .bind(w.map(|s| &s.key_id))
            .bind(w.map(|s| &s.nonce))
            .bind(w.map(|s| &s.ciphertext))
            .fetch_optional(&self.pool)
            .await?;
        row.map(ShopRow::into_stored).transpose()
    }

    pub async fn set_enabled(
        &self,
        name: &str,
        expected_version: i64,
        enabled: bool,
    ) -> R<Option<StoredShop>> {
        let sql = format!(
            "UPDATE shops.shops SET enabled = $3, version = version + 1, updated_at = now() \
             WHERE name = $1 AND version = $2 RETURNING {SHOP_COLUMNS}"
        );
        let row: Option<ShopRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(name)
            .bind(expected_version)
            .bind(enabled)
            .fetch_optional(&self.pool)
            .await?;
        row.map(ShopRow::into_stored).transpose()
    }

    /// Shops with a secret sealed under another key than `active`.
    pub async fn sealed_under_other_keys(&self, active: &str) -> R<Vec<StoredShop>> {
        let sql = format!(
            "SELECT {SHOP_COLUMNS} FROM shops.shops \
             WHERE access_token_key <> $1 OR webhook_secret_key <> $1"
        );
        let rows: Vec<ShopRow> =
            sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(active).fetch_all(&self.pool).await?;
        rows.into_iter().map(ShopRow::into_stored).collect()
    }

    /// Replace both secrets of a shop as read at `version` (a re-seal); the version is not
    /// bumped (nothing a user set changed). False when the shop changed meanwhile.
    pub async fn reseal(
        &self,
        name: &str,
        version: i64,
        token: Option<&StoredSecret>,
        webhook: Option<&StoredSecret>,
    ) -> R<bool> {
        let n = sqlx::query(
            "UPDATE shops.shops SET \
               access_token_key = $3, access_token_nonce = $4, access_token = $5, \
               webhook_secret_key = $6, webhook_secret_nonce = $7, webhook_secret = $8 \
             WHERE name = $1 AND version = $2",
        )
        .bind(name)
        .bind(version)
        .bind(token.map(|s| &s.key_id))
        .bind(token.map(|s| &s.nonce))
        .bind(token.map(|s| &s.ciphertext))
        .bind(webhook.map(|s| &s.key_id))
        .bind(webhook.map(|s| &s.nonce))
        .bind(webhook.map(|s| &s.ciphertext))
        .execute(&self.pool)
        .await?
        .rows_affected();
        Ok(n == 1)
    }

    // ---- links ------------------------------------------------------------------------

    /// Upsert links by their ERP side in one transaction. Returns the Shopify ids that are
    /// already linked to another ERP record (nothing written then), or the counts.
    pub async fn put_links(&self, shop: &str, links: &[Link]) -> R<PutLinks> {
        let mut tx = self.pool.begin().await?;
        let conflicts = link_conflicts(&mut tx, shop, links).await?;
        if !conflicts.is_empty() {
            return Ok(PutLinks::Conflicts(conflicts));
        }
        let cols = LinkColumns::of(links);
        // One row per link written: whether it was inserted (else updated).
        let inserted: Vec<bool> = sqlx::query_scalar(
            "INSERT INTO shops.links AS l (shop, kind, erp_id, erp_variant, shopify_id, \
               shopify_parent_id, shopify_inventory_item_id) \
             SELECT $1, * FROM unnest($2::text[], $3::text[], $4::text[], $5::text[], \
               $6::text[], $7::text[]) \
             ON CONFLICT (shop, kind, erp_id, erp_variant) DO UPDATE SET \
               shopify_id = EXCLUDED.shopify_id, \
               shopify_parent_id = EXCLUDED.shopify_parent_id, \
               shopify_inventory_item_id = EXCLUDED.shopify_inventory_item_id, \
               updated_at = now() \
             WHERE (l.shopify_id, l.shopify_parent_id, l.shopify_inventory_item_id) \
               IS DISTINCT FROM \
               (EXCLUDED.shopify_id, EXCLUDED.shopify_parent_id, EXCLUDED.shopify_inventory_item_id) \
             RETURNING xmax = 0 AS inserted",
        )
        .bind(shop)
        .bind(&cols.kind)
        .bind(&cols.erp_id)
        .bind(&cols.erp_variant)
        .bind(&cols.shopify_id)
        .bind(&cols.parent)
        .bind(&cols.inventory_item)
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        let written = inserted.len();
        let inserted = inserted.into_iter().filter(|i| *i).count();
        Ok(PutLinks::Done {
            inserted,
            updated: written - inserted,
            unchanged: links.len() - written,
        })
    }

    pub async fn lookup_by_erp(&self, shop: &str, kind: LinkKind, keys: &[ErpKey]) -> R<Vec<Link>> {
        let (ids, variants) = erp_key_columns(keys);
        let q = links_query(
            "FROM unnest($3::text[], $4::text[]) AS k (erp_id, erp_variant) \
             JOIN shops.links l ON l.shop = $1 AND l.kind = $2 \
               AND l.erp_id = k.erp_id AND l.erp_variant = k.erp_variant",
            shop,
            kind,
        );
        self.fetch_links(q.bind(&ids).bind(&variants)).await
    }

    pub async fn lookup_by_shopify(
        &self,
        shop: &str,
        kind: LinkKind,
        ids: &[String],
    ) -> R<Vec<Link>> {
        let q = links_query(
            "FROM shops.links l WHERE l.shop = $1 AND l.kind = $2 AND l.shopify_id = ANY($3)",
            shop,
            kind,
        );
        self.fetch_links(q.bind(ids)).await
    }

    /// A page of links ordered by Shopify id, after `after`.
    pub async fn list_links(
        &self,
        shop: &str,
        kind: LinkKind,
        after: &str,
        limit: i64,
    ) -> R<Vec<Link>> {
        let q = links_query(
            "FROM shops.links l WHERE l.shop = $1 AND l.kind = $2 AND l.shopify_id > $3 \
             ORDER BY l.shopify_id LIMIT $4",
            shop,
            kind,
        );
        self.fetch_links(q.bind(after).bind(limit)).await
    }

    async fn fetch_links(&self, q: LinksQuery<'_>) -> R<Vec<Link>> {
        let rows = q.fetch_all(&self.pool).await?;
        rows.into_iter().map(LinkRow::into_link).collect()
    }

    pub async fn delete_links(
        &self,
        shop: &str,
        kind: LinkKind,
        keys: &[ErpKey],
        shopify_ids: &[String],
    ) -> R<u64> {
        let (ids, variants) = erp_key_columns(keys);
        Ok(sqlx::query(
            "DELETE FROM shops.links l WHERE l.shop = $1 AND l.kind = $2 AND ( \
               (l.erp_id, l.erp_variant) IN (SELECT * FROM unnest($3::text[], $4::text[])) \
               OR l.shopify_id = ANY($5))",
        )
        .bind(shop)
        .bind(kind.as_str())
        .bind(&ids)
        .bind(&variants)
        .bind(shopify_ids)
        .execute(&self.pool)
        .await?
        .rows_affected())
    }

    // ---- cursors ----------------------------------------------------------------------

    pub async fn cursors(&self, shop: &str) -> R<Vec<Cursor>> {
        let rows: Vec<CursorRow> = sqlx::query_as(
            "SELECT shop, resource, value, version, updated_at FROM shops.cursors \
             WHERE shop = $1 ORDER BY resource",
        )
        .bind(shop)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.into_iter().filter_map(CursorRow::into_cursor).collect())
    }

    pub async fn cursor(&self, shop: &str, resource: SyncResource) -> R<Cursor> {
        let row: Option<CursorRow> = sqlx::query_as(
            "SELECT shop, resource, value, version, updated_at FROM shops.cursors \
             WHERE shop = $1 AND resource = $2",
        )
        .bind(shop)
        .bind(resource.as_str())
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.and_then(CursorRow::into_cursor).unwrap_or(Cursor {
            shop: shop.to_owned(),
            resource,
            value: String::new(),
            version: 0,
            updated_at: None,
        }))
    }

    /// Save at `expected_version` (0: none stored yet); `None` when the cursor moved.
    pub async fn save_cursor(
        &self,
        shop: &str,
        resource: SyncResource,
        value: &str,
        expected_version: i64,
    ) -> R<Option<Cursor>> {
        let row: Option<CursorRow> = sqlx::query_as(
            "INSERT INTO shops.cursors AS c (shop, resource, value, version) \
             VALUES ($1, $2, $3, $4 + 1) \
             ON CONFLICT (shop, resource) DO UPDATE \
               SET value = EXCLUDED.value, version = c.version + 1, updated_at = now() \
               WHERE c.version = $4 \
             RETURNING shop, resource, value, version, updated_at",
        )
        .bind(shop)
        .bind(resource.as_str())
        .bind(value)
        .bind(expected_version)
        .fetch_optional(&self.pool)
        .await?;
        // A first save (expected 0) that found a row inserted nothing and updated nothing.
        Ok(row.and_then(CursorRow::into_cursor).filter(|c| c.version == expected_version + 1))
    }

    /// Set a cursor to `value` (empty: from the beginning) whatever its version.
    pub async fn reset_cursor(&self, shop: &str, resource: SyncResource, value: &str) -> R<Cursor> {
        let row: CursorRow = sqlx::query_as(
            "INSERT INTO shops.cursors AS c (shop, resource, value, version) VALUES ($1, $2, $3, 1) \
             ON CONFLICT (shop, resource) DO UPDATE \
               SET value = EXCLUDED.value, version = c.version + 1, updated_at = now() \
             RETURNING shop, resource, value, version, updated_at",
        )
        .bind(shop)
        .bind(resource.as_str())
        .bind(value)
        .fetch_one(&self.pool)
        .await?;
        row.into_cursor().ok_or(ShopsRepoError::Corrupt { name: shop.to_owned(), field: "cursor" })
    }
}

/// The outcome of [`ShopsRepo::put_links`].
#[derive(Debug)]
pub enum PutLinks {
    Done {
        inserted: usize,
        updated: usize,
        unchanged: usize,
    },
    /// (the link asked for, the ERP key that holds its Shopify id).
    Conflicts(Vec<(Link, ErpKey)>),
}

struct LinkColumns<'a> {
    kind: Vec<&'static str>,
    erp_id: Vec<&'a str>,
    erp_variant: Vec<&'a str>,
    shopify_id: Vec<&'a str>,
    parent: Vec<Option<&'a str>>,
    inventory_item: Vec<Option<&'a str>>,
}

impl<'a> LinkColumns<'a> {
    fn of(links: &'a [Link]) -> Self {
        Self {
            kind: links.iter().map(|l| l.kind.as_str()).collect(),
            erp_id: links.iter().map(|l| l.erp.erp_id.as_str()).collect(),
            erp_variant: links.iter().map(|l| l.erp.erp_variant.as_str()).collect(),
            shopify_id: links.iter().map(|l| l.shopify_id.as_str()).collect(),
            parent: links.iter().map(|l| l.shopify_parent_id.as_deref()).collect(),
            inventory_item: links.iter().map(|l| l.shopify_inventory_item_id.as_deref()).collect(),
        }
    }
}

/// A stored link holding one of the Shopify ids a put asks for.
#[derive(FromRow)]
struct HeldLink {
    kind: String,
    shopify_id: String,
    erp_id: String,
    erp_variant: String,
}

/// Links whose Shopify id another ERP record holds (rows locked until the transaction ends,
/// so the upsert that follows cannot meet a new one).
async fn link_conflicts(
    tx: &mut Transaction<'_, Postgres>,
    shop: &str,
    links: &[Link],
) -> R<Vec<(Link, ErpKey)>> {
    let cols = LinkColumns::of(links);
    let held: Vec<HeldLink> = sqlx::query_as(
        "SELECT l.kind, l.shopify_id, l.erp_id, l.erp_variant \
         FROM unnest($2::text[], $3::text[]) AS k (kind, shopify_id) \
         JOIN shops.links l ON l.shop = $1 AND l.kind = k.kind AND l.shopify_id = k.shopify_id \
         FOR UPDATE OF l",
    )
    .bind(shop)
    .bind(&cols.kind)
    .bind(&cols.shopify_id)
    .fetch_all(&mut **tx)
    .await?;
    let mut out = Vec::new();
    for HeldLink { kind, shopify_id, erp_id, erp_variant } in held {
        let holder = ErpKey { erp_id, erp_variant };
        if let Some(l) = links
            .iter()
            .find(|l| l.kind.as_str() == kind && l.shopify_id == shopify_id && l.erp != holder)
        {
            out.push((l.clone(), holder));
        }
    }
    Ok(out)
}

/// ERP keys as the two arrays (ids, variants) the statements `unnest`.
fn erp_key_columns(keys: &[ErpKey]) -> (Vec<&str>, Vec<&str>) {
    keys.iter().map(|k| (k.erp_id.as_str(), k.erp_variant.as_str())).unzip()
}

/// A link's columns as [`LinkRow`] reads them, from `shops.links` as `l`.
const LINK_COLS: &str = "l.kind, l.erp_id, l.erp_variant, l.shopify_id, l.shopify_parent_id, \
    l.shopify_inventory_item_id";

type LinksQuery<'q> = sqlx::query::QueryAs<'q, Postgres, LinkRow, sqlx::postgres::PgArguments>;

/// The links of `shop` and `kind` ($1, $2) that `from_where` selects (the statement after its
/// columns, reading `shops.links` as `l`); the caller binds the rest.
fn links_query<'q>(from_where: &str, shop: &'q str, kind: LinkKind) -> LinksQuery<'q> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!("SELECT {LINK_COLS} {from_where}")))
        .bind(shop)
        .bind(kind.as_str())
}

#[derive(FromRow)]
struct LinkRow {
    kind: String,
    erp_id: String,
    erp_variant: String,
    shopify_id: String,
    shopify_parent_id: Option<String>,
    shopify_inventory_item_id: Option<String>,
}

impl LinkRow {
    fn into_link(self) -> R<Link> {
        let kind = self.kind.parse().map_err(|_| ShopsRepoError::Corrupt {
            name: self.shopify_id.clone(),
            field: "link kind",
        })?;
        Ok(Link {
            kind,
            erp: ErpKey { erp_id: self.erp_id, erp_variant: self.erp_variant },
            shopify_id: self.shopify_id,
            shopify_parent_id: self.shopify_parent_id,
            shopify_inventory_item_id: self.shopify_inventory_item_id,
        })
    }
}

#[derive(FromRow)]
struct CursorRow {
    shop: String,
    resource: String,
    value: String,
    version: i64,
    updated_at: DateTime<Utc>,
}

impl CursorRow {
    /// None for a resource this release does not know (written by a newer one).
    fn into_cursor(self) -> Option<Cursor> {
        Some(Cursor {
            shop: self.shop,
            resource: self.resource.parse().ok()?,
            value: self.value,
            version: self.version,
            updated_at: Some(self.updated_at),
        })
    }
}
