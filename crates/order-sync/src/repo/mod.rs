//! All of order-sync's SQL: the mirror's orders, the refunds and shipments sent, and the cues'
//! counts and groups.

pub mod cues;
pub mod orders;
pub mod refunds;
pub mod shipments;
pub mod webhooks;
