//! Orders as customers place them (stock committed, fulfillment orders per location, payment
//! transactions and their Shopify Payments balance transactions), payouts, and order edits of
//! line quantities.

use super::*;

impl Shop {
    /// Place an order as a customer would: it commits stock at the first location and gets
    /// one open fulfillment order there.
    pub fn place_order(
        &mut self,
        customer_id: Option<u64>,
        lines: &[(u64, i64)],
        financial_status: &str,
    ) -> Result<u64, String> {
        let location = *self.locations.keys().next().ok_or("the shop has no location")?;
        let lines: Vec<(u64, Vec<(u64, i64)>)> =
            lines.iter().map(|(v, q)| (*v, vec![(location, *q)])).collect();
        self.place_order_at(customer_id, &lines, financial_status)
    }

    /// Place an order whose lines are assigned to locations: each line is a variant and its
    /// (location, quantity) parts (one line item of their sum). Every location gets one
    /// fulfillment order with its parts, in the order the locations first appear, and its
    /// stock committed; a fulfillment service's location starts with a submitted request.
    pub fn place_order_at(
        &mut self,
        customer_id: Option<u64>,
        lines: &[(u64, Vec<(u64, i64)>)],
        financial_status: &str,
    ) -> Result<u64, String> {
        if lines.is_empty() {
            return Err("an order needs at least one line".into());
        }
        let units = self.units();
        let (items, total) = self.priced_lines(lines, units)?;
        // (location, its fulfillment order's lines), in the order locations first appear.
        let mut by_location: Vec<(u64, Vec<FoLine>)> = Vec::new();
        let mut line_items = Vec::new();
        for (inv, mut li, parts) in items {
            li.id = self.next_id();
            for (location, quantity) in parts {
                let q = self.levels.entry((inv, *location)).or_default();
                q.available -= quantity;
                q.committed += quantity;
                let fo_line = FoLine {
                    id: self.next_id(),
                    line_item_id: li.id,
                    total: *quantity,
                    remaining: *quantity,
                };
                match by_location.iter_mut().find(|(l, _)| l == location) {
                    Some((_, lines)) => lines.push(fo_line),
                    None => by_location.push((*location, vec![fo_line])),
                }
            }
            line_items.push(li);
        }
        let id = self.next_id();
        let mut fulfillment_orders = Vec::new();
        for (location, lines) in by_location {
            let service = self.locations.get(&location).is_some_and(|l| l.fulfillment_service);
            fulfillment_orders.push(FulfillmentOrder {
                id: self.next_id(),
                location_id: location,
                status: "OPEN".into(),
                lines,
                request_status: if service { "SUBMITTED" } else { "UNSUBMITTED" }.into(),
            });
        }
        let at = self.stamp();
        self.next_order_number = self.next_order_number.max(1000) + 1;
        let customer = customer_id.and_then(|c| self.customers.get(&c)).cloned();
        let email = customer.as_ref().map(|c| c.email.clone()).unwrap_or_default();
        let address = customer.as_ref().map(|c| Address {
            first_name: c.first_name.clone(),
            last_name: c.last_name.clone(),
            address1: format!("Nørregade {}", c.id % 90 + 1),
            city: "Copenhagen".into(),
            zip: "1165".into(),
            country_code: "DK".into(),
        });
        // Prices exclude tax here: 25 % VAT on goods and shipping, shipping 4.95 EUR (or as
        // much in the shop's currency). Whole minor units: the total is exactly their sum.
        let shipping = crate::money::from_euro_cents(495, &self.currency);
        let tax = ((total + shipping) as f64 * 0.25).round() as i64;
        let grand = total + shipping + tax;
        let money = |x: i64| crate::money::format(x, units);
        let mut transactions = Vec::new();
        let mut refunds = Vec::new();
        let tx = |kind: &str, status: &str, amount: i64, id: u64| Transaction {
            id,
            kind: kind.into(),
            status: status.into(),
            gateway: "shopify_payments".into(),
            amount: money(amount),
            created_at: at,
        };
        let base = self.next_id;
        match financial_status {
            "PAID" => transactions.push(tx("SALE", "SUCCESS", grand, base + 1)),
            "AUTHORIZED" => transactions.push(tx("AUTHORIZATION", "SUCCESS", grand, base + 1)),
            "PENDING" => transactions.push(tx("SALE", "PENDING", grand, base + 1)),
            "PARTIALLY_REFUNDED" | "REFUNDED" => {
                let back = if financial_status == "REFUNDED" {
                    grand
                } else {
                    (grand as f64 / 3.0).round() as i64
                };
                transactions.push(tx("SALE", "SUCCESS", grand, base + 1));
                transactions.push(tx("REFUND", "SUCCESS", back, base + 2));
                refunds.push(Refund {
                    id: base + 3,
                    amount: money(back),
                    created_at: at,
                    transaction: Some(base + 2),
                    ..Default::default()
                });
            }
            _ => {}
        }
        self.next_id += 3;
        self.orders.insert(
            id,
            Order {
                id,
                number: self.next_order_number,
                email,
                customer_id,
                created_at: at,
                updated_at: at,
                financial_status: financial_status.to_owned(),
                tags: Vec::new(),
                line_items,
                subtotal: money(total),
                shipping: money(shipping),
                tax_lines: vec![("VAT".into(), 0.25, money(tax))],
                total_tax: money(tax),
                total: money(grand),
                transactions,
                refunds,
                address,
                fulfillment_orders,
                fulfillments: Vec::new(),
                closed: false,
                cancelled: false,
                closed_at: None,
                cancelled_at: None,
                note: None,
                po_number: None,
                risk_level: None,
            },
        );
        self.settle(id, at, units);
        Ok(id)
    }

