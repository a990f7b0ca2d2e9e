//! Activity cues: the kinds of things a merchant is asked to look at (counts with drill-down,
//! cleared when fixed).

/// A cue's kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CueKind {
    UnmappedCustomers,
    UnmappedProducts,
    UnprocessedOrders,
    ChangedOrders,
    SyncErrors,
    HighRiskOrders,
    WebhookGaps,
    UnprocessedShipments,
    ShipmentErrors,
    HeldRefunds,
}

impl CueKind {
    pub const ALL: [CueKind; 10] = [
        CueKind::UnmappedCustomers,
        CueKind::UnmappedProducts,
        CueKind::UnprocessedOrders,
        CueKind::ChangedOrders,
        CueKind::SyncErrors,
        CueKind::HighRiskOrders,
        CueKind::WebhookGaps,
        CueKind::UnprocessedShipments,
        CueKind::ShipmentErrors,
        CueKind::HeldRefunds,
    ];
}
