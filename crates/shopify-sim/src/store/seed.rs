//! Generated shop data with a fixed seed (the same seed, the same shop): locations, products
//! and customers, B2B companies with catalogs and price lists, orders in a realistic mix of
//! payment states.

use super::*;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

impl Shop {
    /// Add generated data with a fixed seed: the same seed gives the same shop.
    pub fn seed(&mut self, seed: u64, products: usize, customers: usize) {
        let mut rng = StdRng::seed_from_u64(seed);
        if self.locations.is_empty() {
            for name in ["Main warehouse", "Copenhagen store"] {
                let id = self.next_id();
                let created_at = self.stamp();
                let l = Location {
                    id,
                    name: name.into(),
                    active: true,
                    created_at,
                    fulfillment_service: false,
                };
                self.locations.insert(id, l);
            }
        }
        let location_ids: Vec<u64> = self.locations.keys().copied().collect();
        const VENDORS: [&str; 4] = ["Nordic Goods", "Acme", "Hafnia Supply", "Bike Works"];
        const KINDS: [&str; 5] = ["Chair", "Lamp", "Table", "Bicycle", "Mug"];
        const COLOURS: [&str; 4] = ["Red", "Blue", "Oak", "Black"];
        let units = self.units();
        for i in 0..products {
            let id = self.next_id();
            let kind = KINDS[rng.random_range(0..KINDS.len())];
            let title = format!("{} {kind} {}", COLOURS[rng.random_range(0..COLOURS.len())], i + 1);
            let n_variants = rng.random_range(1..=3u32);
            let mut variants = Vec::new();
            for v in 0..n_variants {
                let vid = self.next_id();
                let inv = self.next_id();
                variants.push(Variant {
                    id: vid,
                    title: if n_variants == 1 {
                        "Default Title".into()
                    } else {
                        format!("Size {}", v + 1)
                    },
                    sku: format!("SKU-{}-{}", i + 1, v + 1),
                    price: {
                        let (whole, frac): (i32, i32) =
                            (rng.random_range(5..500), rng.random_range(0..100));
                        let euro_cents = i64::from(whole) * 100 + i64::from(frac);
                        let minor = crate::money::from_euro_cents(euro_cents, &self.currency);
                        crate::money::format(minor, units)
                    },
                    inventory_item_id: inv,
                    tracked: true,
                    position: v + 1,
                    barcode: None,
                    compare_at_price: None,
                });
                for l in &location_ids {
                    let q = Quantities { available: rng.random_range(0..50), ..Default::default() };
                    self.levels.insert((inv, *l), q);
                }
            }
            let at = self.stamp();
            let handle = title.to_lowercase().replace(' ', "-");
            // One to three images each, already processed.
            let media = (0..rng.random_range(1..=3u32))
                .map(|n| Media {
                    id: self.next_id(),
                    alt: format!("{title}, view {}", n + 1),
                    source: format!("https://cdn.shopify.com/s/files/1/sim/{handle}-{}.jpg", n + 1),
                    created_at: at,
                    processing_at: 0.0,
                    ready_at: 0.0,
                    error: None,
                })
                .collect();
            self.products.insert(
                id,
                Product {
                    id,
                    handle,
                    title,
                    status: if rng.random_bool(0.9) { "ACTIVE" } else { "DRAFT" }.into(),
                    vendor: VENDORS[rng.random_range(0..VENDORS.len())].into(),
                    product_type: kind.into(),
                    tags: if rng.random_bool(0.2) { vec!["sale".into()] } else { vec![] },
                    created_at: at,
                    updated_at: at,
                    variants,
                    media,
                    description_html: String::new(),
                    option_names: Vec::new(),
                },
            );
        }
        // E-mails are unique in a shop: seeding again continues the numbering.
        let taken: std::collections::HashSet<String> =
            self.customers.values().map(|c| c.email.to_ascii_lowercase()).collect();
        let mut n = 0;
        for _ in 0..customers {
            n += 1;
            while taken.contains(&format!("customer{n}@example.com")) {
                n += 1;
            }
            let id = self.next_id();
            let at = self.stamp();
            self.customers.insert(
                id,
                Customer {
                    id,
                    first_name: format!("Customer{n}"),
                    last_name: "Test".into(),
                    email: format!("customer{n}@example.com"),
                    tags: if rng.random_bool(0.1) { vec!["b2b".into()] } else { vec![] },
                    created_at: at,
                    updated_at: at,
                    ..Default::default()
                },
            );
        }
    }

