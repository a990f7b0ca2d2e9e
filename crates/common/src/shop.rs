//! Shops: the Shopify stores a deployment syncs, their settings, the links between ERP and
//! Shopify records, and the sync cursors. The scheduler owns them (the `shops` schema); the
//! sync services read them through the `Shops` gRPC API.

use crate::error::ValidationError;
use crate::job::validate_shop;
use crate::text::validate_text;
use serde::{Deserialize, Serialize};
use std::fmt;

/// Shopify plans (their rate limits differ: Standard 100 points/s restore, Advanced 200,
/// Plus 1,000, Enterprise 2,000).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum ShopPlan {
    #[default]
    Standard,
    Advanced,
    Plus,
    Enterprise,
}

impl ShopPlan {
    pub const ALL: [ShopPlan; 4] =
        [ShopPlan::Standard, ShopPlan::Advanced, ShopPlan::Plus, ShopPlan::Enterprise];

    pub fn as_str(self) -> &'static str {
        match self {
            ShopPlan::Standard => "standard",
            ShopPlan::Advanced => "advanced",
            ShopPlan::Plus => "plus",
            ShopPlan::Enterprise => "enterprise",
        }
    }
}

impl std::str::FromStr for ShopPlan {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        ShopPlan::ALL
            .into_iter()
            .find(|p| p.as_str() == s)
            .ok_or_else(|| format!("{s:?} is not a plan (standard, advanced, plus, enterprise)"))
    }
}

/// Which customers the customer sync imports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum CustomerImport {
    None,
    /// Customers arrive with their orders (the default).
    #[default]
    WithOrders,
    All,
}

/// How a Shopify customer finds its ERP customer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum CustomerMapping {
    /// Normalised e-mail, then phone (the default).
    #[default]
    ByEmailPhone,
    ByBillTo,
    DefaultCustomer,
}

/// What a Shopify variant's SKU holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum SkuMapping {
    #[default]
    ItemNo,
    VariantCode,
    /// `ITEM-1/RED`, split at the shop's separator.
    ItemNoVariantCode,
    VendorItemNo,
    Barcode,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum CurrencyHandling {
    #[default]
    ShopCurrency,
    PresentmentCurrency,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum SyncDirection {
    #[default]
    None,
    ToShopify,
    FromShopify,
}

/// How the stock sent to a Shopify location is computed from its ERP locations.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum StockCalculation {
    Disabled,
    #[default]
    OnHand,
    /// On hand minus what open sales documents reserve.
    Free,
}

/// One Shopify location and the ERP locations that feed it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LocationMapping {
    pub shopify_location_id: String,
    /// ERP location codes separated by `|`.
    pub erp_location_filter: String,
    #[serde(default)]
    pub stock_calculation: StockCalculation,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_erp_location: Option<String>,
}

impl LocationMapping {
    /// The ERP location codes of the filter.
    pub fn erp_locations(&self) -> impl Iterator<Item = &str> {
        self.erp_location_filter.split('|').map(str::trim).filter(|s| !s.is_empty())
    }
}

/// What the sync tasks do for one shop. Stored as JSON; fields added later take their
/// defaults when older rows are read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ShopSettings {
    pub allow_background_syncs: bool,
    pub customer_import: CustomerImport,
    pub customer_mapping: CustomerMapping,
    pub default_customer_no: Option<String>,
    pub auto_create_customers: bool,
    pub customer_template: Option<String>,
    pub sku_mapping: SkuMapping,
    pub sku_separator: String,
    pub barcode_fallback: bool,
    pub currency_handling: CurrencyHandling,
    pub product_sync: SyncDirection,
    pub customer_sync: SyncDirection,
    pub shipping_charges_item: Option<String>,
    pub create_fulfilled_orders_as_invoices: bool,
    pub auto_release: bool,
    pub archive_processed_orders: bool,
    pub send_shipping_confirmation: bool,
    pub locations: Vec<LocationMapping>,
    pub auto_create_sales_orders: bool,
    /// Orders are imported when Shopify's webhooks announce them (polling stays on).
    pub order_webhooks: bool,
}

