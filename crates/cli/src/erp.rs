//! `shopsync items|customers|orders|post`: the everyday ERP cases, against the posting
//! service's `Erp` and `Posting` APIs.

use crate::{print_json, rpc};
use anyhow::{Context, Result, bail};
use clap::{Subcommand, ValueEnum};
use comfy_table::{Table, presets::UTF8_BORDERS_ONLY};
use shopsync_proto::pb;
use shopsync_runtime::client::AuthedChannel;
use std::collections::HashMap;

pub type ErpClient = pb::erp_client::ErpClient<AuthedChannel>;
pub type PostingClient = pb::posting_client::PostingClient<AuthedChannel>;

#[derive(Subcommand)]
pub enum Items {
    /// List items (blocked ones with --all).
    List {
        #[arg(long, default_value = "")]
        search: String,
        #[arg(long)]
        all: bool,
        #[arg(long, default_value_t = 100)]
        limit: u32,
    },
    /// An item with its variants, units, prices and stock.
    Show { no: String },
    /// Items by exact SKU or barcode (their variants' included); repeat the options.
    Find {
        #[arg(long)]
        sku: Vec<String>,
        #[arg(long)]
        barcode: Vec<String>,
    },
    Create {
        no: String,
        #[arg(long, default_value = "")]
        description: String,
        /// List price per base unit, in minor units (cents).
        #[arg(long)]
        price: i64,
        /// Unit cost, in minor units.
        #[arg(long, default_value_t = 0)]
        cost: i64,
        #[arg(long)]
        currency: String,
        #[arg(long, default_value = "")]
        sku: String,
    },
    /// Post a stock adjustment (positive adds, negative removes).
    Adjust {
        no: String,
        #[arg(long)]
        location: String,
        #[arg(long, allow_hyphen_values = true)]
        qty: i64,
        #[arg(long, default_value = "")]
        variant: String,
        /// Makes a repeated call a no-op.
        #[arg(long, default_value = "")]
        key: String,
    },
}

#[derive(Subcommand)]
pub enum Customers {
    List {
        #[arg(long, default_value = "")]
        search: String,
        #[arg(long)]
        all: bool,
        #[arg(long, default_value_t = 100)]
        limit: u32,
    },
    Show {
        no: String,
    },
    /// Customers by e-mail address or phone number, normalised (case and spaces of an
    /// address, everything but the digits and a leading + of a number); repeat the options.
    Find {
        #[arg(long)]
        email: Vec<String>,
        #[arg(long)]
        phone: Vec<String>,
    },
    Create {
        no: String,
        #[arg(long)]
        name: String,
        #[arg(long, default_value = "")]
        email: String,
        #[arg(long)]
        currency: String,
        #[arg(long, default_value = "")]
        price_group: String,
    },
}

#[derive(Clone, Copy, ValueEnum)]
pub enum DocStatus {
    Open,
    Released,
    Posted,
}

#[derive(Subcommand)]
pub enum Orders {
    /// Sales orders, invoices and credit memos.
    List {
        #[arg(long, value_enum)]
        status: Option<DocStatus>,
        #[arg(long, default_value = "")]
        customer: String,
        #[arg(long, default_value = "")]
        shop: String,
        /// Only documents of Shopify orders.
        #[arg(long)]
        shopify: bool,
        #[arg(long, default_value_t = 100)]
        limit: u32,
    },
    Show {
        no: String,
    },
    /// Create a sales order (or --invoice) from lines ITEM:QTY[:LOCATION[:PRICE]].
    Create {
        #[arg(long)]
        customer: String,
        /// The shop (sales channel) the document belongs to; batch posting jobs select by it.
        #[arg(long)]
        shop: String,
        #[arg(long = "line", required = true)]
        lines: Vec<String>,
        #[arg(long, default_value = "MAIN")]
        location: String,
        #[arg(long, default_value_t = 0)]
        shopify_order_id: i64,
        #[arg(long, default_value = "")]
        shopify_order_no: String,
        /// A sales invoice instead of an order.
        #[arg(long)]
        invoice: bool,
        #[arg(long)]
        release: bool,
    },
    Release {
        no: String,
    },
    Reopen {
        no: String,
    },
    Delete {
        no: String,
    },
    /// Set how an order's next shipment travels (no options: clear it).
    Track {
        no: String,
        #[arg(long, default_value = "")]
        company: String,
        #[arg(long, default_value = "")]
        number: String,
        #[arg(long, default_value = "")]
        url: String,
    },
}

