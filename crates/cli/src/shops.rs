//! `shopsync shops|cursors`: the shops a deployment syncs, and their sync cursors, against the
//! scheduler's `Shops` API. Credentials are read from the environment, never from arguments
//! (which other users of the machine can see), and are never printed.

use crate::{print_json, rpc};
use anyhow::{Context, Result, anyhow};
use clap::Subcommand;
use comfy_table::{Table, presets::UTF8_BORDERS_ONLY};
use shopsync_common::shop::{ShopSettings, SyncResource};
use shopsync_proto::pb;
use shopsync_proto::shops::{plan_to_pb, resource_to_pb, settings_from_pb, settings_to_pb};
use shopsync_runtime::client::AuthedChannel;

pub type ShopsClient = pb::shops_client::ShopsClient<AuthedChannel>;

#[derive(Subcommand)]
pub enum Shops {
    /// Shops (disabled ones with --all).
    List {
        #[arg(long)]
        all: bool,
    },
    /// One shop with its settings (credentials are never shown, only whether they are set).
    Show {
        name: String,
    },
    /// Connect a shop. The access token and webhook secret come from the environment.
    Create {
        name: String,
        /// `my-shop.myshopify.com`, or an http(s) URL (a simulator).
        #[arg(long)]
        domain: String,
        #[arg(long, default_value = "standard")]
        plan: shopsync_common::shop::ShopPlan,
        #[arg(long, default_value = "2026-10")]
        api_version: String,
        /// Settings as JSON over the defaults, e.g. '{"auto_release": true}'.
        #[arg(long)]
        settings: Option<String>,
        #[arg(long, env = "SHOPSYNC_SHOP_ACCESS_TOKEN", hide_env_values = true)]
        access_token: Option<String>,
        #[arg(long, env = "SHOPSYNC_SHOP_WEBHOOK_SECRET", hide_env_values = true)]
        webhook_secret: Option<String>,
    },
    /// Change settings (JSON merged over the current ones) or credentials (from the
    /// environment: SHOPSYNC_SHOP_ACCESS_TOKEN, SHOPSYNC_SHOP_WEBHOOK_SECRET).
    Update {
        name: String,
        #[arg(long)]
        domain: Option<String>,
        #[arg(long)]
        plan: Option<shopsync_common::shop::ShopPlan>,
        #[arg(long)]
        settings: Option<String>,
        #[arg(long, env = "SHOPSYNC_SHOP_ACCESS_TOKEN", hide_env_values = true)]
        access_token: Option<String>,
        #[arg(long, env = "SHOPSYNC_SHOP_WEBHOOK_SECRET", hide_env_values = true)]
        webhook_secret: Option<String>,
    },
    /// Stop syncing a shop: its entries can no longer be created and its runs fail.
    Disable {
        name: String,
    },
    Enable {
        name: String,
    },
}

#[derive(Subcommand)]
pub enum Cursors {
    /// A shop's sync cursors.
    List {
        #[arg(long)]
        shop: String,
    },
    /// Reset a cursor: to --to (e.g. an RFC 3339 time to import again from), or to the
    /// beginning.
    Reset {
        #[arg(long)]
        shop: String,
        #[arg(long)]
        resource: SyncResource,
        #[arg(long)]
        to: Option<String>,
    },
}

/// `base` with the JSON object `patch` merged over it (objects merge, everything else is
/// replaced), read back as typed settings.
fn merge_settings(base: &ShopSettings, patch: &str) -> Result<ShopSettings> {
    let patch: serde_json::Value =
        serde_json::from_str(patch).context("--settings is not valid JSON")?;
    let mut v = serde_json::to_value(base)?;
    merge(&mut v, patch);
    serde_json::from_value(v).map_err(|e| anyhow!("--settings: {e}"))
}

fn merge(base: &mut serde_json::Value, patch: serde_json::Value) {
    match (base, patch) {
        (serde_json::Value::Object(b), serde_json::Value::Object(p)) => {
            for (k, v) in p {
                merge(b.entry(k).or_insert(serde_json::Value::Null), v);
            }
        }
        (b, p) => *b = p,
    }
}

fn shops_table(shops: &[pb::Shop]) -> Table {
    let mut t = Table::new();
    t.load_preset(UTF8_BORDERS_ONLY);
    t.set_header(["name", "domain", "plan", "enabled", "token", "webhook secret", "version"]);
    for s in shops {
        let plan = pb::ShopPlan::try_from(s.plan).map(|p| p.as_str_name()).unwrap_or("?");
        t.add_row([
            s.name.clone(),
            s.store_domain.clone(),
            plan.trim_start_matches("SHOP_PLAN_").to_ascii_lowercase(),
            s.enabled.to_string(),
            if s.has_access_token { format!("set ({})", s.key_id) } else { "-".into() },
            if s.has_webhook_secret { "set".into() } else { "-".into() },
            s.version.to_string(),
        ]);
    }
    t
}

fn print_shop(s: &pb::Shop, json: bool) -> Result<()> {
    if json {
        print_json(s);
        return Ok(());
    }
    out!("{}", shops_table(std::slice::from_ref(s)));
    let settings = s.settings.as_ref().map(settings_from_pb).transpose()?.unwrap_or_default();
    out!("settings: {}", serde_json::to_string_pretty(&settings)?);
    Ok(())
}

