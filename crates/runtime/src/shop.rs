//! The shop context of a task run: the shop's settings, a Shopify client that shares the shop's
//! API budget with every other job of that shop, and clients for the ERP (posting service) and
//! the `Shops` API (links, cursors).
//!
//! [`ShopContexts`] asks the scheduler's `Shops` API for the shop and its sealed credentials
//! at the start of every run (one small call), opens them with the keyring, and keeps one
//! context per shop version: a changed setting or a rotated token takes effect at the next
//! run. The shop's [`Budget`] outlives those rebuilds, so a new client never starts with a
//! full bucket the shop does not have.

use crate::ClientAuth;
use crate::client::{AuthedChannel, connect_lazy};
use crate::secrets::{Keyring, Sealed, SecretError, aad};
use secrecy::SecretString;
use shopsync_common::shop::Shop;
use shopsync_proto::pb;
use shopsync_proto::pb::erp_client::ErpClient;
use shopsync_proto::pb::posting_client::PostingClient;
use shopsync_proto::pb::shops_client::ShopsClient;
use shopsync_shopify::{Budget, ClientConfig, ShopifyClient};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// Everything a task needs to work on one shop.
pub struct ShopContext {
    pub shop: Shop,
    pub shopify: Arc<ShopifyClient>,
    /// Links and cursors.
    pub shops: ShopsClient<AuthedChannel>,
    pub erp: ErpClient<AuthedChannel>,
    pub posting: PostingClient<AuthedChannel>,
    webhook_secret: Option<SecretString>,
}

impl ShopContext {
    /// The secret the shop's webhooks are signed with, when one is stored.
    pub fn webhook_secret(&self) -> Option<&SecretString> {
        self.webhook_secret.as_ref()
    }
}

impl std::fmt::Debug for ShopContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ShopContext").field("shop", &self.shop.name).finish_non_exhaustive()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ShopContextError {
    #[error("shop {0:?} is not known (create it with `shopsync shops create`)")]
    Unknown(String),
    #[error("shop {0:?} is disabled")]
    Disabled(String),
    #[error("shop {0:?} has no access token")]
    NoToken(String),
    #[error("shop {shop:?}: {source}")]
    Secret { shop: String, source: SecretError },
    #[error("shop {shop:?}: {source}")]
    Client { shop: String, source: shopsync_shopify::ShopifyError },
    #[error("shops API: {0}")]
    Api(#[source] tonic::Status),
    #[error("shops API answered a shop without its fields")]
    Malformed,
}

impl ShopContextError {
    /// Whether running again later may help without anyone changing anything.
    pub fn retryable(&self) -> bool {
        match self {
            ShopContextError::Api(s) => matches!(
                s.code(),
                tonic::Code::Unavailable
                    | tonic::Code::DeadlineExceeded
                    | tonic::Code::Aborted
                    | tonic::Code::ResourceExhausted
                    | tonic::Code::Internal
                    | tonic::Code::Unknown
            ),
            _ => false,
        }
    }
}

/// Where a sync service finds the shops and the ERP.
#[derive(Debug, Clone)]
pub struct ShopContextConfig {
    /// The scheduler (serves `Shops`).
    pub shops_url: String,
    /// The posting service (serves `Erp` and `Posting`).
    pub posting_url: String,
    pub keyring: Keyring,
}

/// One context per shop, rebuilt when the shop's version changes.
pub struct ShopContexts {
    shops: ShopsClient<AuthedChannel>,
    erp: ErpClient<AuthedChannel>,
    posting: PostingClient<AuthedChannel>,
    keyring: Keyring,
    /// For budgets shared with other processes (`shopify.rate_budget`); none: per process.
    pool: Option<sqlx::PgPool>,
    budgets: Mutex<HashMap<String, Arc<Budget>>>,
    cache: Mutex<HashMap<String, Arc<ShopContext>>>,
}

impl ShopContexts {
    pub fn new(
        cfg: ShopContextConfig,
        auth: ClientAuth,
        pool: Option<sqlx::PgPool>,
    ) -> Result<Self, tonic::transport::Error> {
        let shops = connect_lazy(&cfg.shops_url, auth.clone())?;
        let erp = connect_lazy(&cfg.posting_url, auth)?;
        Ok(Self {
            shops: ShopsClient::new(shops),
            erp: ErpClient::new(erp.clone()),
            posting: PostingClient::new(erp),
            keyring: cfg.keyring,
            pool,
            budgets: Mutex::default(),
            cache: Mutex::default(),
        })
    }

    /// The context of `shop` as the `Shops` API has it now.
    pub async fn get(&self, shop: &str) -> Result<Arc<ShopContext>, ShopContextError> {
        let creds = self
            .shops
            .clone()
            .get_shop_credentials(pb::GetShopRequest { name: shop.to_owned() })
            .await
            .map_err(|s| match s.code() {
                tonic::Code::NotFound => ShopContextError::Unknown(shop.to_owned()),
                _ => ShopContextError::Api(s),
            })?
            .into_inner();
        let pb_shop = creds.shop.ok_or(ShopContextError::Malformed)?;
        if !pb_shop.enabled {
            return Err(ShopContextError::Disabled(shop.to_owned()));
        }
        if let Some(hit) = self.cached(shop, pb_shop.version) {
            return Ok(hit);
        }
        let parsed = shopsync_proto::shops::shop_from_pb(&pb_shop)
            .map_err(|_| ShopContextError::Malformed)?;
        let open = |s: Option<pb::SealedSecret>, purpose: &str| {
            s.map(|s| {
                let sealed = Sealed { key_id: s.key_id, nonce: s.nonce, ciphertext: s.ciphertext };
                self.keyring.open(&sealed, &aad(shop, purpose))
            })
            .transpose()
            .map_err(|source| ShopContextError::Secret { shop: shop.to_owned(), source })
        };
        let token = open(creds.access_token, "access_token")?
            .ok_or_else(|| ShopContextError::NoToken(shop.to_owned()))?;
        let webhook_secret = open(creds.webhook_secret, "webhook_secret")?;
        let budget = self.budget(shop);
        let shopify = ShopifyClient::new(ClientConfig::new(parsed.base_url(), token), budget)
            .map_err(|source| ShopContextError::Client { shop: shop.to_owned(), source })?;
        let ctx = Arc::new(ShopContext {
            shop: parsed,
            shopify: Arc::new(shopify),
            shops: self.shops.clone(),
            erp: self.erp.clone(),
            posting: self.posting.clone(),
            webhook_secret,
        });
        if let Ok(mut cache) = self.cache.lock() {
            cache.insert(shop.to_owned(), ctx.clone());
        }
        Ok(ctx)
    }

    fn cached(&self, shop: &str, version: i64) -> Option<Arc<ShopContext>> {
        let cache = self.cache.lock().ok()?;
        cache.get(shop).filter(|c| c.shop.version == version).cloned()
    }

    fn budget(&self, shop: &str) -> Arc<Budget> {
        let Ok(mut budgets) = self.budgets.lock() else {
            return Arc::new(Budget::default());
        };
        budgets
            .entry(shop.to_owned())
            .or_insert_with(|| {
                Arc::new(match &self.pool {
                    Some(pool) => Budget::shared(pool.clone(), shop),
                    None => Budget::default(),
                })
            })
            .clone()
    }
}