    /// An order's lines checked and priced: (inventory item, line item without its id, the
    /// line's (location, quantity) parts) and the goods' total in minor units.
    #[allow(clippy::type_complexity)]
    fn priced_lines<'l>(
        &self,
        lines: &'l [(u64, Vec<(u64, i64)>)],
        units: u32,
    ) -> Result<(Vec<(u64, LineItem, &'l Vec<(u64, i64)>)>, i64), String> {
        let mut items = Vec::new();
        let mut total: i64 = 0;
        for (variant_id, parts) in lines {
            if parts.is_empty() {
                return Err("a line needs at least one location's quantity".into());
            }
            if let Some((_, q)) = parts.iter().find(|(_, q)| *q <= 0) {
                return Err(format!("quantity {q} must be positive"));
            }
            if let Some((l, _)) = parts.iter().find(|(l, _)| !self.locations.contains_key(l)) {
                return Err(format!("no location {l}"));
            }
            let qty = &parts.iter().map(|(_, q)| q).sum::<i64>();
            let (p, v) = self
                .products
                .values()
                .find_map(|p| p.variants.iter().find(|v| v.id == *variant_id).map(|v| (p, v)))
                .ok_or_else(|| format!("no variant {variant_id}"))?;
            total += crate::money::to_minor(&v.price, units).unwrap_or(0) * *qty;
            items.push((
                v.inventory_item_id,
                LineItem {
                    id: 0,
                    variant_id: Some(v.id),
                    sku: v.sku.clone(),
                    title: p.title.clone(),
                    quantity: *qty,
                    price: v.price.clone(),
                    removed: 0,
                    refunded: 0,
                },
                parts,
            ));
        }
        Ok((items, total))
    }

    /// Settled card payments and refunds of an order become Shopify Payments balance
    /// transactions.
    fn settle(&mut self, id: u64, at: DateTime<Utc>, units: u32) {
        let money = |x: i64| crate::money::format(x, units);
        // Card fees: 2.9 % + 0.25 EUR (or as much in the shop's currency).
        let fixed_fee = crate::money::from_euro_cents(25, &self.currency);
        let settled: Vec<(u64, String, i64)> = self.orders[&id]
            .transactions
            .iter()
            .filter(|t| t.status == "SUCCESS" && (t.kind == "SALE" || t.kind == "REFUND"))
            .map(|t| (t.id, t.kind.clone(), crate::money::to_minor(&t.amount, units).unwrap_or(0)))
            .collect();
        for (tx_id, kind, amount) in settled {
            let (kind, amount, fee) = if kind == "SALE" {
                ("CHARGE", amount, (amount as f64 * 0.029).round() as i64 + fixed_fee)
            } else {
                ("REFUND", -amount, 0)
            };
            self.balance_txs.insert(
                tx_id,
                BalanceTx {
                    id: tx_id,
                    order_id: id,
                    kind: kind.into(),
                    amount: money(amount),
                    fee: money(fee),
                    net: money(amount - fee),
                    at,
                    payout: None,
                },
            );
        }
    }

    /// Pay out every balance transaction not paid out yet, as one payout.
    pub fn pay_out(&mut self) -> Option<u64> {
        let open: Vec<u64> =
            self.balance_txs.values().filter(|b| b.payout.is_none()).map(|b| b.id).collect();
        if open.is_empty() {
            return None;
        }
        let id = self.next_id();
        let at = self.stamp();
        let units = self.units();
        let mut net = 0;
        for b in &open {
            if let Some(tx) = self.balance_txs.get_mut(b) {
                tx.payout = Some(id);
                net += crate::money::to_minor(&tx.net, units).unwrap_or(0);
            }
        }
        self.payouts.insert(
            id,
            Payout {
                id,
                status: "PAID".into(),
                issued_at: at,
                net: crate::money::format(net, units),
            },
        );
        Some(id)
    }

    /// A merchant's order edit: each `(line item id, quantity)` sets the line's current
    /// quantity (fewer units are removed, more are added), before anything of it was
    /// fulfilled beyond the new quantity. Totals and tax follow, the fulfillment order's lines
    /// too; a paid order then has an outstanding balance or a refund owed, as in Shopify.
    pub fn edit_quantities(&mut self, id: u64, changes: &[(u64, i64)]) -> Result<(), String> {
        let units = self.units();
        let at = self.stamp();
        let o = self.orders.get(&id).ok_or_else(|| format!("no order {id}"))?;
        if o.cancelled || o.closed {
            return Err("the order is not editable (cancelled or closed)".into());
        }
        for (line, q) in changes {
            let l = o
                .line_items
                .iter()
                .find(|l| l.id == *line)
                .ok_or_else(|| format!("no line item {line} on the order"))?;
            if *q < 0 {
                return Err(format!("line item {line}: quantity {q} must not be negative"));
            }
            let shipped: i64 = o
                .fulfillment_orders
                .iter()
                .flat_map(|f| &f.lines)
                .filter(|f| f.line_item_id == l.id)
                .map(|f| f.total - f.remaining)
                .sum();
            if *q < shipped {
                return Err(format!("line item {line}: {shipped} already fulfilled"));
            }
        }
        let Some(o) = self.orders.get_mut(&id) else { return Err(format!("no order {id}")) };
        for (line, q) in changes {
            if let Some(l) = o.line_items.iter_mut().find(|l| l.id == *line) {
                let diff = *q - l.current();
                if diff > 0 {
                    l.quantity += diff;
                } else {
                    l.removed -= diff;
                }
                // Added units go to the line's first fulfillment order line; removed ones come
                // out of what remains, the last location's first (a line may be split).
                let mut fo_lines: Vec<&mut FoLine> = o
                    .fulfillment_orders
                    .iter_mut()
                    .flat_map(|f| f.lines.iter_mut())
                    .filter(|f| f.line_item_id == l.id)
                    .collect();
                if diff > 0 {
                    if let Some(f) = fo_lines.first_mut() {
                        f.total += diff;
                        f.remaining += diff;
                    }
                } else {
                    let mut left = -diff;
                    for f in fo_lines.iter_mut().rev() {
                        let take = left.min(f.remaining);
                        f.total -= take;
                        f.remaining -= take;
                        left -= take;
                    }
                }
            }
        }
        let subtotal: i64 = o
            .line_items
            .iter()
            .map(|l| crate::money::to_minor(&l.price, units).unwrap_or(0) * l.ordered())
            .sum();
        let shipping = crate::money::to_minor(&o.shipping, units).unwrap_or(0);
        let tax = ((subtotal + shipping) as f64 * 0.25).round() as i64;
        let money = |x: i64| crate::money::format(x, units);
        o.subtotal = money(subtotal);
        o.tax_lines = vec![("VAT".into(), 0.25, money(tax))];
        o.total_tax = money(tax);
        o.total = money(subtotal + shipping + tax);
        o.updated_at = at;
        Ok(())
    }
}