    /// B2B: companies with one or two locations and a main contact, each with a catalog whose
    /// price list fixes lower prices for about half of the variants.
    pub fn seed_b2b(&mut self, seed: u64, n: usize) {
        let mut rng = StdRng::seed_from_u64(seed ^ 0xb2b);
        let units = self.units();
        let variants: Vec<(u64, i64)> = self
            .products
            .values()
            .flat_map(|p| {
                p.variants
                    .iter()
                    .map(|v| (v.id, crate::money::to_minor(&v.price, units).unwrap_or(0)))
            })
            .collect();
        // Seeding again continues the numbering: buyers' e-mails and external ids stay unique.
        let offset = self.companies.len();
        for i in offset..offset + n {
            let id = self.next_id();
            let at = self.stamp();
            let mut locations = Vec::new();
            for l in 0..rng.random_range(1..=2) {
                let lid = self.next_id();
                locations.push(CompanyLocation {
                    id: lid,
                    name: format!("Site {}", l + 1),
                    external_id: Some(format!("C{:04}-{}", i + 1, l + 1)),
                    catalogs: Vec::new(),
                    billing_address: None,
                    shipping_address: None,
                    note: None,
                    phone: None,
                });
            }
            let customer = self.next_id();
            let cat = self.stamp();
            self.customers.insert(
                customer,
                Customer {
                    id: customer,
                    first_name: format!("Buyer{}", i + 1),
                    last_name: "B2B".into(),
                    email: format!("buyer{}@company{}.example", i + 1, i + 1),
                    tags: vec!["b2b".into()],
                    created_at: cat,
                    updated_at: cat,
                    ..Default::default()
                },
            );
            let contact = self.next_id();
            let list = self.next_id();
            let mut prices = BTreeMap::new();
            for (v, price) in &variants {
                if rng.random_bool(0.5) {
                    let lower = (*price as f64 * 0.9).round() as i64;
                    prices.insert(*v, crate::money::format(lower, units));
                }
            }
            let name = format!("Company {}", i + 1);
            self.price_lists.insert(
                list,
                PriceList {
                    id: list,
                    name: format!("{name} prices"),
                    currency: self.currency.clone(),
                    prices,
                },
            );
            let catalog = self.next_id();
            for l in &mut locations {
                l.catalogs.push(catalog);
            }
            self.catalogs.insert(
                catalog,
                Catalog {
                    id: catalog,
                    title: format!("{name} catalog"),
                    status: "ACTIVE".into(),
                    price_list: Some(list),
                    locations: locations.iter().map(|l| (id, l.id)).collect(),
                },
            );
            self.companies.insert(
                id,
                Company {
                    id,
                    name,
                    external_id: Some(format!("C{:04}", i + 1)),
                    created_at: at,
                    updated_at: at,
                    locations,
                    contacts: vec![Contact { id: contact, customer_id: customer, main: true }],
                    ..Default::default()
                },
            );
        }
    }

    /// Generated orders in a realistic mix of payment states, from the seeded catalogue.
    pub fn seed_orders(&mut self, seed: u64, n: usize) {
        let mut rng = StdRng::seed_from_u64(seed ^ 0x5eed);
        let variants: Vec<u64> =
            self.products.values().flat_map(|p| p.variants.iter().map(|v| v.id)).collect();
        let customers: Vec<u64> = self.customers.keys().copied().collect();
        if variants.is_empty() {
            return;
        }
        for _ in 0..n {
            let k = rng.random_range(1..=3usize);
            let lines: Vec<(u64, i64)> = (0..k)
                .map(|_| (variants[rng.random_range(0..variants.len())], rng.random_range(1..=3)))
                .collect();
            let mut lines_unique: Vec<(u64, i64)> = Vec::new();
            for (v, q) in lines {
                if !lines_unique.iter().any(|(u, _)| *u == v) {
                    lines_unique.push((v, q));
                }
            }
            let status = match rng.random_range(0..100) {
                0..70 => "PAID",
                70..85 => "PENDING",
                85..95 => "PARTIALLY_REFUNDED",
                _ => "AUTHORIZED",
            };
            let customer =
                (!customers.is_empty()).then(|| customers[rng.random_range(0..customers.len())]);
            let _ = self.place_order(customer, &lines_unique, status);
        }
        self.pay_out();
    }
}
