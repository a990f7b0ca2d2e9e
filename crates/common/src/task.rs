//! The sync tasks, which service runs each, and what each one writes.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// Every task the job queue can run. `Test` is the built-in no-op/sleep task each worker serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, PartialOrd, Ord)]
#[serde(rename_all = "snake_case")]
pub enum Task {
    SyncOrders,
    CreateSalesOrders,
    SyncShipments,
    SyncProducts,
    SyncInventory,
    SyncImages,
    SyncCustomers,
    SyncCompanies,
    SyncPayments,
    SyncCatalogs,
    SyncCatalogPrices,
    BatchPostSalesOrders,
    BatchPostSalesInvoices,
    Test,
}

/// The services that run tasks (the scheduler dispatches to them over gRPC `Worker`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, PartialOrd, Ord)]
#[serde(rename_all = "snake_case")]
pub enum Service {
    OrderSync,
    ProductSync,
    InventorySync,
    Posting,
}

/// Data a task writes. Two tasks of the same shop that write a common resource never run at
/// the same time; tasks with disjoint writes run in parallel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, PartialOrd, Ord)]
#[serde(rename_all = "snake_case")]
pub enum Resource {
    Orders,
    Customers,
    Companies,
    Items,
    Prices,
    Stock,
    Images,
    Fulfillments,
    Payments,
    Catalogs,
    CatalogPrices,
    SalesDocuments,
    Ledger,
}

impl Task {
    pub const ALL: [Task; 14] = [
        Task::SyncOrders,
        Task::CreateSalesOrders,
        Task::SyncShipments,
        Task::SyncProducts,
        Task::SyncInventory,
        Task::SyncImages,
        Task::SyncCustomers,
        Task::SyncCompanies,
        Task::SyncPayments,
        Task::SyncCatalogs,
        Task::SyncCatalogPrices,
        Task::BatchPostSalesOrders,
        Task::BatchPostSalesInvoices,
        Task::Test,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Task::SyncOrders => "sync_orders",
            Task::CreateSalesOrders => "create_sales_orders",
            Task::SyncShipments => "sync_shipments",
            Task::SyncProducts => "sync_products",
            Task::SyncInventory => "sync_inventory",
            Task::SyncImages => "sync_images",
            Task::SyncCustomers => "sync_customers",
            Task::SyncCompanies => "sync_companies",
            Task::SyncPayments => "sync_payments",
            Task::SyncCatalogs => "sync_catalogs",
            Task::SyncCatalogPrices => "sync_catalog_prices",
            Task::BatchPostSalesOrders => "batch_post_sales_orders",
            Task::BatchPostSalesInvoices => "batch_post_sales_invoices",
            Task::Test => "test",
        }
    }

    /// The human caption, used as the default description of an entry.
    pub fn caption(self) -> &'static str {
        match self {
            Task::SyncOrders => "Sync orders from Shopify",
            Task::CreateSalesOrders => "Create sales orders",
            Task::SyncShipments => "Sync shipments to Shopify",
            Task::SyncProducts => "Sync products",
            Task::SyncInventory => "Sync inventory to Shopify",
            Task::SyncImages => "Sync images",
            Task::SyncCustomers => "Sync customers",
            Task::SyncCompanies => "Sync companies",
            Task::SyncPayments => "Sync payments",
            Task::SyncCatalogs => "Sync catalogs",
            Task::SyncCatalogPrices => "Sync catalog prices",
            Task::BatchPostSalesOrders => "Batch post sales orders",
            Task::BatchPostSalesInvoices => "Batch post sales invoices",
            Task::Test => "Test task",
        }
    }

    /// The service that runs this task. `Test` runs wherever its parameters say.
    pub fn service(self) -> Option<Service> {
        Some(match self {
            Task::SyncOrders
            | Task::CreateSalesOrders
            | Task::SyncShipments
            | Task::SyncCustomers
            | Task::SyncCompanies
            | Task::SyncPayments => Service::OrderSync,
            Task::SyncProducts
            | Task::SyncImages
            | Task::SyncCatalogs
            | Task::SyncCatalogPrices => Service::ProductSync,
            Task::SyncInventory => Service::InventorySync,
            Task::BatchPostSalesOrders | Task::BatchPostSalesInvoices => Service::Posting,
            Task::Test => return None,
        })
    }

    /// What the task writes (per shop). Order import may create customers, companies and
    /// items; posting writes documents, stock and ledgers.
    pub fn writes(self) -> &'static [Resource] {
        use Resource::*;
        match self {
            Task::SyncOrders => &[Orders, SalesDocuments, Customers, Companies, Items],
            Task::CreateSalesOrders => &[Orders, SalesDocuments, Customers, Items],
            Task::SyncShipments => &[Fulfillments],
            Task::SyncProducts => &[Items, Prices],
            Task::SyncInventory => &[Stock],
            Task::SyncImages => &[Images],
            Task::SyncCustomers => &[Customers],
            Task::SyncCompanies => &[Companies, Customers],
            Task::SyncPayments => &[Payments],
            Task::SyncCatalogs => &[Catalogs],
            Task::SyncCatalogPrices => &[CatalogPrices],
            Task::BatchPostSalesOrders => &[SalesDocuments, Stock, Ledger],
            Task::BatchPostSalesInvoices => &[SalesDocuments, Ledger],
            Task::Test => &[],
        }
    }
}