impl Default for ShopSettings {
    fn default() -> Self {
        Self {
            allow_background_syncs: true,
            customer_import: CustomerImport::default(),
            customer_mapping: CustomerMapping::default(),
            default_customer_no: None,
            auto_create_customers: false,
            customer_template: None,
            sku_mapping: SkuMapping::default(),
            sku_separator: "/".to_owned(),
            barcode_fallback: false,
            currency_handling: CurrencyHandling::default(),
            product_sync: SyncDirection::default(),
            customer_sync: SyncDirection::default(),
            shipping_charges_item: None,
            create_fulfilled_orders_as_invoices: false,
            auto_release: false,
            archive_processed_orders: false,
            send_shipping_confirmation: true,
            locations: Vec::new(),
            auto_create_sales_orders: false,
            order_webhooks: false,
        }
    }
}

/// Longest ERP record number or code a setting may name.
const ERP_CODE_MAX: usize = 64;

impl ShopSettings {
    /// Field names are relative to `settings`.
    pub fn validate(&self) -> Result<(), ValidationError> {
        for (field, v) in [
            ("default_customer_no", &self.default_customer_no),
            ("customer_template", &self.customer_template),
            ("shipping_charges_item", &self.shipping_charges_item),
        ] {
            if let Some(v) = v {
                validate_text(field, v, ERP_CODE_MAX)?;
                if v.trim().is_empty() {
                    return Err(ValidationError::new(field, "must not be blank when set"));
                }
            }
        }
        if self.customer_mapping == CustomerMapping::DefaultCustomer
            && self.default_customer_no.is_none()
        {
            return Err(ValidationError::new(
                "default_customer_no",
                "required when customer_mapping is default_customer",
            ));
        }
        if self.auto_create_customers && self.customer_template.is_none() {
            return Err(ValidationError::new(
                "customer_template",
                "required when auto_create_customers is on",
            ));
        }
        validate_text("sku_separator", &self.sku_separator, 4)?;
        if self.sku_mapping == SkuMapping::ItemNoVariantCode && self.sku_separator.is_empty() {
            return Err(ValidationError::new(
                "sku_separator",
                "required when sku_mapping is item_no_variant_code",
            ));
        }
        if self.locations.len() > 200 {
            return Err(ValidationError::new("locations", "at most 200"));
        }
        let mut seen = std::collections::HashSet::new();
        for (i, l) in self.locations.iter().enumerate() {
            let at = |e: ValidationError| e.within(&format!("locations[{i}]"));
            check_gid(
                "shopify_location_id",
                &l.shopify_location_id,
                Some("gid://shopify/Location/"),
            )
            .map_err(at)?;
            if !seen.insert(&l.shopify_location_id) {
                return Err(at(ValidationError::new("shopify_location_id", "mapped twice")));
            }
            validate_text("erp_location_filter", &l.erp_location_filter, 512).map_err(at)?;
            if l.stock_calculation != StockCalculation::Disabled && l.erp_locations().count() == 0 {
                return Err(at(ValidationError::new(
                    "erp_location_filter",
                    "names no ERP location (codes separated by '|')",
                )));
            }
            if let Some(d) = &l.default_erp_location {
                validate_text("default_erp_location", d, ERP_CODE_MAX).map_err(at)?;
            }
        }
        Ok(())
    }
}

/// A shop as the API shows it (credentials never included).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shop {
    pub name: String,
    pub store_domain: String,
    pub api_version: String,
    pub plan: ShopPlan,
    pub enabled: bool,
    pub settings: ShopSettings,
    pub has_access_token: bool,
    pub has_webhook_secret: bool,
    pub key_id: String,
    pub version: i64,
    pub created_at: chrono::DateTime<chrono::Utc>,
    pub updated_at: chrono::DateTime<chrono::Utc>,
}

impl Shop {
    /// The Admin API base URL: `https://{domain}` for a `*.myshopify.com` domain, or the URL
    /// itself when the domain is one (a simulator, a proxy).
    pub fn base_url(&self) -> String {
        if self.store_domain.starts_with("http://") || self.store_domain.starts_with("https://") {
            self.store_domain.trim_end_matches('/').to_owned()
        } else {
            format!("https://{}", self.store_domain)
        }
    }
}

/// What creating or updating a shop sets (besides its credentials).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShopSpec {
    pub store_domain: String,
    pub api_version: String,
    pub plan: ShopPlan,
    pub settings: ShopSettings,
}

impl ShopSpec {
    pub fn validate(&self) -> Result<(), ValidationError> {
        validate_store_domain(&self.store_domain)?;
        validate_api_version(&self.api_version)?;
        self.settings.validate().map_err(|e| e.within("settings"))
    }
}