/// `ITEM:QTY[:LOCATION[:PRICE]]`, price in minor units.
fn parse_line(s: &str, default_location: &str) -> Result<pb::SalesLine> {
    let parts: Vec<&str> = s.split(':').collect();
    if parts.len() < 2 || parts.len() > 4 || parts[0].is_empty() {
        bail!("{s:?} is not ITEM:QTY[:LOCATION[:PRICE]]");
    }
    let quantity: i64 = parts[1].parse().with_context(|| format!("quantity {:?}", parts[1]))?;
    let location = parts.get(2).filter(|l| !l.is_empty()).copied().unwrap_or(default_location);
    let unit_price_minor = match parts.get(3) {
        Some(p) => Some(p.parse::<i64>().with_context(|| format!("price {p:?}"))?),
        None => None,
    };
    Ok(pb::SalesLine {
        item_no: parts[0].to_owned(),
        location_code: location.to_owned(),
        quantity,
        unit_price_minor,
        ..Default::default()
    })
}

#[derive(Subcommand)]
pub enum Locations {
    List,
    Create {
        code: String,
        #[arg(long, default_value = "")]
        name: String,
        /// Refuse postings that would take stock below zero here.
        #[arg(long)]
        prevent_negative_stock: bool,
    },
}

pub async fn locations(c: &mut ErpClient, cmd: &Locations, json: bool) -> Result<()> {
    match cmd {
        Locations::List => {
            let r = c.list_locations(list_req("", true, 1000)).await.map_err(rpc)?.into_inner();
            if json {
                print_json(&r.locations);
                return Ok(());
            }
            let mut t = table(&["code", "name", "negative stock"]);
            for l in &r.locations {
                t.add_row(vec![
                    l.code.clone(),
                    l.name.clone(),
                    if l.prevent_negative_stock { "refused".into() } else { "allowed".into() },
                ]);
            }
            out!("{t}");
        }
        Locations::Create { code, name, prevent_negative_stock } => {
            let l = c
                .create_location(pb::Location {
                    code: code.clone(),
                    name: name.clone(),
                    prevent_negative_stock: *prevent_negative_stock,
                    ..Default::default()
                })
                .await
                .map_err(rpc)?
                .into_inner();
            if json { print_json(&l) } else { out!("created location {}", l.code) }
        }
    }
    Ok(())
}

fn list_req(search: &str, all: bool, limit: u32) -> pb::ListRequest {
    pb::ListRequest {
        search: search.to_owned(),
        include_blocked: all,
        page_size: limit,
        page_token: String::new(),
    }
}

fn money(minor: i64, currency: &str) -> String {
    let sign = if minor < 0 { "-" } else { "" };
    format!("{sign}{}.{:02} {currency}", minor.abs() / 100, minor.abs() % 100)
}

fn table(header: &[&str]) -> Table {
    let mut t = Table::new();
    t.load_preset(UTF8_BORDERS_ONLY);
    t.set_header(header.to_vec());
    t
}

fn doc_status(v: i32) -> String {
    pb::DocumentStatus::try_from(v)
        .map(|s| s.as_str_name().trim_start_matches("DOCUMENT_STATUS_").to_lowercase())
        .unwrap_or_default()
}

fn doc_type(v: i32) -> String {
    pb::DocumentType::try_from(v)
        .map(|s| s.as_str_name().trim_start_matches("DOCUMENT_TYPE_").to_lowercase())
        .unwrap_or_default()
}

/// A lookup by exact keys as rows `by, key, …match`: one per match, `(none)` for a key
/// nothing matched.
fn lookup_rows<M>(
    t: &mut Table,
    by: &str,
    keys: &[String],
    found: &HashMap<String, M>,
    matches: impl Fn(&M) -> Vec<Vec<String>>,
) {
    for k in keys {
        let mut none = true;
        for row in found.get(k).map(&matches).unwrap_or_default() {
            none = false;
            t.add_row([vec![by.to_owned(), k.clone()], row].concat());
        }
        if none {
            t.add_row(vec![by.to_owned(), k.clone(), "(none)".into()]);
        }
    }
}

