//! pb <-> common conversions. Parsing a pb message validates its shape and names the field
//! that is wrong (`spec.recurrence.starting_time`); the domain rules then run in common.

use crate::pb;
use chrono::{DateTime, NaiveDate, Utc, Weekday};
use shopsync_common::cue::CueKind;
use shopsync_common::params::{self as p, CatalogType};
use shopsync_common::recurrence::parse_time_of_day;
use shopsync_common::{
    CatchUp, EntrySpec, JobStatus, Priority, Recurrence, Resource, RetryPolicy, Rule, RunStatus,
    Service, Task, TaskParams, ValidationError, Window,
};

type R<T> = Result<T, ValidationError>;

/// A domain enum and its pb enum whose variants are spelt alike: `$to` (the one table) and
/// `$from` (an i32 read back; any other value is an error on `field`, worded by `$unknown`).
macro_rules! pb_enum {
    ($to:ident, $from:ident, $dom:ident, $pb:ident, $unknown:expr, [$($v:ident),+ $(,)?]) => {
        pub fn $to(x: $dom) -> pb::$pb {
            match x {
                $($dom::$v => pb::$pb::$v,)+
            }
        }

        pub fn $from(v: i32, field: &str) -> R<$dom> {
            let unknown: fn(i32) -> String = $unknown;
            match pb::$pb::try_from(v) {
                $(Ok(pb::$pb::$v) => Ok($dom::$v),)+
                _ => Err(ValidationError::new(field, unknown(v))),
            }
        }
    };
}

/// The value of a domain enum whose pb spelling (`to_pb`, the one table) is `want`: each
/// `*_from_pb` reads its enum through its `*_to_pb`, so the two cannot disagree.
fn by_pb<T: Copy, P: PartialEq, const N: usize>(
    all: [T; N],
    to_pb: fn(T) -> P,
    want: Option<P>,
) -> Option<T> {
    let want = want?;
    all.into_iter().find(|x| to_pb(*x) == want)
}

pub fn ts(t: DateTime<Utc>) -> prost_types::Timestamp {
    prost_types::Timestamp { seconds: t.timestamp(), nanos: t.timestamp_subsec_nanos() as i32 }
}

pub fn opt_ts(t: Option<DateTime<Utc>>) -> Option<prost_types::Timestamp> {
    t.map(ts)
}

pub fn from_ts(t: &prost_types::Timestamp, field: &str) -> R<DateTime<Utc>> {
    DateTime::from_timestamp(t.seconds, t.nanos.max(0) as u32)
        .ok_or_else(|| ValidationError::new(field, "timestamp out of range"))
}

pub fn from_opt_ts(t: &Option<prost_types::Timestamp>, field: &str) -> R<Option<DateTime<Utc>>> {
    t.as_ref().map(|t| from_ts(t, field)).transpose()
}

// ---- enums ----------------------------------------------------------------------------

pub fn task_to_pb(t: Task) -> pb::Task {
    match t {
        Task::SyncOrders => pb::Task::SyncOrders,
        Task::CreateSalesOrders => pb::Task::CreateSalesOrders,
        Task::SyncShipments => pb::Task::SyncShipments,
        Task::SyncProducts => pb::Task::SyncProducts,
        Task::SyncInventory => pb::Task::SyncInventory,
        Task::SyncImages => pb::Task::SyncImages,
        Task::SyncCustomers => pb::Task::SyncCustomers,
        Task::SyncCompanies => pb::Task::SyncCompanies,
        Task::SyncPayments => pb::Task::SyncPayments,
        Task::SyncCatalogs => pb::Task::SyncCatalogs,
        Task::SyncCatalogPrices => pb::Task::SyncCatalogPrices,
        Task::BatchPostSalesOrders => pb::Task::BatchPostSalesOrders,
        Task::BatchPostSalesInvoices => pb::Task::BatchPostSalesInvoices,
        Task::Test => pb::Task::Test,
    }
}