/// `name.myshopify.com` (a custom domain is accepted too), or an http(s) URL.
pub fn validate_store_domain(d: &str) -> Result<(), ValidationError> {
    const F: &str = "store_domain";
    validate_text(F, d, 255)?;
    let host = d.strip_prefix("https://").or_else(|| d.strip_prefix("http://"));
    let host = host.map(|h| h.trim_end_matches('/')).unwrap_or(d);
    let host = host.split_once(':').map(|(h, _)| h).unwrap_or(host);
    let ok = !host.is_empty()
        && host.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        });
    if !ok {
        return Err(ValidationError::new(
            F,
            format!(
                "{} is not a shop domain (my-shop.myshopify.com) or http(s) URL",
                crate::text::quoted(d)
            ),
        ));
    }
    Ok(())
}

/// Shopify's quarterly versions: `YYYY-01`, `-04`, `-07`, `-10`.
pub fn validate_api_version(v: &str) -> Result<(), ValidationError> {
    let ok = v.len() == 7
        && v.as_bytes()[4] == b'-'
        && v[..4].bytes().all(|b| b.is_ascii_digit())
        && matches!(&v[5..], "01" | "04" | "07" | "10");
    if !ok {
        return Err(ValidationError::new(
            "api_version",
            format!("{} is not a Shopify API version (2026-10)", crate::text::quoted(v)),
        ));
    }
    Ok(())
}

/// A Shopify global id (`gid://shopify/Type/123`), optionally of one type (`prefix`).
pub fn check_gid(field: &str, v: &str, prefix: Option<&str>) -> Result<(), ValidationError> {
    validate_text(field, v, 255)?;
    let Some(rest) = v.strip_prefix("gid://shopify/") else {
        return Err(ValidationError::new(
            field,
            format!("{} is not a Shopify id (gid://shopify/…)", crate::text::quoted(v)),
        ));
    };
    if let Some(p) = prefix
        && !v.starts_with(p)
    {
        return Err(ValidationError::new(
            field,
            format!("{} is not a {p}… id", crate::text::quoted(v)),
        ));
    }
    if !rest.contains('/') {
        return Err(ValidationError::new(field, format!("{} has no id", crate::text::quoted(v))));
    }
    Ok(())
}

/// A shop's name: see [`validate_shop`].
pub fn validate_shop_name(name: &str) -> Result<(), ValidationError> {
    validate_shop(name)?;
    if name.len() > 64 {
        return Err(ValidationError::new("name", "at most 64 characters"));
    }
    Ok(())
}

/// What a link connects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LinkKind {
    Item,
    Customer,
    Company,
    Location,
}

impl LinkKind {
    pub const ALL: [LinkKind; 4] =
        [LinkKind::Item, LinkKind::Customer, LinkKind::Company, LinkKind::Location];

    pub fn as_str(self) -> &'static str {
        match self {
            LinkKind::Item => "item",
            LinkKind::Customer => "customer",
            LinkKind::Company => "company",
            LinkKind::Location => "location",
        }
    }

    /// The GID type of the Shopify side.
    pub fn shopify_type(self) -> &'static str {
        match self {
            LinkKind::Item => "ProductVariant",
            LinkKind::Customer => "Customer",
            LinkKind::Company => "CompanyLocation",
            LinkKind::Location => "Location",
        }
    }
}

impl std::str::FromStr for LinkKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        LinkKind::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| format!("{s:?} is not a link kind (item, customer, company, location)"))
    }
}

/// The ERP side of a link.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ErpKey {
    pub erp_id: String,
    /// A variant code for items; empty otherwise.
    pub erp_variant: String,
}

/// One ERP record linked to one Shopify record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    pub kind: LinkKind,
    pub erp: ErpKey,
    pub shopify_id: String,
    pub shopify_parent_id: Option<String>,
    pub shopify_inventory_item_id: Option<String>,
}

impl Link {
    /// Field names are relative to the link.
    pub fn validate(&self) -> Result<(), ValidationError> {
        validate_text("erp_id", &self.erp.erp_id, ERP_CODE_MAX)?;
        if self.erp.erp_id.trim().is_empty() {
            return Err(ValidationError::new("erp_id", "must not be blank"));
        }
        validate_text("erp_variant", &self.erp.erp_variant, ERP_CODE_MAX)?;
        if self.kind != LinkKind::Item && !self.erp.erp_variant.is_empty() {
            return Err(ValidationError::new("erp_variant", "only items have variants"));
        }
        let prefix = format!("gid://shopify/{}/", self.kind.shopify_type());
        check_gid("shopify_id", &self.shopify_id, Some(&prefix))?;
        if let Some(p) = &self.shopify_parent_id {
            check_gid("shopify_parent_id", p, None)?;
        }
        if let Some(i) = &self.shopify_inventory_item_id {
            check_gid("shopify_inventory_item_id", i, Some("gid://shopify/InventoryItem/"))?;
        }
        Ok(())
    }
}

