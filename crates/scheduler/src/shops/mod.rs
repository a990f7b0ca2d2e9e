//! Shops: the scheduler owns the `shops` schema (shops, links, cursors) and serves it as the
//! `Shops` gRPC API. It owns it because the job queue refuses entries of unknown or disabled
//! shops, and that check is then a local read on the create path.
//!
//! Credentials are sealed with the keyring (`runtime::secrets`) before they are stored, never
//! returned in plain text and never logged; the sync services get them sealed and open them
//! with the same keyring.

pub mod grpc;
pub mod repo;

use crate::error::ServiceError;
use repo::{PutLinks, SecretUpdate, ShopsRepo, StoredSecret, StoredShop};
use secrecy::SecretString;
use shopsync_common::ValidationError;
use shopsync_common::shop::{
    Cursor, ErpKey, Link, LinkKind, Shop, ShopSpec, SyncResource, validate_shop_name,
};
use shopsync_runtime::secrets::{Keyring, Sealed, aad};
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};
use uuid::Uuid;

/// How long a replica trusts that a shop it saw enabled still is, on the entry create path.
/// A shop disabled through another replica may still get entries for this long; their runs
/// fail at the worker, which asks for the shop at the start of every run.
const GATE_TTL: Duration = Duration::from_secs(1);

/// Longest access token or webhook secret accepted.
const SECRET_MAX: usize = 1024;

pub struct Shops {
    repo: ShopsRepo,
    keyring: Option<Keyring>,
    /// Shops seen enabled, and when.
    gate: Mutex<HashMap<String, Instant>>,
}

/// A shop's secrets as a create or update gives them.
#[derive(Default)]
pub struct Credentials {
    pub access_token: Option<SecretString>,
    pub webhook_secret: Option<SecretString>,
}

impl Shops {
    pub fn new(repo: ShopsRepo, keyring: Option<Keyring>) -> Self {
        Self { repo, keyring, gate: Mutex::default() }
    }

    fn seal(
        &self,
        shop: &str,
        purpose: &str,
        secret: &SecretString,
    ) -> Result<StoredSecret, ServiceError> {
        use secrecy::ExposeSecret;
        let field = purpose;
        shopsync_common::text::validate_text(field, secret.expose_secret(), SECRET_MAX)?;
        if secret.expose_secret().trim().is_empty() {
            return Err(ValidationError::new(field, "must not be blank").into());
        }
        let keyring = self.keyring.as_ref().ok_or_else(|| {
            ServiceError::FailedPrecondition(
                "the scheduler has no keyring to encrypt credentials (SHOPSYNC_SECRET_KEYS)".into(),
            )
        })?;
        let s = keyring.seal(secret, &aad(shop, purpose));
        Ok(StoredSecret { key_id: s.key_id, nonce: s.nonce, ciphertext: s.ciphertext })
    }

    pub async fn create(
        &self,
        name: &str,
        spec: ShopSpec,
        creds: Credentials,
        request_id: Option<Uuid>,
    ) -> Result<Shop, ServiceError> {
        validate_shop_name(name).map_err(|e| e.within("shop"))?;
        let token =
            creds.access_token.as_ref().map(|t| self.seal(name, "access_token", t)).transpose()?;
        let webhook = creds
            .webhook_secret
            .as_ref()
            .map(|t| self.seal(name, "webhook_secret", t))
            .transpose()?;
        if let Some(s) =
            self.repo.insert(name, &spec, token.as_ref(), webhook.as_ref(), request_id).await?
        {
            tracing::info!(shop = name, "shop created");
            return Ok(s.shop);
        }
        // Taken: the same request again gets its shop, anything else is refused.
        if let Some(id) = request_id
            && let Some(s) = self.repo.get_by_request(id).await?
        {
            return if s.shop.name == name {
                Ok(s.shop)
            } else {
                Err(ServiceError::FailedPrecondition(format!(
                    "request_id {id} was used to create shop {:?}",
                    s.shop.name
                )))
            };
        }
        Err(ServiceError::AlreadyExists(format!("shop {name:?} exists")))
    }

    pub async fn update(
        &self,
        name: &str,
        expected_version: i64,
        spec: ShopSpec,
        creds: Credentials,
    ) -> Result<Shop, ServiceError> {
        let update = |s: &Option<SecretString>, purpose: &str| -> Result<_, ServiceError> {
            Ok(match s {
                None => SecretUpdate::Keep,
                Some(s) if secrecy::ExposeSecret::expose_secret(s).is_empty() => {
                    SecretUpdate::Clear
                }
                Some(s) => SecretUpdate::Set(self.seal(name, purpose, s)?),
            })
        };
        let token = update(&creds.access_token, "access_token")?;
        let webhook = update(&creds.webhook_secret, "webhook_secret")?;
        match self.repo.update(name, expected_version, &spec, &token, &webhook).await? {
            Some(s) => {
                tracing::info!(shop = name, version = s.shop.version, "shop updated");
                Ok(s.shop)
            }
            None => Err(self.stale(name, expected_version).await),
        }
    }

    pub async fn set_enabled(
        &self,
        name: &str,
        expected_version: i64,
        enabled: bool,
    ) -> Result<Shop, ServiceError> {
        match self.repo.set_enabled(name, expected_version, enabled).await? {
            Some(s) => {
                if !enabled && let Ok(mut g) = self.gate.lock() {
                    g.remove(name);
                }
                tracing::info!(shop = name, enabled, "shop enabled state changed");
                Ok(s.shop)
            }
            None => Err(self.stale(name, expected_version).await),
        }
    }