pub fn task_from_pb(v: i32, field: &str) -> R<Task> {
    let t = pb::Task::try_from(v)
        .map_err(|_| ValidationError::new(field, format!("unknown task {v}")))?;
    by_pb(Task::ALL, task_to_pb, Some(t))
        .ok_or_else(|| ValidationError::new(field, "task is required"))
}

pub fn service_to_pb(s: Service) -> pb::Service {
    match s {
        Service::OrderSync => pb::Service::OrderSync,
        Service::ProductSync => pb::Service::ProductSync,
        Service::InventorySync => pb::Service::InventorySync,
        Service::Posting => pb::Service::Posting,
    }
}

pub fn service_from_pb(v: i32, field: &str) -> R<Service> {
    match pb::Service::try_from(v) {
        Ok(pb::Service::OrderSync) => Ok(Service::OrderSync),
        Ok(pb::Service::ProductSync) => Ok(Service::ProductSync),
        Ok(pb::Service::InventorySync) => Ok(Service::InventorySync),
        Ok(pb::Service::Posting) => Ok(Service::Posting),
        _ => Err(ValidationError::new(
            field,
            "a service is required (order_sync, product_sync, inventory_sync, posting)",
        )),
    }
}

pb_enum!(
    status_to_pb,
    status_from_pb,
    JobStatus,
    JobStatus,
    |v| format!("unknown status {v}"),
    [Ready, InProcess, Error, OnHold, Finished, Waiting]
);
pb_enum!(
    run_status_to_pb,
    run_status_from_pb,
    RunStatus,
    RunStatus,
    |v| format!("unknown run status {v}"),
    [Running, Succeeded, Failed, Cancelled, TimedOut, Lost]
);
pb_enum!(
    priority_to_pb,
    priority_from_pb,
    Priority,
    Priority,
    |v| format!("unknown priority {v}"),
    [High, Normal, Low]
);

fn weekday_to_pb(w: Weekday) -> pb::Weekday {
    match w {
        Weekday::Mon => pb::Weekday::Monday,
        Weekday::Tue => pb::Weekday::Tuesday,
        Weekday::Wed => pb::Weekday::Wednesday,
        Weekday::Thu => pb::Weekday::Thursday,
        Weekday::Fri => pb::Weekday::Friday,
        Weekday::Sat => pb::Weekday::Saturday,
        Weekday::Sun => pb::Weekday::Sunday,
    }
}

fn weekday_from_pb(v: i32, field: &str) -> R<Weekday> {
    Ok(match pb::Weekday::try_from(v) {
        Ok(pb::Weekday::Monday) => Weekday::Mon,
        Ok(pb::Weekday::Tuesday) => Weekday::Tue,
        Ok(pb::Weekday::Wednesday) => Weekday::Wed,
        Ok(pb::Weekday::Thursday) => Weekday::Thu,
        Ok(pb::Weekday::Friday) => Weekday::Fri,
        Ok(pb::Weekday::Saturday) => Weekday::Sat,
        Ok(pb::Weekday::Sunday) => Weekday::Sun,
        _ => return Err(ValidationError::new(field, format!("unknown weekday {v}"))),
    })
}

fn catalog_type_to_pb(c: CatalogType) -> i32 {
    (match c {
        CatalogType::All => pb::CatalogType::All,
        CatalogType::Company => pb::CatalogType::Company,
        CatalogType::Market => pb::CatalogType::Market,
    }) as i32
}

fn catalog_type_from_pb(v: i32, field: &str) -> R<CatalogType> {
    match pb::CatalogType::try_from(v) {
        Ok(pb::CatalogType::All) => Ok(CatalogType::All),
        Ok(pb::CatalogType::Company) => Ok(CatalogType::Company),
        Ok(pb::CatalogType::Market) => Ok(CatalogType::Market),
        Err(_) => Err(ValidationError::new(field, format!("unknown catalog type {v}"))),
    }
}

// ---- params ---------------------------------------------------------------------------

