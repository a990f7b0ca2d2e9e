//! The shop's order webhook subscriptions: compared with the wanted set (each topic of
//! [`super::TOPICS`] delivering to the callback address) and the missing ones made. Runs as a
//! step of the shop's SyncOrders: on its first run with webhooks on, when the address
//! changed, and then at most every `SHOPSYNC_WEBHOOK_REPAIR_MINUTES`. The shop's myshopify
//! domain (what Shopify sends as `X-Shopify-Shop-Domain`) is learned at the same time.

use crate::config::WebhookConfig;
use crate::repo::webhooks as repo;
use crate::{Failure, fail};
use futures::TryStreamExt;
use shopsync_common::RunReport;
use shopsync_runtime::shop::ShopContext;
use shopsync_runtime::worker::TaskError;
use shopsync_shopify::ShopifyError;
use shopsync_shopify::ops::{self, webhook_subscription_create as create, webhook_subscriptions};
use sqlx::PgPool;

/// A topic as the generated enums spell it (their `Deserialize` knows every value).
fn topic<T: serde::de::DeserializeOwned>(name: &str) -> Result<T, TaskError> {
    serde_json::from_value(serde_json::Value::String(name.to_owned()))
        .map_err(|e| TaskError::retryable(anyhow::anyhow!("topic {name}: {e}")))
}

fn topic_name<T: serde::Serialize>(t: &T) -> String {
    serde_json::to_value(t).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default()
}

/// Make the missing subscriptions when the check is due.
pub async fn ensure(
    shop: &ShopContext,
    db: &PgPool,
    callback: &str,
    cfg: &WebhookConfig,
    report: &mut RunReport,
) -> Result<(), TaskError> {
    let name = shop.shop.name.as_str();
    let state = repo::shop_state(db, name).await.map_err(|e| fail(Failure::Db(e)))?;
    let every = chrono::TimeDelta::minutes(cfg.webhook_repair_minutes as i64);
    let fresh = state.checked_at.is_some_and(|t| chrono::Utc::now() - t < every);
    if fresh && state.callback.as_deref() == Some(callback) && state.domain.is_some() {
        return Ok(());
    }
    let client = &shop.shopify;
    let domain = client
        .run::<ops::Shop>(ops::shop::Variables {})
        .await
        .map_err(|e| fail(Failure::Shopify(e)))?
        .shop
        .myshopify_domain;
    let wanted = super::TOPICS
        .iter()
        .map(|(t, _)| topic::<webhook_subscriptions::WebhookSubscriptionTopic>(t))
        .collect::<Result<Vec<_>, _>>()?;
    let existing: Vec<_> = client
        .nodes::<ops::WebhookSubscriptions>(webhook_subscriptions::Variables {
            first: 100,
            after: None,
            topics: Some(wanted),
        })
        .try_collect()
        .await
        .map_err(|e| fail(Failure::Shopify(e)))?;
    let mut created = 0;
    for (t, _) in super::TOPICS {
        if existing.iter().any(|s| topic_name(&s.topic) == t && s.uri == callback) {
            continue;
        }
        let r = client
            .run::<ops::WebhookSubscriptionCreate>(create::Variables {
                topic: topic(t)?,
                subscription: create::WebhookSubscriptionInput {
                    uri: Some(callback.to_owned()),
                    callback_url: None,
                    filter: None,
                    format: None,
                    include_fields: None,
                    metafield_namespaces: None,
                    metafields: None,
                    name: None,
                },
            })
            .await;
        match r {
            Ok(_) => created += 1,
            // Made meanwhile (another run, or our own first attempt of a resend).
            Err(ShopifyError::UserErrors { errors, .. })
                if errors.iter().any(|e| e.message.contains("already been taken")) => {}
            Err(e) => return Err(fail(Failure::Shopify(e))),
        }
    }
    if created > 0 {
        tracing::info!(shop = name, created, callback, "order webhook subscriptions made");
    }
    report.count("webhook_subscriptions_created", created);
    repo::subscribed(db, name, &super::http::normalize_domain(&domain), callback)
        .await
        .map_err(|e| fail(Failure::Db(e)))?;
    Ok(())
}