pub async fn items(c: &mut ErpClient, cmd: &Items, json: bool) -> Result<()> {
    match cmd {
        Items::List { search, all, limit } => {
            let r = c.list_items(list_req(search, *all, *limit)).await.map_err(rpc)?.into_inner();
            if json {
                print_json(&r.items);
                return Ok(());
            }
            let mut t = table(&["no.", "description", "price", "cost", "sku", "blocked"]);
            for i in &r.items {
                t.add_row(vec![
                    i.no.clone(),
                    i.description.clone(),
                    money(i.unit_price_minor, &i.currency),
                    money(i.unit_cost_minor, &i.currency),
                    i.sku.clone(),
                    if i.blocked { "yes".into() } else { String::new() },
                ]);
            }
            out!("{t}");
        }
        Items::Find { sku, barcode } => {
            if sku.is_empty() && barcode.is_empty() {
                bail!("give at least one --sku or --barcode");
            }
            let r = c
                .find_items(pb::FindItemsRequest { skus: sku.clone(), barcodes: barcode.clone() })
                .await
                .map_err(rpc)?
                .into_inner();
            if json {
                print_json(&r);
                return Ok(());
            }
            let mut t = table(&["by", "value", "item", "variant", "description"]);
            for (by, keys, found) in [("sku", sku, &r.by_sku), ("barcode", barcode, &r.by_barcode)]
            {
                lookup_rows(&mut t, by, keys, found, |m: &pb::ItemMatches| {
                    m.matches
                        .iter()
                        .map(|m| {
                            let i = m.item.clone().unwrap_or_default();
                            vec![i.no, m.variant_code.clone(), i.description]
                        })
                        .collect()
                });
            }
            out!("{t}");
        }
        Items::Show { no } => show_item(c, no, json).await?,
        Items::Create { no, description, price, cost, currency, sku } => {
            let i = c
                .create_item(pb::Item {
                    no: no.clone(),
                    description: description.clone(),
                    unit_price_minor: *price,
                    unit_cost_minor: *cost,
                    currency: currency.clone(),
                    sku: sku.clone(),
                    ..Default::default()
                })
                .await
                .map_err(rpc)?
                .into_inner();
            if json { print_json(&i) } else { out!("created item {}", i.no) }
        }
        Items::Adjust { no, location, qty, variant, key } => {
            let r = c
                .post_stock_adjustment(pb::StockAdjustmentRequest {
                    lines: vec![pb::StockAdjustmentLine {
                        item_no: no.clone(),
                        variant_code: variant.clone(),
                        location_code: location.clone(),
                        quantity: *qty,
                        unit_cost_minor: None,
                    }],
                    idempotency_key: key.clone(),
                    ..Default::default()
                })
                .await
                .map_err(rpc)?
                .into_inner();
            if json {
                print_json(&r);
                return Ok(());
            }
            let nos: Vec<String> = r.entries.iter().map(|e| e.entry_no.to_string()).collect();
            if r.posted {
                out!("posted item ledger entry {}", nos.join(", "));
            } else {
                out!("already posted with this key: entry {}", nos.join(", "));
            }
        }
    }
    Ok(())
}

/// An item with its units, variants, prices and stock per variant and location.
async fn show_item(c: &mut ErpClient, no: &str, json: bool) -> Result<()> {
    let i = c.get_item(pb::GetRequest { no: no.to_owned() }).await.map_err(rpc)?.into_inner();
    let stock = c
        .get_stock(pb::GetStockRequest { item_no: no.to_owned(), location_code: String::new() })
        .await
        .map_err(rpc)?
        .into_inner();
    if json {
        print_json(&i);
        print_json(&stock.levels);
        return Ok(());
    }
    let mut t = table(&["field", "value"]);
    t.add_row(vec!["no.".into(), i.no.clone()]);
    t.add_row(vec!["description".into(), i.description.clone()]);
    t.add_row(vec!["list price".into(), money(i.unit_price_minor, &i.currency)]);
    t.add_row(vec!["unit cost".into(), money(i.unit_cost_minor, &i.currency)]);
    t.add_row(vec!["base unit".into(), i.base_unit_of_measure.clone()]);
    let uoms: Vec<String> =
        i.units_of_measure.iter().map(|u| format!("{} ({})", u.code, u.qty_per_unit)).collect();
    t.add_row(vec!["units".into(), uoms.join(", ")]);
    let variants: Vec<String> = i.variants.iter().map(|v| v.code.clone()).collect();
    t.add_row(vec!["variants".into(), variants.join(", ")]);
    t.add_row(vec!["blocked".into(), i.blocked.to_string()]);
    t.add_row(vec!["version".into(), i.version.to_string()]);
    out!("{t}");
    if !i.sales_prices.is_empty() {
        let mut p = table(&["price group", "variant", "from qty", "price"]);
        for s in &i.sales_prices {
            p.add_row(vec![
                if s.customer_price_group.is_empty() {
                    "(all)".into()
                } else {
                    s.customer_price_group.clone()
                },
                s.variant_code.clone(),
                s.minimum_quantity.to_string(),
                money(s.unit_price_minor, &s.currency),
            ]);
        }
        out!("{p}");
    }
    let mut s = table(&["variant", "location", "on hand"]);
    for l in &stock.levels {
        s.add_row(vec![
            l.variant_code.clone(),
            l.location_code.clone(),
            l.quantity_on_hand.to_string(),
        ]);
    }
    out!("{s}");
    Ok(())
}