fn date(v: &Option<String>, field: &str) -> R<Option<NaiveDate>> {
    v.as_deref()
        .map(|s| {
            NaiveDate::parse_from_str(s, "%Y-%m-%d").map_err(|_| {
                ValidationError::new(
                    field,
                    format!("{} is not a date (YYYY-MM-DD)", shopsync_common::quoted(s)),
                )
            })
        })
        .transpose()
}

fn date_str(d: Option<NaiveDate>) -> Option<String> {
    d.map(|d| d.format("%Y-%m-%d").to_string())
}

/// The pb message of a batch posting: `sel`'s fields (the two messages spell them alike) and
/// the task's own.
macro_rules! batch_to_pb {
    ($ty:path, $sel:expr $(, $f:ident: $v:expr)*) => {{
        let s = $sel;
        $ty {
            $($f: $v,)*
            released_only: s.released_only,
            posting_date_to: date_str(s.posting_date_to),
            shopify_order_no_not_blank: s.shopify_order_no_not_blank,
            customer_no: s.customer_no,
            posting_date: date_str(s.posting_date),
            replace_posting_date: s.replace_posting_date,
        }
    }};
}

/// A batch posting's selection from its pb message (`f(task, field)`: a field's path).
macro_rules! batch_from_pb {
    ($x:expr, $f:ident, $task:literal) => {
        p::BatchSelection {
            released_only: $x.released_only,
            posting_date_to: date(&$x.posting_date_to, &$f($task, "posting_date_to"))?,
            shopify_order_no_not_blank: $x.shopify_order_no_not_blank,
            customer_no: $x.customer_no,
            posting_date: date(&$x.posting_date, &$f($task, "posting_date"))?,
            replace_posting_date: $x.replace_posting_date,
        }
    };
}

pub fn params_to_pb(params: &TaskParams) -> pb::TaskParams {
    use pb::task_params::Params as P;
    let inner = match params.clone() {
        TaskParams::SyncOrders(x) => P::SyncOrders(pb::SyncOrdersParams {
            only_fully_paid: x.only_fully_paid,
            financial_statuses: x.financial_statuses,
            fulfillment_statuses: x.fulfillment_statuses,
            tags: x.tags,
            channel: x.channel,
            exclude_high_risk: x.exclude_high_risk,
            history_from: x.history_from.map(|d| d.to_string()),
            reconcile_hours: x.reconcile_hours,
        }),
        TaskParams::CreateSalesOrders(x) => P::CreateSalesOrders(pb::CreateSalesOrdersParams {
            financial_statuses: x.financial_statuses,
            fulfillment_statuses: x.fulfillment_statuses,
            release: x.release,
        }),
        TaskParams::SyncShipments(x) => P::SyncShipments(pb::SyncShipmentsParams {
            shipment_nos: x.shipment_nos,
            customer_no: x.customer_no,
            posting_date_from: date_str(x.posting_date_from),
            posting_date_to: date_str(x.posting_date_to),
        }),
        TaskParams::SyncProducts(x) => {
            P::SyncProducts(pb::SyncProductsParams { only_prices: x.only_prices, limit: x.limit })
        }
        TaskParams::SyncInventory(x) => P::SyncInventory(pb::SyncInventoryParams {
            skip_import: x.skip_import,
            variant_ids: x.variant_ids,
            force: x.force,
            dry_run: x.dry_run,
        }),
        TaskParams::SyncImages(x) => {
            P::SyncImages(pb::SyncImagesParams { product_ids: x.product_ids })
        }
        TaskParams::SyncCustomers(x) => P::SyncCustomers(pb::SyncCustomersParams { full: x.full }),
        TaskParams::SyncCompanies(x) => P::SyncCompanies(pb::SyncCompaniesParams { full: x.full }),
        TaskParams::SyncPayments(x) => {
            P::SyncPayments(pb::SyncPaymentsParams { include_disputes: x.include_disputes })
        }
        TaskParams::SyncCatalogs(x) => P::SyncCatalogs(pb::SyncCatalogsParams {
            catalog_type: catalog_type_to_pb(x.catalog_type),
        }),
        TaskParams::SyncCatalogPrices(x) => P::SyncCatalogPrices(pb::SyncCatalogPricesParams {
            catalog_type: catalog_type_to_pb(x.catalog_type),
            catalog_ids: x.catalog_ids,
            company_id: x.company_id,
        }),
        TaskParams::BatchPostSalesOrders(x) => P::BatchPostSalesOrders(batch_to_pb!(
            pb::BatchPostSalesOrdersParams,
            x.selection,
            ship: x.ship,
            invoice: x.invoice
        )),
        TaskParams::BatchPostSalesInvoices(x) => {
            P::BatchPostSalesInvoices(batch_to_pb!(pb::BatchPostSalesInvoicesParams, x.selection))
        }
        TaskParams::Test(x) => P::Test(pb::TestParams {
            service: service_to_pb(x.service) as i32,
            steps: x.steps,
            step_ms: x.step_ms,
            fail_attempts: x.fail_attempts,
            stall_after_step: x.stall_after_step,
            writes: x.writes.iter().map(|r| r.as_str().to_owned()).collect(),
        }),
    };
    pb::TaskParams { params: Some(inner) }
}

