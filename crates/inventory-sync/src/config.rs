//! The inventory-sync service's configuration: the settings every sync service shares (listen address,
//! service token, drain, the shops API, the posting service, the keyring that opens shop
//! credentials, and the database of the shared Shopify budgets). When inventory-sync gets settings of its
//! own (stock), `Config` becomes a struct that flattens `SyncConfig` beside them.

pub type Config = shopsync_runtime::worker::SyncConfig;