pub async fn customers(c: &mut ErpClient, cmd: &Customers, json: bool) -> Result<()> {
    match cmd {
        Customers::List { search, all, limit } => {
            let r =
                c.list_customers(list_req(search, *all, *limit)).await.map_err(rpc)?.into_inner();
            if json {
                print_json(&r.customers);
                return Ok(());
            }
            let mut t = table(&["no.", "name", "email", "price group", "currency", "blocked"]);
            for x in &r.customers {
                t.add_row(vec![
                    x.no.clone(),
                    x.name.clone(),
                    x.email.clone(),
                    x.customer_price_group.clone(),
                    x.currency.clone(),
                    if x.blocked { "yes".into() } else { String::new() },
                ]);
            }
            out!("{t}");
        }
        Customers::Find { email, phone } => {
            if email.is_empty() && phone.is_empty() {
                bail!("give at least one --email or --phone");
            }
            let r = c
                .find_customers(pb::FindCustomersRequest {
                    emails: email.clone(),
                    phones: phone.clone(),
                })
                .await
                .map_err(rpc)?
                .into_inner();
            if json {
                print_json(&r);
                return Ok(());
            }
            let mut t = table(&["by", "value", "customer", "name", "email", "phone"]);
            for (by, keys, found) in [("email", email, &r.by_email), ("phone", phone, &r.by_phone)]
            {
                lookup_rows(&mut t, by, keys, found, |m: &pb::CustomerMatches| {
                    m.customers
                        .iter()
                        .map(|x| {
                            vec![x.no.clone(), x.name.clone(), x.email.clone(), x.phone.clone()]
                        })
                        .collect()
                });
            }
            out!("{t}");
        }
        Customers::Show { no } => {
            let x =
                c.get_customer(pb::GetRequest { no: no.clone() }).await.map_err(rpc)?.into_inner();
            print_json(&x);
        }
        Customers::Create { no, name, email, currency, price_group } => {
            let x = c
                .create_customer(pb::Customer {
                    no: no.clone(),
                    name: name.clone(),
                    email: email.clone(),
                    currency: currency.clone(),
                    customer_price_group: price_group.clone(),
                    ..Default::default()
                })
                .await
                .map_err(rpc)?
                .into_inner();
            if json { print_json(&x) } else { out!("created customer {}", x.no) }
        }
    }
    Ok(())
}