/// Parse parameters; errors name the field below `field` (e.g. `spec.params.test.service`).
pub fn params_from_pb(v: &pb::TaskParams, field: &str) -> R<TaskParams> {
    use pb::task_params::Params as P;
    let f = |name: &str, sub: &str| format!("{field}.{name}.{sub}");
    let Some(inner) = v.params.clone() else {
        return Err(ValidationError::new(
            field,
            "one of the task parameter messages must be set (it decides the task)",
        ));
    };
    Ok(match inner {
        P::SyncOrders(x) => TaskParams::SyncOrders(p::SyncOrders {
            only_fully_paid: x.only_fully_paid,
            financial_statuses: x.financial_statuses,
            fulfillment_statuses: x.fulfillment_statuses,
            tags: x.tags,
            channel: x.channel,
            exclude_high_risk: x.exclude_high_risk,
            history_from: date(&x.history_from, &f("sync_orders", "history_from"))?,
            reconcile_hours: x.reconcile_hours,
        }),
        P::CreateSalesOrders(x) => TaskParams::CreateSalesOrders(p::CreateSalesOrders {
            financial_statuses: x.financial_statuses,
            fulfillment_statuses: x.fulfillment_statuses,
            release: x.release,
        }),
        P::SyncShipments(x) => TaskParams::SyncShipments(p::SyncShipments {
            posting_date_from: date(
                &x.posting_date_from,
                &f("sync_shipments", "posting_date_from"),
            )?,
            posting_date_to: date(&x.posting_date_to, &f("sync_shipments", "posting_date_to"))?,
            shipment_nos: x.shipment_nos,
            customer_no: x.customer_no,
        }),
        P::SyncProducts(x) => {
            TaskParams::SyncProducts(p::SyncProducts { only_prices: x.only_prices, limit: x.limit })
        }
        P::SyncInventory(x) => TaskParams::SyncInventory(p::SyncInventory {
            skip_import: x.skip_import,
            variant_ids: x.variant_ids,
            force: x.force,
            dry_run: x.dry_run,
        }),
        P::SyncImages(x) => TaskParams::SyncImages(p::SyncImages { product_ids: x.product_ids }),
        P::SyncCustomers(x) => TaskParams::SyncCustomers(p::SyncCustomers { full: x.full }),
        P::SyncCompanies(x) => TaskParams::SyncCompanies(p::SyncCompanies { full: x.full }),
        P::SyncPayments(x) => {
            TaskParams::SyncPayments(p::SyncPayments { include_disputes: x.include_disputes })
        }
        P::SyncCatalogs(x) => TaskParams::SyncCatalogs(p::SyncCatalogs {
            catalog_type: catalog_type_from_pb(
                x.catalog_type,
                &f("sync_catalogs", "catalog_type"),
            )?,
        }),
        P::SyncCatalogPrices(x) => TaskParams::SyncCatalogPrices(p::SyncCatalogPrices {
            catalog_type: catalog_type_from_pb(
                x.catalog_type,
                &f("sync_catalog_prices", "catalog_type"),
            )?,
            catalog_ids: x.catalog_ids,
            company_id: x.company_id,
        }),
        P::BatchPostSalesOrders(x) => TaskParams::BatchPostSalesOrders(p::BatchPostSalesOrders {
            ship: x.ship,
            invoice: x.invoice,
            selection: batch_from_pb!(x, f, "batch_post_sales_orders"),
        }),
        P::BatchPostSalesInvoices(x) => {
            TaskParams::BatchPostSalesInvoices(p::BatchPostSalesInvoices {
                selection: batch_from_pb!(x, f, "batch_post_sales_invoices"),
            })
        }
        P::Test(x) => TaskParams::Test(p::TestParams {
            service: service_from_pb(x.service, &f("test", "service"))?,
            steps: x.steps,
            step_ms: x.step_ms,
            fail_attempts: x.fail_attempts,
            stall_after_step: x.stall_after_step,
            writes: x
                .writes
                .iter()
                .enumerate()
                .map(|(i, w)| {
                    w.parse::<Resource>()
                        .map_err(|e| ValidationError::new(format!("{field}.test.writes[{i}]"), e))
                })
                .collect::<R<Vec<_>>>()?,
        }),
    })
}

