//! The order-sync service's configuration: the settings every sync service shares (listen
//! address, service token, drain, the shops API, the posting service, the keyring that opens
//! shop credentials) and its database, which holds its own `order_sync` schema and the shared
//! Shopify budgets. When order-sync gets settings of its own, `Config` becomes a struct that
//! flattens `SyncConfig` beside them.

pub type Config = shopsync_runtime::worker::SyncConfig;
