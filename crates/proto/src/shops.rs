//! pb <-> common for the `Shops` API: shops and their settings, links, cursors.

use crate::convert::{opt_ts, ts};
use crate::pb;
use shopsync_common::ValidationError;
use shopsync_common::shop::{
    CurrencyHandling, CustomerImport, CustomerMapping, ErpKey, Link, LinkKind, LocationMapping,
    Shop, ShopPlan, ShopSettings, ShopSpec, SkuMapping, StockCalculation, SyncDirection,
    SyncResource,
};

type R<T> = Result<T, ValidationError>;

/// A domain enum and its pb enum, both ways. `UNSPECIFIED` reads as the domain's default
/// where the proto says so (`default`), else it is refused as missing.
macro_rules! enum_pb {
    ($to:ident, $from:ident, $dom:ty, $pb:ty, $default:expr, { $($d:path => $p:path),+ $(,)? }) => {
        pub fn $to(v: $dom) -> $pb {
            match v { $($d => $p),+ }
        }
        pub fn $from(v: i32, field: &str) -> R<$dom> {
            let default: Option<$dom> = $default;
            match <$pb>::try_from(v) {
                $(Ok($p) => Ok($d),)+
                Ok(_) => default.ok_or_else(|| ValidationError::new(field, "is required")),
                Err(_) => Err(ValidationError::new(field, format!("unknown value {v}"))),
            }
        }
    };
}

enum_pb!(plan_to_pb, plan_from_pb, ShopPlan, pb::ShopPlan, Some(ShopPlan::Standard), {
    ShopPlan::Standard => pb::ShopPlan::Standard,
    ShopPlan::Advanced => pb::ShopPlan::Advanced,
    ShopPlan::Plus => pb::ShopPlan::Plus,
    ShopPlan::Enterprise => pb::ShopPlan::Enterprise,
});
enum_pb!(customer_import_to_pb, customer_import_from_pb, CustomerImport, pb::CustomerImport,
    Some(CustomerImport::default()), {
    CustomerImport::None => pb::CustomerImport::None,
    CustomerImport::WithOrders => pb::CustomerImport::WithOrders,
    CustomerImport::All => pb::CustomerImport::All,
});
enum_pb!(customer_mapping_to_pb, customer_mapping_from_pb, CustomerMapping, pb::CustomerMapping,
    Some(CustomerMapping::default()), {
    CustomerMapping::ByEmailPhone => pb::CustomerMapping::ByEmailPhone,
    CustomerMapping::ByBillTo => pb::CustomerMapping::ByBillTo,
    CustomerMapping::DefaultCustomer => pb::CustomerMapping::DefaultCustomer,
});
enum_pb!(sku_mapping_to_pb, sku_mapping_from_pb, SkuMapping, pb::SkuMapping,
    Some(SkuMapping::default()), {
    SkuMapping::ItemNo => pb::SkuMapping::ItemNo,
    SkuMapping::VariantCode => pb::SkuMapping::VariantCode,
    SkuMapping::ItemNoVariantCode => pb::SkuMapping::ItemNoVariantCode,
    SkuMapping::VendorItemNo => pb::SkuMapping::VendorItemNo,
    SkuMapping::Barcode => pb::SkuMapping::Barcode,
});
enum_pb!(currency_handling_to_pb, currency_handling_from_pb, CurrencyHandling,
    pb::CurrencyHandling, Some(CurrencyHandling::default()), {
    CurrencyHandling::ShopCurrency => pb::CurrencyHandling::ShopCurrency,
    CurrencyHandling::PresentmentCurrency => pb::CurrencyHandling::PresentmentCurrency,
});
enum_pb!(direction_to_pb, direction_from_pb, SyncDirection, pb::SyncDirection,
    Some(SyncDirection::default()), {
    SyncDirection::None => pb::SyncDirection::None,
    SyncDirection::ToShopify => pb::SyncDirection::ToShopify,
    SyncDirection::FromShopify => pb::SyncDirection::FromShopify,
});
enum_pb!(stock_calculation_to_pb, stock_calculation_from_pb, StockCalculation,
    pb::StockCalculation, Some(StockCalculation::default()), {
    StockCalculation::Disabled => pb::StockCalculation::Disabled,
    StockCalculation::OnHand => pb::StockCalculation::OnHand,
    StockCalculation::Free => pb::StockCalculation::Free,
});
enum_pb!(link_kind_to_pb, link_kind_from_pb, LinkKind, pb::LinkKind, None, {
    LinkKind::Item => pb::LinkKind::Item,
    LinkKind::Customer => pb::LinkKind::Customer,
    LinkKind::Company => pb::LinkKind::Company,
    LinkKind::Location => pb::LinkKind::Location,
});
enum_pb!(resource_to_pb, resource_from_pb, SyncResource, pb::SyncResource, None, {
    SyncResource::Orders => pb::SyncResource::Orders,
    SyncResource::Products => pb::SyncResource::Products,
    SyncResource::Customers => pb::SyncResource::Customers,
    SyncResource::Companies => pb::SyncResource::Companies,
    SyncResource::Catalogs => pb::SyncResource::Catalogs,
    SyncResource::Payouts => pb::SyncResource::Payouts,
    SyncResource::Inventory => pb::SyncResource::Inventory,
    SyncResource::ItemChanges => pb::SyncResource::ItemChanges,
    SyncResource::StockChanges => pb::SyncResource::StockChanges,
    SyncResource::Shipments => pb::SyncResource::Shipments,
});