pub async fn shops(c: &mut ShopsClient, cmd: &Shops, json: bool) -> Result<()> {
    match cmd {
        Shops::List { all } => {
            let r = c
                .list_shops(pb::ListShopsRequest { include_disabled: *all })
                .await
                .map_err(rpc)?
                .into_inner();
            if json { print_json(&r.shops) } else { out!("{}", shops_table(&r.shops)) }
        }
        Shops::Show { name } => {
            let s = c.get_shop(pb::GetShopRequest { name: name.clone() }).await.map_err(rpc)?;
            print_shop(s.get_ref(), json)?;
        }
        Shops::Create {
            name,
            domain,
            plan,
            api_version,
            settings,
            access_token,
            webhook_secret,
        } => {
            let settings = match settings {
                Some(p) => merge_settings(&ShopSettings::default(), p)?,
                None => ShopSettings::default(),
            };
            let shop = pb::Shop {
                name: name.clone(),
                store_domain: domain.clone(),
                api_version: api_version.clone(),
                plan: plan_to_pb(*plan) as i32,
                settings: Some(settings_to_pb(&settings)),
                ..Default::default()
            };
            let s = c
                .create_shop(pb::CreateShopRequest {
                    shop: Some(shop),
                    access_token: access_token.clone().unwrap_or_default(),
                    webhook_secret: webhook_secret.clone().unwrap_or_default(),
                    request_id: String::new(),
                })
                .await
                .map_err(rpc)?;
            print_shop(s.get_ref(), json)?;
        }
        Shops::Update { name, domain, plan, settings, access_token, webhook_secret } => {
            let mut shop = c
                .get_shop(pb::GetShopRequest { name: name.clone() })
                .await
                .map_err(rpc)?
                .into_inner();
            if let Some(d) = domain {
                shop.store_domain = d.clone();
            }
            if let Some(p) = plan {
                shop.plan = plan_to_pb(*p) as i32;
            }
            if let Some(patch) = settings {
                let current =
                    shop.settings.as_ref().map(settings_from_pb).transpose()?.unwrap_or_default();
                shop.settings = Some(settings_to_pb(&merge_settings(&current, patch)?));
            }
            let s = c
                .update_shop(pb::UpdateShopRequest {
                    name: name.clone(),
                    expected_version: shop.version,
                    shop: Some(shop),
                    access_token: access_token.clone(),
                    webhook_secret: webhook_secret.clone(),
                })
                .await
                .map_err(rpc)?;
            print_shop(s.get_ref(), json)?;
        }
        Shops::Disable { name } | Shops::Enable { name } => {
            let enabled = matches!(cmd, Shops::Enable { .. });
            let shop = c
                .get_shop(pb::GetShopRequest { name: name.clone() })
                .await
                .map_err(rpc)?
                .into_inner();
            let s = c
                .set_shop_enabled(pb::SetShopEnabledRequest {
                    name: name.clone(),
                    expected_version: shop.version,
                    enabled,
                })
                .await
                .map_err(rpc)?;
            print_shop(s.get_ref(), json)?;
        }
    }
    Ok(())
}

fn cursors_table(cursors: &[pb::Cursor]) -> Table {
    let mut t = Table::new();
    t.load_preset(UTF8_BORDERS_ONLY);
    t.set_header(["resource", "value", "version", "updated"]);
    for c in cursors {
        let resource = pb::SyncResource::try_from(c.resource)
            .map(|r| r.as_str_name().trim_start_matches("SYNC_RESOURCE_").to_ascii_lowercase())
            .unwrap_or_else(|_| "?".into());
        let updated = c
            .updated_at
            .as_ref()
            .and_then(|t| chrono::DateTime::from_timestamp(t.seconds, 0))
            .map(|t| t.to_rfc3339())
            .unwrap_or_default();
        let value =
            if c.value.is_empty() { "(from the beginning)".into() } else { c.value.clone() };
        t.add_row([resource, value, c.version.to_string(), updated]);
    }
    t
}

pub async fn cursors(c: &mut ShopsClient, cmd: &Cursors, json: bool) -> Result<()> {
    match cmd {
        Cursors::List { shop } => {
            let r = c
                .list_cursors(pb::ListCursorsRequest { shop: shop.clone() })
                .await
                .map_err(rpc)?
                .into_inner();
            if json { print_json(&r.cursors) } else { out!("{}", cursors_table(&r.cursors)) }
        }
        Cursors::Reset { shop, resource, to } => {
            let r = c
                .reset_cursor(pb::ResetCursorRequest {
                    key: Some(pb::CursorKey {
                        shop: shop.clone(),
                        resource: resource_to_pb(*resource) as i32,
                    }),
                    value: to.clone(),
                })
                .await
                .map_err(rpc)?
                .into_inner();
            if json { print_json(&r) } else { out!("{}", cursors_table(std::slice::from_ref(&r))) }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_merge_over_the_current_ones() {
        let base = ShopSettings { auto_release: true, ..ShopSettings::default() };
        let s = merge_settings(&base, r#"{"archive_processed_orders": true}"#).unwrap();
        assert!(s.auto_release && s.archive_processed_orders);
        assert!(merge_settings(&base, r#"{"sku_mapping": "nope"}"#).is_err());
    }
}