// ---- recurrence and spec --------------------------------------------------------------

pub fn recurrence_to_pb(r: &Recurrence) -> pb::Recurrence {
    use pb::recurrence::Rule as P;
    let rule = match &r.rule {
        Rule::Interval { seconds } => P::IntervalSeconds(*seconds),
        Rule::DateFormula { formula } => P::DateFormula(formula.clone()),
        Rule::Cron { expr } => P::Cron(expr.clone()),
        Rule::Daily => P::Daily(true),
    };
    pb::Recurrence {
        rule: Some(rule),
        weekdays: r.weekdays.iter().map(|w| weekday_to_pb(*w) as i32).collect(),
        starting_time: r.window.start.map(|t| t.format("%H:%M:%S").to_string()),
        ending_time: r.window.end.map(|t| t.format("%H:%M:%S").to_string()),
        catch_up: (match r.catch_up {
            CatchUp::One => pb::CatchUp::One,
            CatchUp::Skip => pb::CatchUp::Skip,
            CatchUp::AllWithinWindow => pb::CatchUp::AllWithinWindow,
        }) as i32,
        catch_up_window_seconds: Some(r.catch_up_window_secs),
        allow_overlap: r.allow_overlap,
        stop_on_error: r.stop_on_error,
    }
}

pub fn recurrence_from_pb(r: &pb::Recurrence, field: &str) -> R<Recurrence> {
    use pb::recurrence::Rule as P;
    let rule = match &r.rule {
        Some(P::IntervalSeconds(s)) => Rule::Interval { seconds: *s },
        Some(P::DateFormula(f)) => Rule::DateFormula { formula: f.clone() },
        Some(P::Cron(c)) => Rule::Cron { expr: c.clone() },
        Some(P::Daily(_)) => Rule::Daily,
        None => {
            return Err(ValidationError::new(
                field,
                "a rule is required: interval_seconds, date_formula, cron or daily",
            ));
        }
    };
    let time = |v: &Option<String>, name: &str| {
        v.as_deref()
            .map(|s| parse_time_of_day(s).map_err(|e| e.within(&format!("{field}.{name}"))))
            .transpose()
    };
    let mut rec = Recurrence::with_rule(rule);
    rec.weekdays = r
        .weekdays
        .iter()
        .enumerate()
        .map(|(i, w)| weekday_from_pb(*w, &format!("{field}.weekdays[{i}]")))
        .collect::<R<_>>()?;
    rec.window = Window {
        start: time(&r.starting_time, "starting_time")?,
        end: time(&r.ending_time, "ending_time")?,
    };
    rec.catch_up = match pb::CatchUp::try_from(r.catch_up) {
        Ok(pb::CatchUp::One) => CatchUp::One,
        Ok(pb::CatchUp::Skip) => CatchUp::Skip,
        Ok(pb::CatchUp::AllWithinWindow) => CatchUp::AllWithinWindow,
        Err(_) => {
            return Err(ValidationError::new(
                format!("{field}.catch_up"),
                "unknown catch-up policy",
            ));
        }
    };
    if let Some(w) = r.catch_up_window_seconds {
        rec.catch_up_window_secs = w;
    }
    rec.allow_overlap = r.allow_overlap;
    rec.stop_on_error = r.stop_on_error;
    Ok(rec)
}