    /// Why an update at `expected_version` found nothing.
    async fn stale(&self, name: &str, expected_version: i64) -> ServiceError {
        match self.repo.get(name).await {
            Ok(Some(s)) => ServiceError::Aborted(format!(
                "shop {name:?} is at version {}, not {expected_version}",
                s.shop.version
            )),
            Ok(None) => ServiceError::ShopNotFound(name.to_owned()),
            Err(e) => e.into(),
        }
    }

    pub async fn get(&self, name: &str) -> Result<StoredShop, ServiceError> {
        self.repo.get(name).await?.ok_or_else(|| ServiceError::ShopNotFound(name.to_owned()))
    }

    pub async fn list(&self, include_disabled: bool) -> Result<Vec<Shop>, ServiceError> {
        Ok(self.repo.list(include_disabled).await?.into_iter().map(|s| s.shop).collect())
    }

    /// The check on the entry create path: `shop` exists and is enabled.
    pub async fn check_enabled(&self, shop: &str, field: &str) -> Result<(), ServiceError> {
        if let Ok(g) = self.gate.lock()
            && g.get(shop).is_some_and(|at| at.elapsed() < GATE_TTL)
        {
            return Ok(());
        }
        match self.repo.enabled(shop).await? {
            Some(true) => {
                if let Ok(mut g) = self.gate.lock() {
                    g.insert(shop.to_owned(), Instant::now());
                }
                Ok(())
            }
            Some(false) => {
                Err(ValidationError::new(field, format!("shop {shop:?} is disabled")).into())
            }
            None => Err(ValidationError::new(
                field,
                format!(
                    "shop {} is not known (create it first)",
                    shopsync_common::text::quoted(shop)
                ),
            )
            .into()),
        }
    }

    /// Re-seal every secret sealed under another key than the keyring's first (after a key
    /// rotation). Returns how many shops were re-sealed.
    pub async fn reseal_all(&self) -> Result<usize, ServiceError> {
        let Some(keyring) = &self.keyring else { return Ok(0) };
        let mut n = 0;
        for s in self.repo.sealed_under_other_keys(keyring.active_id()).await? {
            let name = &s.shop.name;
            let reseal = |x: &Option<StoredSecret>, purpose: &str| -> Result<_, ServiceError> {
                let Some(x) = x else { return Ok(None) };
                let sealed = Sealed {
                    key_id: x.key_id.clone(),
                    nonce: x.nonce.clone(),
                    ciphertext: x.ciphertext.clone(),
                };
                let plain = keyring
                    .open(&sealed, &aad(name, purpose))
                    .map_err(|e| ServiceError::FailedPrecondition(format!("shop {name:?}: {e}")))?;
                Ok(Some(self.seal(name, purpose, &plain)?))
            };
            let token = reseal(&s.access_token, "access_token")?;
            let webhook = reseal(&s.webhook_secret, "webhook_secret")?;
            if self.repo.reseal(name, s.shop.version, token.as_ref(), webhook.as_ref()).await? {
                n += 1;
            }
        }
        Ok(n)
    }

    async fn ensure(&self, shop: &str) -> Result<(), ServiceError> {
        match self.repo.enabled(shop).await? {
            Some(_) => Ok(()),
            None => Err(ServiceError::ShopNotFound(shop.to_owned())),
        }
    }

    pub async fn put_links(&self, shop: &str, links: &[Link]) -> Result<PutLinks, ServiceError> {
        self.ensure(shop).await?;
        Ok(self.repo.put_links(shop, links).await?)
    }

    pub async fn lookup_by_erp(
        &self,
        shop: &str,
        kind: LinkKind,
        keys: &[ErpKey],
    ) -> Result<Vec<Link>, ServiceError> {
        Ok(self.repo.lookup_by_erp(shop, kind, keys).await?)
    }

    pub async fn lookup_by_shopify(
        &self,
        shop: &str,
        kind: LinkKind,
        ids: &[String],
    ) -> Result<Vec<Link>, ServiceError> {
        Ok(self.repo.lookup_by_shopify(shop, kind, ids).await?)
    }

    pub async fn list_links(
        &self,
        shop: &str,
        kind: LinkKind,
        after: &str,
        limit: i64,
    ) -> Result<Vec<Link>, ServiceError> {
        Ok(self.repo.list_links(shop, kind, after, limit).await?)
    }

    pub async fn delete_links(
        &self,
        shop: &str,
        kind: LinkKind,
        keys: &[ErpKey],
        ids: &[String],
    ) -> Result<u64, ServiceError> {
        Ok(self.repo.delete_links(shop, kind, keys, ids).await?)
    }

    pub async fn cursors(&self, shop: &str) -> Result<Vec<Cursor>, ServiceError> {
        self.ensure(shop).await?;
        Ok(self.repo.cursors(shop).await?)
    }

    pub async fn cursor(&self, shop: &str, r: SyncResource) -> Result<Cursor, ServiceError> {
        self.ensure(shop).await?;
        Ok(self.repo.cursor(shop, r).await?)
    }

    pub async fn save_cursor(
        &self,
        shop: &str,
        r: SyncResource,
        value: &str,
        expected_version: i64,
    ) -> Result<Cursor, ServiceError> {
        self.ensure(shop).await?;
        match self.repo.save_cursor(shop, r, value, expected_version).await? {
            Some(c) => Ok(c),
            None => {
                let now = self.repo.cursor(shop, r).await?;
                Err(ServiceError::Aborted(format!(
                    "cursor {shop}/{r} is at version {}, not {expected_version}",
                    now.version
                )))
            }
        }
    }

    pub async fn reset_cursor(
        &self,
        shop: &str,
        r: SyncResource,
        value: &str,
    ) -> Result<Cursor, ServiceError> {
        self.ensure(shop).await?;
        let c = self.repo.reset_cursor(shop, r, value).await?;
        tracing::info!(shop, resource = %r, "cursor reset");
        Ok(c)
    }
}