fn opt(s: &str) -> Option<String> {
    (!s.is_empty()).then(|| s.to_owned())
}

pub fn settings_to_pb(s: &ShopSettings) -> pb::ShopSettings {
    pb::ShopSettings {
        allow_background_syncs: s.allow_background_syncs,
        customer_import: customer_import_to_pb(s.customer_import) as i32,
        customer_mapping: customer_mapping_to_pb(s.customer_mapping) as i32,
        default_customer_no: s.default_customer_no.clone().unwrap_or_default(),
        auto_create_customers: s.auto_create_customers,
        customer_template: s.customer_template.clone().unwrap_or_default(),
        sku_mapping: sku_mapping_to_pb(s.sku_mapping) as i32,
        sku_separator: s.sku_separator.clone(),
        barcode_fallback: s.barcode_fallback,
        currency_handling: currency_handling_to_pb(s.currency_handling) as i32,
        product_sync: direction_to_pb(s.product_sync) as i32,
        customer_sync: direction_to_pb(s.customer_sync) as i32,
        shipping_charges_item: s.shipping_charges_item.clone().unwrap_or_default(),
        create_fulfilled_orders_as_invoices: s.create_fulfilled_orders_as_invoices,
        auto_release: s.auto_release,
        archive_processed_orders: s.archive_processed_orders,
        send_shipping_confirmation: s.send_shipping_confirmation,
        locations: s
            .locations
            .iter()
            .map(|l| pb::LocationMapping {
                shopify_location_id: l.shopify_location_id.clone(),
                erp_location_filter: l.erp_location_filter.clone(),
                stock_calculation: stock_calculation_to_pb(l.stock_calculation) as i32,
                default_erp_location: l.default_erp_location.clone().unwrap_or_default(),
            })
            .collect(),
        auto_create_sales_orders: s.auto_create_sales_orders,
        order_webhooks: s.order_webhooks,
    }
}

/// Field names are relative to the settings message. An empty separator reads as the
/// default `/`.
pub fn settings_from_pb(s: &pb::ShopSettings) -> R<ShopSettings> {
    let locations = s
        .locations
        .iter()
        .enumerate()
        .map(|(i, l)| {
            Ok(LocationMapping {
                shopify_location_id: l.shopify_location_id.trim().to_owned(),
                erp_location_filter: l.erp_location_filter.trim().to_owned(),
                stock_calculation: stock_calculation_from_pb(
                    l.stock_calculation,
                    &format!("locations[{i}].stock_calculation"),
                )?,
                default_erp_location: opt(l.default_erp_location.trim()),
            })
        })
        .collect::<R<Vec<_>>>()?;
    Ok(ShopSettings {
        allow_background_syncs: s.allow_background_syncs,
        customer_import: customer_import_from_pb(s.customer_import, "customer_import")?,
        customer_mapping: customer_mapping_from_pb(s.customer_mapping, "customer_mapping")?,
        default_customer_no: opt(&s.default_customer_no),
        auto_create_customers: s.auto_create_customers,
        customer_template: opt(&s.customer_template),
        sku_mapping: sku_mapping_from_pb(s.sku_mapping, "sku_mapping")?,
        sku_separator: if s.sku_separator.is_empty() {
            ShopSettings::default().sku_separator
        } else {
            s.sku_separator.clone()
        },
        barcode_fallback: s.barcode_fallback,
        currency_handling: currency_handling_from_pb(s.currency_handling, "currency_handling")?,
        product_sync: direction_from_pb(s.product_sync, "product_sync")?,
        customer_sync: direction_from_pb(s.customer_sync, "customer_sync")?,
        shipping_charges_item: opt(&s.shipping_charges_item),
        create_fulfilled_orders_as_invoices: s.create_fulfilled_orders_as_invoices,
        auto_release: s.auto_release,
        archive_processed_orders: s.archive_processed_orders,
        send_shipping_confirmation: s.send_shipping_confirmation,
        locations,
        auto_create_sales_orders: s.auto_create_sales_orders,
        order_webhooks: s.order_webhooks,
    })
}

