//! What a reconciliation finds beside the links it was given: Shopify variants not linked yet
//! whose SKU names exactly one ERP item (the item's or one of its variants' SKU, as order
//! import matches lines), linked so that their stock syncs from this run on; and Shopify
//! locations that no mapping of the shop names, reported on every run until they are mapped
//! (or mapped with the calculation `disabled`).

use crate::bulk::{Catalogue, ShopifyItem};
use crate::error::Failure;
use shopsync_common::report::RecordError;
use shopsync_proto::pb;
use shopsync_runtime::shop::ShopContext;
use shopsync_shopify::ops;
use std::collections::{BTreeMap, BTreeSet, HashSet};

/// Variants matched by SKU: the links to use (written unless a dry run) and the variants
/// that could not be linked, with why.
#[derive(Default)]
pub struct BySku {
    pub links: Vec<pb::Link>,
    pub records: Vec<RecordError>,
}

/// The one unblocked ERP (item, variant) among a SKU's matches; more than one is ambiguous.
pub fn the_match(matches: &[pb::ItemMatch]) -> Result<Option<(String, String)>, String> {
    let found: BTreeSet<(String, String)> = matches
        .iter()
        .filter_map(|m| Some((m.item.as_ref()?, &m.variant_code)))
        .filter(|(i, _)| !i.blocked)
        .map(|(i, v)| (i.no.clone(), v.clone()))
        .collect();
    match found.len() {
        0 => Ok(None),
        1 => Ok(found.into_iter().next()),
        _ => Err(format!(
            "its SKU matches {} ERP items ({}): link it by hand",
            found.len(),
            found
                .iter()
                .map(|(i, v)| format!("{i}{}{v}", if v.is_empty() { "" } else { "/" }))
                .collect::<Vec<_>>()
                .join(", ")
        )),
    }
}

/// Link the catalogue's variants that `linked` does not hold, by SKU. ERP items already
/// linked to another variant are left alone (reported), never re-pointed.
pub async fn links_by_sku(
    shop: &ShopContext,
    catalogue: &Catalogue,
    linked: &HashSet<String>,
    write: bool,
) -> Result<BySku, Failure> {
    let name = shop.shop.name.as_str();
    let candidates: Vec<&ShopifyItem> = catalogue
        .items()
        .filter(|i| !linked.contains(&i.variant) && i.sku.is_some() && !i.inventory_item.is_empty())
        .collect();
    let mut out = BySku::default();
    for chunk in candidates.chunks(1000) {
        let skus: BTreeSet<String> = chunk.iter().filter_map(|i| i.sku.clone()).collect();
        let found = shop
            .erp
            .clone()
            .find_items(pb::FindItemsRequest { skus: skus.into_iter().collect(), barcodes: vec![] })
            .await
            .map_err(|s| Failure::Api("finding ERP items by SKU", s))?
            .into_inner();
        // (item, variant) -> the variant it links; a second variant with it is reported.
        let mut wanted: BTreeMap<(String, String), &ShopifyItem> = BTreeMap::new();
        for it in chunk {
            let sku = it.sku.as_deref().unwrap_or_default();
            let matches = found.by_sku.get(sku).map(|m| m.matches.as_slice()).unwrap_or_default();
            match the_match(matches) {
                Ok(None) => {} // not an ERP item: not ours to sync
                Ok(Some(key)) => {
                    if let Some(first) = wanted.get(&key) {
                        out.records.push(record(it, format!(
                            "its SKU matches ERP item {}, which variant {} matches too: link it by hand",
                            key.0, first.variant
                        )));
                    } else {
                        wanted.insert(key, it);
                    }
                }
                Err(reason) => out.records.push(record(it, reason)),
            }
        }
        let taken = crate::links_by_erp(shop, name, wanted.keys().cloned().collect()).await?;
        let mut links = Vec::new();
        for ((item, variant), it) in wanted {
            if taken.contains_key(&(item.clone(), variant.clone())) {
                out.records.push(record(
                    it,
                    format!("its SKU matches ERP item {item}, already linked to another variant"),
                ));
                continue;
            }
            links.push(pb::Link {
                kind: pb::LinkKind::Item as i32,
                erp_id: item,
                erp_variant: variant,
                shopify_id: it.variant.clone(),
                shopify_parent_id: it.product.clone(),
                shopify_inventory_item_id: it.inventory_item.clone(),
                updated_at: None,
            });
        }
        if write && !links.is_empty() {
            shop.shops
                .clone()
                .put_links(pb::PutLinksRequest { shop: name.to_owned(), links: links.clone() })
                .await
                .map_err(|s| Failure::Api("linking variants by SKU", s))?;
        }
        out.links.extend(links);
    }
    Ok(out)
}

fn record(it: &ShopifyItem, reason: String) -> RecordError {
    RecordError {
        record: format!("variant {} (SKU {})", it.variant, it.sku.as_deref().unwrap_or_default()),
        reason,
        retryable: false,
    }
}

/// Active Shopify locations that no mapping of the shop names.
pub async fn unmapped_locations(shop: &ShopContext) -> Result<Vec<RecordError>, Failure> {
    use futures::TryStreamExt;
    let mapped: HashSet<&str> =
        shop.shop.settings.locations.iter().map(|m| m.shopify_location_id.as_str()).collect();
    let mut pages = Box::pin(
        shop.shopify
            .pages::<ops::Locations>(ops::locations::Variables { first: 250, after: None }, None),
    );
    let mut out = Vec::new();
    while let Some(page) = pages.try_next().await? {
        for l in page.nodes {
            if l.is_active && !mapped.contains(l.id.as_str()) {
                out.push(RecordError {
                    record: format!("Shopify location {} ({})", l.name, l.id),
                    reason:
                        "no ERP location feeds it: map it to ERP locations (settings.locations) \
                             or map it as disabled; its stock is not synced"
                            .into(),
                    retryable: false,
                });
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(no: &str, variant: &str, blocked: bool) -> pb::ItemMatch {
        pb::ItemMatch {
            item: Some(pb::Item { no: no.into(), blocked, ..Default::default() }),
            variant_code: variant.into(),
        }
    }

    #[test]
    fn one_unblocked_match_links_and_several_are_ambiguous() {
        assert_eq!(the_match(&[]), Ok(None));
        assert_eq!(the_match(&[m("A", "", false)]), Ok(Some(("A".into(), String::new()))));
        assert_eq!(
            the_match(&[m("A", "RED", false), m("B", "", true)]),
            Ok(Some(("A".into(), "RED".into())))
        );
        let e = the_match(&[m("A", "", false), m("B", "X", false)]).unwrap_err();
        assert!(e.contains("A, B/X"), "{e}");
    }
}