impl fmt::Display for Task {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Task {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let norm = s.trim().to_ascii_lowercase().replace('-', "_");
        Task::ALL.into_iter().find(|t| t.as_str() == norm).ok_or_else(|| {
            let names: Vec<_> = Task::ALL.iter().map(|t| t.as_str()).collect();
            format!("unknown task {}; expected one of {}", crate::text::quoted(s), names.join(", "))
        })
    }
}

impl Service {
    pub const ALL: [Service; 4] =
        [Service::OrderSync, Service::ProductSync, Service::InventorySync, Service::Posting];

    pub fn as_str(self) -> &'static str {
        match self {
            Service::OrderSync => "order_sync",
            Service::ProductSync => "product_sync",
            Service::InventorySync => "inventory_sync",
            Service::Posting => "posting",
        }
    }
}

impl fmt::Display for Service {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Service {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let norm = s.trim().to_ascii_lowercase().replace('-', "_");
        Service::ALL
            .into_iter()
            .find(|t| t.as_str() == norm)
            .ok_or_else(|| format!("unknown service {}", crate::text::quoted(s)))
    }
}

impl Resource {
    pub const ALL: [Resource; 13] = [
        Resource::Orders,
        Resource::Customers,
        Resource::Companies,
        Resource::Items,
        Resource::Prices,
        Resource::Stock,
        Resource::Images,
        Resource::Fulfillments,
        Resource::Payments,
        Resource::Catalogs,
        Resource::CatalogPrices,
        Resource::SalesDocuments,
        Resource::Ledger,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Resource::Orders => "orders",
            Resource::Customers => "customers",
            Resource::Companies => "companies",
            Resource::Items => "items",
            Resource::Prices => "prices",
            Resource::Stock => "stock",
            Resource::Images => "images",
            Resource::Fulfillments => "fulfillments",
            Resource::Payments => "payments",
            Resource::Catalogs => "catalogs",
            Resource::CatalogPrices => "catalog_prices",
            Resource::SalesDocuments => "sales_documents",
            Resource::Ledger => "ledger",
        }
    }
}

impl FromStr for Resource {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let norm = s.trim().to_ascii_lowercase().replace('-', "_");
        Resource::ALL
            .into_iter()
            .find(|t| t.as_str() == norm)
            .ok_or_else(|| format!("unknown resource {}", crate::text::quoted(s)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_real_task_has_a_service_and_writes_something() {
        for t in Task::ALL {
            if t == Task::Test {
                continue;
            }
            assert!(t.service().is_some(), "{t}");
            assert!(!t.writes().is_empty(), "{t}");
            assert_eq!(t.as_str().parse::<Task>().unwrap(), t);
        }
        assert_eq!(Task::ALL.len(), 14, "13 sync tasks + test");
    }

    #[test]
    fn order_import_and_customer_sync_conflict_but_inventory_does_not() {
        let overlap = |a: Task, b: Task| a.writes().iter().any(|r| b.writes().contains(r));
        assert!(overlap(Task::SyncOrders, Task::SyncCustomers));
        assert!(overlap(Task::SyncProducts, Task::SyncOrders));
        assert!(!overlap(Task::SyncInventory, Task::SyncOrders));
        assert!(!overlap(Task::SyncImages, Task::SyncCustomers));
    }
}