/// Resources whose sync keeps a cursor per shop.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SyncResource {
    Orders,
    Products,
    Customers,
    Companies,
    Catalogs,
    Payouts,
    Inventory,
    ItemChanges,
    StockChanges,
    Shipments,
}

impl SyncResource {
    pub const ALL: [SyncResource; 10] = [
        SyncResource::Orders,
        SyncResource::Products,
        SyncResource::Customers,
        SyncResource::Companies,
        SyncResource::Catalogs,
        SyncResource::Payouts,
        SyncResource::Inventory,
        SyncResource::ItemChanges,
        SyncResource::StockChanges,
        SyncResource::Shipments,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            SyncResource::Orders => "orders",
            SyncResource::Products => "products",
            SyncResource::Customers => "customers",
            SyncResource::Companies => "companies",
            SyncResource::Catalogs => "catalogs",
            SyncResource::Payouts => "payouts",
            SyncResource::Inventory => "inventory",
            SyncResource::ItemChanges => "item_changes",
            SyncResource::StockChanges => "stock_changes",
            SyncResource::Shipments => "shipments",
        }
    }
}

impl fmt::Display for SyncResource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for SyncResource {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let s = s.replace('-', "_");
        SyncResource::ALL.into_iter().find(|r| r.as_str() == s).ok_or_else(|| {
            let all: Vec<_> = SyncResource::ALL.iter().map(|r| r.as_str()).collect();
            format!("{s:?} is not a sync resource ({})", all.join(", "))
        })
    }
}

/// A cursor value's largest size.
pub const CURSOR_VALUE_MAX: usize = 4096;

/// A stored sync cursor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cursor {
    pub shop: String,
    pub resource: SyncResource,
    pub value: String,
    /// 0 when none is stored.
    pub version: i64,
    pub updated_at: Option<chrono::DateTime<chrono::Utc>>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_default_and_validate() {
        let s = ShopSettings::default();
        assert!(s.allow_background_syncs);
        s.validate().unwrap();
        let bad = ShopSettings {
            customer_mapping: CustomerMapping::DefaultCustomer,
            ..ShopSettings::default()
        };
        assert_eq!(bad.validate().unwrap_err().field, "default_customer_no");
        let bad = ShopSettings {
            locations: vec![LocationMapping {
                shopify_location_id: "gid://shopify/Product/1".into(),
                erp_location_filter: "MAIN".into(),
                stock_calculation: StockCalculation::OnHand,
                default_erp_location: None,
            }],
            ..ShopSettings::default()
        };
        assert_eq!(bad.validate().unwrap_err().field, "locations[0].shopify_location_id");
        // Older rows without newer fields read with defaults.
        let old: ShopSettings = serde_json::from_str(r#"{"auto_release":true}"#).unwrap();
        assert!(old.auto_release && old.allow_background_syncs);
    }

    #[test]
    fn domains_and_versions() {
        validate_store_domain("my-shop.myshopify.com").unwrap();
        validate_store_domain("http://127.0.0.1:3900").unwrap();
        assert!(validate_store_domain("my shop").is_err());
        assert!(validate_store_domain("a\0b.myshopify.com").is_err());
        validate_api_version("2026-10").unwrap();
        assert!(validate_api_version("2026-11").is_err());
    }

    #[test]
    fn links_check_their_gids() {
        let mut l = Link {
            kind: LinkKind::Item,
            erp: ErpKey { erp_id: "MUG-1".into(), erp_variant: "RED".into() },
            shopify_id: "gid://shopify/ProductVariant/7".into(),
            shopify_parent_id: Some("gid://shopify/Product/3".into()),
            shopify_inventory_item_id: Some("gid://shopify/InventoryItem/9".into()),
        };
        l.validate().unwrap();
        l.shopify_id = "gid://shopify/Customer/7".into();
        assert_eq!(l.validate().unwrap_err().field, "shopify_id");
        l.kind = LinkKind::Customer;
        assert_eq!(l.validate().unwrap_err().field, "erp_variant");
    }
}