fn docs_table(docs: &[pb::SalesDocument]) -> Table {
    let mut t = table(&[
        "no.",
        "type",
        "status",
        "customer",
        "shop",
        "Shopify order",
        "posting date",
        "amount",
    ]);
    for d in docs {
        t.add_row(vec![
            d.no.clone(),
            doc_type(d.r#type),
            doc_status(d.status),
            d.sell_to_customer_no.clone(),
            d.shop.clone(),
            d.shopify_order_no.clone(),
            d.posting_date.clone(),
            money(d.amount_minor, &d.currency),
        ]);
    }
    t
}

fn show_doc(d: &pb::SalesDocument) {
    out!("{}", docs_table(std::slice::from_ref(d)));
    if d.shopify_refund_id != 0 {
        out!("Shopify refund {}", d.shopify_refund_id);
    }
    if !d.applies_to_doc_no.is_empty() {
        out!("applies to posted invoice {}", d.applies_to_doc_no);
    }
    if let Some(t) = &d.tracking {
        out!("tracking: {} {} {}", t.company, t.number, t.url);
    }
    let mut t = table(&[
        "line",
        "item",
        "variant",
        "location",
        "qty",
        "unit",
        "price",
        "amount",
        "shipped",
        "invoiced",
        "Shopify line",
        "return",
    ]);
    for l in &d.lines {
        t.add_row(vec![
            l.line_no.to_string(),
            l.item_no.clone(),
            l.variant_code.clone(),
            l.location_code.clone(),
            l.quantity.to_string(),
            l.unit_of_measure.clone(),
            money(l.unit_price_minor.unwrap_or(0), &d.currency),
            money(l.amount_minor, &d.currency),
            l.quantity_shipped.to_string(),
            l.quantity_invoiced.to_string(),
            if l.shopify_order_line_id == 0 {
                String::new()
            } else {
                l.shopify_order_line_id.to_string()
            },
            if l.return_to_stock { "to stock".to_owned() } else { String::new() },
        ]);
    }
    out!("{t}");
}

pub async fn orders(c: &mut ErpClient, cmd: &Orders, json: bool) -> Result<()> {
    let doc_ref = |no: &str| pb::DocumentRef { no: no.to_owned(), expected_version: 0 };
    match cmd {
        Orders::List { status, customer, shop, shopify, limit } => {
            let status = match status {
                None => 0,
                Some(DocStatus::Open) => pb::DocumentStatus::Open as i32,
                Some(DocStatus::Released) => pb::DocumentStatus::Released as i32,
                Some(DocStatus::Posted) => pb::DocumentStatus::Posted as i32,
            };
            let r = c
                .list_sales_documents(pb::ListSalesDocumentsRequest {
                    status,
                    customer_no: customer.clone(),
                    shop: shop.clone(),
                    shopify_only: *shopify,
                    page_size: *limit,
                    ..Default::default()
                })
                .await
                .map_err(rpc)?
                .into_inner();
            if json { print_json(&r.documents) } else { out!("{}", docs_table(&r.documents)) }
        }
        Orders::Show { no } => {
            let d = c.get_sales_document(doc_ref(no)).await.map_err(rpc)?.into_inner();
            if json { print_json(&d) } else { show_doc(&d) }
        }
        Orders::Create {
            customer,
            shop,
            lines,
            location,
            shopify_order_id,
            shopify_order_no,
            invoice,
            release,
        } => {
            let lines = lines
                .iter()
                .enumerate()
                .map(|(i, l)| parse_line(l, location).with_context(|| format!("--line #{}", i + 1)))
                .collect::<Result<Vec<_>>>()?;
            let r = c
                .create_sales_document(pb::CreateSalesDocumentRequest {
                    document: Some(pb::SalesDocument {
                        r#type: if *invoice {
                            pb::DocumentType::Invoice as i32
                        } else {
                            pb::DocumentType::Order as i32
                        },
                        shop: shop.clone(),
                        shopify_order_id: *shopify_order_id,
                        shopify_order_no: shopify_order_no.clone(),
                        sell_to_customer_no: customer.clone(),
                        lines,
                        ..Default::default()
                    }),
                    release: *release,
                })
                .await
                .map_err(rpc)?
                .into_inner();
            let d = r.document.unwrap_or_default();
            if json {
                print_json(&d);
            } else {
                if !r.created {
                    out!("the Shopify order already has a document:");
                }
                show_doc(&d);
            }
        }
        Orders::Release { no } => {
            let d = c.release_sales_document(doc_ref(no)).await.map_err(rpc)?.into_inner();
            out!("{} is {}", d.no, doc_status(d.status));
        }
        Orders::Reopen { no } => {
            let d = c.reopen_sales_document(doc_ref(no)).await.map_err(rpc)?.into_inner();
            out!("{} is {}", d.no, doc_status(d.status));
        }
        Orders::Delete { no } => {
            c.delete_sales_document(doc_ref(no)).await.map_err(rpc)?;
            out!("deleted {no}");
        }
        Orders::Track { no, company, number, url } => {
            let d = c
                .set_sales_document_tracking(pb::SetTrackingRequest {
                    no: no.clone(),
                    tracking: Some(pb::Tracking {
                        company: company.clone(),
                        number: number.clone(),
                        url: url.clone(),
                    }),
                    expected_version: 0,
                })
                .await
                .map_err(rpc)?
                .into_inner();
            if json { print_json(&d) } else { show_doc(&d) }
        }
    }
    Ok(())
}

pub async fn post(
    c: &mut PostingClient,
    no: &str,
    ship: bool,
    invoice: bool,
    posting_date: &str,
    json: bool,
) -> Result<()> {
    if !ship && !invoice {
        bail!("choose --ship, --invoice or both");
    }
    let r = c
        .post_sales_document(pb::PostSalesDocumentRequest {
            no: no.to_owned(),
            ship,
            invoice,
            posting_date: posting_date.to_owned(),
            tracking: None,
        })
        .await
        .map_err(rpc)
        .with_context(|| format!("posting {no}"))?
        .into_inner();
    if json {
        print_json(&r);
        return Ok(());
    }
    if !r.shipment_no.is_empty() {
        out!("posted shipment {}", r.shipment_no);
    }
    if !r.invoice_no.is_empty() {
        out!("posted invoice {}", r.invoice_no);
    }
    if !r.credit_memo_no.is_empty() {
        out!("posted credit memo {}", r.credit_memo_no);
    }
    if let Some(d) = &r.document {
        out!("{} is {}", d.no, doc_status(d.status));
    }
    Ok(())
}