pub fn spec_to_pb(s: &EntrySpec) -> pb::JobSpec {
    pb::JobSpec {
        shop: s.shop.clone(),
        params: Some(params_to_pb(&s.params)),
        description: s.description.clone().unwrap_or_default(),
        earliest_start: opt_ts(s.earliest_start),
        expires_at: opt_ts(s.expires_at),
        recurrence: s.recurrence.as_ref().map(recurrence_to_pb),
        time_zone: s.time_zone.clone(),
        retry: Some(pb::RetryPolicy {
            max_attempts: Some(s.retry.max_attempts),
            rerun_delay_seconds: Some(s.retry.rerun_delay_secs),
            backoff_multiplier: Some(s.retry.backoff_multiplier),
            max_delay_seconds: Some(s.retry.max_delay_secs),
        }),
        category: s.category.clone().unwrap_or_default(),
        priority: priority_to_pb(s.priority) as i32,
        timeout_seconds: Some(s.timeout_secs),
        created_by: s.created_by.clone(),
    }
}

/// Parse a spec; field names in errors start with `field` (normally `spec`).
pub fn spec_from_pb(s: &pb::JobSpec, field: &str) -> R<EntrySpec> {
    let f = |name: &str| format!("{field}.{name}");
    let params = match &s.params {
        Some(p) => params_from_pb(p, &f("params"))?,
        None => return Err(ValidationError::new(f("params"), "required (it decides the task)")),
    };
    let mut spec = EntrySpec::new(s.shop.trim(), params);
    spec.description = Some(s.description.trim().to_owned()).filter(|d| !d.is_empty());
    spec.earliest_start = from_opt_ts(&s.earliest_start, &f("earliest_start"))?;
    spec.expires_at = from_opt_ts(&s.expires_at, &f("expires_at"))?;
    spec.recurrence =
        s.recurrence.as_ref().map(|r| recurrence_from_pb(r, &f("recurrence"))).transpose()?;
    if !s.time_zone.trim().is_empty() {
        spec.time_zone = s.time_zone.trim().to_owned();
    }
    if let Some(r) = &s.retry {
        let d = RetryPolicy::default();
        spec.retry = RetryPolicy {
            max_attempts: r.max_attempts.unwrap_or(d.max_attempts),
            rerun_delay_secs: r.rerun_delay_seconds.unwrap_or(d.rerun_delay_secs),
            backoff_multiplier: r.backoff_multiplier.unwrap_or(d.backoff_multiplier),
            max_delay_secs: r.max_delay_seconds.unwrap_or(d.max_delay_secs),
        };
    }
    spec.category = Some(s.category.trim().to_owned()).filter(|c| !c.is_empty());
    spec.priority = priority_from_pb(s.priority, &f("priority"))?;
    if let Some(t) = s.timeout_seconds {
        spec.timeout_secs = t;
    }
    if !s.created_by.trim().is_empty() {
        spec.created_by = s.created_by.trim().to_owned();
    }
    Ok(spec)
}

/// Prefix a domain validation error with `spec.` the way the API names fields.
pub fn spec_field(e: ValidationError) -> ValidationError {
    e.within("spec")
}

// ---- run results ----------------------------------------------------------------------

pub fn report_to_pb(r: &shopsync_common::RunReport) -> pb::RunResult {
    pb::RunResult {
        counters: Some(pb::Counters {
            values: r.counters.iter().map(|(k, v)| (k.clone(), *v)).collect(),
        }),
        record_errors: r.record_errors,
        errors: r
            .errors
            .iter()
            .map(|e| pb::RecordError {
                record: e.record.clone(),
                message: e.reason.clone(),
                retryable: e.retryable,
            })
            .collect(),
    }
}

