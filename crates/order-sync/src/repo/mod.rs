//! All of order-sync's SQL: the mirror's orders and the cues' counts and groups.

pub mod cues;
pub mod orders;
pub mod webhooks;