pub fn shop_to_pb(s: &Shop) -> pb::Shop {
    pb::Shop {
        name: s.name.clone(),
        store_domain: s.store_domain.clone(),
        api_version: s.api_version.clone(),
        plan: plan_to_pb(s.plan) as i32,
        enabled: s.enabled,
        settings: Some(settings_to_pb(&s.settings)),
        has_access_token: s.has_access_token,
        has_webhook_secret: s.has_webhook_secret,
        key_id: s.key_id.clone(),
        version: s.version,
        created_at: Some(ts(s.created_at)),
        updated_at: Some(ts(s.updated_at)),
    }
}

/// A whole shop as the API answers it.
pub fn shop_from_pb(s: &pb::Shop) -> R<Shop> {
    let spec = shop_spec_from_pb(s, "shop")?;
    Ok(Shop {
        name: s.name.clone(),
        store_domain: spec.store_domain,
        api_version: spec.api_version,
        plan: spec.plan,
        enabled: s.enabled,
        settings: spec.settings,
        has_access_token: s.has_access_token,
        has_webhook_secret: s.has_webhook_secret,
        key_id: s.key_id.clone(),
        version: s.version,
        created_at: crate::convert::from_opt_ts(&s.created_at, "shop.created_at")?
            .unwrap_or_default(),
        updated_at: crate::convert::from_opt_ts(&s.updated_at, "shop.updated_at")?
            .unwrap_or_default(),
    })
}

/// The settable part of a shop message (`field` prefixes the names: `shop`). A missing
/// settings message means the defaults; an empty API version the client's own.
pub fn shop_spec_from_pb(s: &pb::Shop, field: &str) -> R<ShopSpec> {
    let at = |e: ValidationError| e.within(field);
    let settings = match &s.settings {
        Some(st) => settings_from_pb(st).map_err(|e| at(e.within("settings")))?,
        None => ShopSettings::default(),
    };
    let spec = ShopSpec {
        store_domain: s.store_domain.trim().to_owned(),
        api_version: if s.api_version.is_empty() {
            "2026-10".to_owned()
        } else {
            s.api_version.clone()
        },
        plan: plan_from_pb(s.plan, "plan").map_err(at)?,
        settings,
    };
    spec.validate().map_err(at)?;
    Ok(spec)
}

pub fn link_to_pb(l: &Link) -> pb::Link {
    pb::Link {
        kind: link_kind_to_pb(l.kind) as i32,
        erp_id: l.erp.erp_id.clone(),
        erp_variant: l.erp.erp_variant.clone(),
        shopify_id: l.shopify_id.clone(),
        shopify_parent_id: l.shopify_parent_id.clone().unwrap_or_default(),
        shopify_inventory_item_id: l.shopify_inventory_item_id.clone().unwrap_or_default(),
        updated_at: None,
    }
}

/// A link from the API, validated; `field` names it (`links[3]`).
pub fn link_from_pb(l: &pb::Link, field: &str) -> R<Link> {
    let at = |e: ValidationError| e.within(field);
    let link = Link {
        kind: link_kind_from_pb(l.kind, "kind").map_err(at)?,
        erp: ErpKey { erp_id: l.erp_id.clone(), erp_variant: l.erp_variant.clone() },
        shopify_id: l.shopify_id.clone(),
        shopify_parent_id: opt(&l.shopify_parent_id),
        shopify_inventory_item_id: opt(&l.shopify_inventory_item_id),
    };
    link.validate().map_err(at)?;
    Ok(link)
}

pub fn cursor_to_pb(c: &shopsync_common::shop::Cursor) -> pb::Cursor {
    pb::Cursor {
        shop: c.shop.clone(),
        resource: resource_to_pb(c.resource) as i32,
        value: c.value.clone(),
        version: c.version,
        updated_at: opt_ts(c.updated_at),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_round_trip() {
        let s = ShopSettings {
            customer_mapping: CustomerMapping::DefaultCustomer,
            default_customer_no: Some("C1".into()),
            sku_mapping: SkuMapping::ItemNoVariantCode,
            locations: vec![LocationMapping {
                shopify_location_id: "gid://shopify/Location/1".into(),
                erp_location_filter: "EAST|WEST".into(),
                stock_calculation: StockCalculation::Free,
                default_erp_location: Some("EAST".into()),
            }],
            ..ShopSettings::default()
        };
        assert_eq!(settings_from_pb(&settings_to_pb(&s)).unwrap(), s);
    }

    #[test]
    fn bad_fields_are_named() {
        let mut shop =
            pb::Shop { store_domain: "x.myshopify.com".into(), plan: 99, ..Default::default() };
        assert_eq!(shop_spec_from_pb(&shop, "shop").unwrap_err().field, "shop.plan");
        shop.plan = 0;
        shop.settings = Some(pb::ShopSettings {
            locations: vec![pb::LocationMapping {
                shopify_location_id: "gid://shopify/Location/1".into(),
                ..Default::default()
            }],
            ..Default::default()
        });
        assert_eq!(
            shop_spec_from_pb(&shop, "shop").unwrap_err().field,
            "shop.settings.locations[0].erp_location_filter"
        );
    }
}