pub fn report_from_pb(r: pb::RunResult) -> shopsync_common::RunReport {
    let errors: Vec<_> = r
        .errors
        .into_iter()
        .map(|e| shopsync_common::RecordError {
            record: e.record,
            reason: e.message,
            retryable: e.retryable,
        })
        .collect();
    shopsync_common::RunReport {
        counters: r.counters.map(|c| c.values.into_iter().collect()).unwrap_or_default(),
        record_errors: r.record_errors.max(errors.len() as u64),
        errors,
    }
}

pub fn failure_to_pb(e: &shopsync_common::RunFailure) -> pb::ErrorChain {
    pb::ErrorChain { message: e.message.clone(), causes: e.causes.clone() }
}

pub fn failure_from_pb(f: pb::RunFailure) -> shopsync_common::RunFailure {
    let e = f.error.unwrap_or_default();
    shopsync_common::RunFailure { message: e.message, causes: e.causes, retryable: f.retryable }
}

pb_enum!(
    cue_kind_to_pb,
    cue_kind_from_pb,
    CueKind,
    CueKind,
    |v| format!("{v} is not a cue kind"),
    [
        UnmappedCustomers,
        UnmappedProducts,
        UnprocessedOrders,
        ChangedOrders,
        SyncErrors,
        HighRiskOrders,
        WebhookGaps,
        UnprocessedShipments,
        ShipmentErrors,
        HeldRefunds
    ]
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_cue_kind_round_trips_and_an_unknown_one_names_the_field() {
        for k in CueKind::ALL {
            assert_eq!(cue_kind_from_pb(cue_kind_to_pb(k) as i32, "kind").unwrap(), k);
        }
        assert_eq!(cue_kind_from_pb(99, "kind").unwrap_err().field, "kind");
    }

    #[test]
    fn spec_round_trips() {
        let mut s = EntrySpec::new("shop-1", TaskParams::default_for(Task::BatchPostSalesOrders));
        let mut r = Recurrence::every(600);
        r.weekdays = vec![Weekday::Mon, Weekday::Fri];
        r.window =
            Window { start: parse_time_of_day("22:00").ok(), end: parse_time_of_day("02:00").ok() };
        r.catch_up = CatchUp::AllWithinWindow;
        s.recurrence = Some(r);
        s.category = Some("POSTING".into());
        s.priority = Priority::High;
        s.time_zone = "Europe/Copenhagen".into();
        let back = spec_from_pb(&spec_to_pb(&s), "spec").unwrap();
        assert_eq!(back, s);
        for t in Task::ALL {
            let p = TaskParams::default_for(t);
            assert_eq!(params_from_pb(&params_to_pb(&p), "params").unwrap(), p);
            assert_eq!(task_from_pb(task_to_pb(t) as i32, "task").unwrap(), t);
        }
    }

    #[test]
    fn malformed_fields_are_named() {
        let mut s = spec_to_pb(&EntrySpec::new("s", TaskParams::default_for(Task::SyncShipments)));
        s.params = Some(pb::TaskParams {
            params: Some(pb::task_params::Params::SyncShipments(pb::SyncShipmentsParams {
                posting_date_to: Some("31/12/2026".into()),
                ..Default::default()
            })),
        });
        let e = spec_from_pb(&s, "spec").unwrap_err();
        assert_eq!(e.field, "spec.params.sync_shipments.posting_date_to");
        s.params = None;
        assert_eq!(spec_from_pb(&s, "spec").unwrap_err().field, "spec.params");
        s.params = Some(params_to_pb(&TaskParams::default_for(Task::SyncOrders)));
        s.recurrence = Some(pb::Recurrence {
            rule: Some(pb::recurrence::Rule::IntervalSeconds(60)),
            starting_time: Some("25:00".into()),
            ..Default::default()
        });
        assert_eq!(spec_from_pb(&s, "spec").unwrap_err().field, "spec.recurrence.starting_time");
    }
}
