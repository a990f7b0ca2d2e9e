//! `shopsync cues`: the activity cues of one shop or all shops (order-sync's `Cues` API), the
//! groups behind one cue with their reasons, and the retry of a group once its cause is fixed.

use crate::{print_json, rpc};
use anyhow::{Result, anyhow};
use clap::{Subcommand, ValueEnum};
use comfy_table::{Table, presets::UTF8_BORDERS_ONLY};
use shopsync_proto::pb;
use shopsync_runtime::client::AuthedChannel;

pub type CuesClient = pb::cues_client::CuesClient<AuthedChannel>;

#[derive(Subcommand)]
pub enum Cues {
    /// The groups behind one cue: the reason, how many records, some of them, what to do.
    Show {
        kind: CueKindArg,
        #[arg(long)]
        shop: Option<String>,
        #[arg(long, default_value_t = 50)]
        limit: u32,
    },
    /// Retry every record of one group (its key as `cues show` prints it).
    Retry {
        kind: CueKindArg,
        key: String,
        #[arg(long)]
        shop: String,
    },
}

#[derive(Clone, Copy, ValueEnum)]
pub enum CueKindArg {
    UnmappedCustomers,
    UnmappedProducts,
    UnprocessedOrders,
    ChangedOrders,
    SyncErrors,
    HighRiskOrders,
    WebhookGaps,
    UnprocessedShipments,
    ShipmentErrors,
    HeldRefunds,
}

impl CueKindArg {
    fn to_pb(self) -> pb::CueKind {
        match self {
            CueKindArg::UnmappedCustomers => pb::CueKind::UnmappedCustomers,
            CueKindArg::UnmappedProducts => pb::CueKind::UnmappedProducts,
            CueKindArg::UnprocessedOrders => pb::CueKind::UnprocessedOrders,
            CueKindArg::ChangedOrders => pb::CueKind::ChangedOrders,
            CueKindArg::SyncErrors => pb::CueKind::SyncErrors,
            CueKindArg::HighRiskOrders => pb::CueKind::HighRiskOrders,
            CueKindArg::WebhookGaps => pb::CueKind::WebhookGaps,
            CueKindArg::UnprocessedShipments => pb::CueKind::UnprocessedShipments,
            CueKindArg::ShipmentErrors => pb::CueKind::ShipmentErrors,
            CueKindArg::HeldRefunds => pb::CueKind::HeldRefunds,
        }
    }
}

fn kind_name(v: i32) -> String {
    pb::CueKind::try_from(v)
        .map(|k| k.as_str_name().trim_start_matches("CUE_KIND_").replace('_', " ").to_lowercase())
        .unwrap_or_else(|_| "?".into())
}

/// `shopsync cues [--shop S]`: every cue's count.
pub async fn counts(c: &mut CuesClient, shop: Option<&str>, json: bool) -> Result<()> {
    let r = c
        .get_cues(pb::GetCuesRequest { shop: shop.unwrap_or_default().to_owned() })
        .await
        .map_err(rpc)?
        .into_inner();
    if json {
        print_json(&r.cues);
        return Ok(());
    }
    let mut t = Table::new();
    t.load_preset(UTF8_BORDERS_ONLY);
    t.set_header(["CUE", "COUNT"]);
    for cue in &r.cues {
        t.add_row([kind_name(cue.kind), cue.count.to_string()]);
    }
    out!("{}{t}", shop.map(|s| format!("shop {s}\n")).unwrap_or_else(|| "all shops\n".into()));
    Ok(())
}

pub async fn cues(c: &mut CuesClient, cmd: &Cues, json: bool) -> Result<()> {
    match cmd {
        Cues::Show { kind, shop, limit } => {
            let r = c
                .list_cue_groups(pb::ListCueGroupsRequest {
                    shop: shop.clone().unwrap_or_default(),
                    kind: kind.to_pb() as i32,
                    limit: *limit,
                })
                .await
                .map_err(rpc)?
                .into_inner();
            if json {
                print_json(&r.groups);
                return Ok(());
            }
            let mut t = Table::new();
            t.load_preset(UTF8_BORDERS_ONLY);
            t.set_header(["SHOP", "KEY", "COUNT", "REASON", "RECORDS"]);
            for g in &r.groups {
                let mut records = g.records.join(", ");
                if (g.records.len() as i64) < g.count {
                    records.push_str(", …");
                }
                t.add_row([
                    g.shop.clone(),
                    g.key.clone(),
                    g.count.to_string(),
                    g.reason.clone(),
                    records,
                ]);
            }
            out!("{t}");
            if let Some(g) = r.groups.first() {
                out!("to do: {}", g.action);
            }
        }
        Cues::Retry { kind, key, shop } => {
            let r = c
                .retry_cue_group(pb::RetryCueGroupRequest {
                    shop: shop.clone(),
                    kind: kind.to_pb() as i32,
                    key: key.clone(),
                    requested_by: std::env::var("USER").unwrap_or_else(|_| "cli".into()),
                })
                .await
                .map_err(rpc)?
                .into_inner();
            if json {
                print_json(&r);
            } else if r.retried == 0 {
                return Err(anyhow!("nothing to retry in group {key:?} of shop {shop}"));
            } else if r.entry_id.is_empty() {
                out!("{} records done", r.retried);
            } else {
                out!("{} records go again: job {}", r.retried, r.entry_id);
            }
        }
    }
    Ok(())
}
