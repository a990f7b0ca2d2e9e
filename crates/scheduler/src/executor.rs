//! Executors: the gRPC one that calls the owning service's `Worker.Run`, and a no-op one for
//! the in-process benchmark.

use crate::dispatch::{ExecOutcome, Executor, RunHandle};
use crate::repo::ClaimedRun;
use shopsync_common::{RunFailure, RunReport, Service};
use shopsync_proto::pb::worker_client::WorkerClient;
use shopsync_proto::pb::{self, run_event::Event};
use shopsync_proto::{failure_from_pb, opt_ts, params_to_pb, report_from_pb, task_to_pb, ts};
use shopsync_runtime::client::AuthedChannel;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use tonic::Code;

pub struct GrpcExecutor {
    workers: HashMap<Service, (WorkerClient<AuthedChannel>, String)>,
    heartbeat: Duration,
}

impl GrpcExecutor {
    pub fn new(workers: HashMap<Service, (AuthedChannel, String)>, heartbeat: Duration) -> Self {
        let workers = workers
            .into_iter()
            .map(|(s, (ch, url))| {
                let client = WorkerClient::new(ch)
                    .max_decoding_message_size(4 << 20)
                    .max_encoding_message_size(4 << 20);
                (s, (client, url))
            })
            .collect();
        Self { workers, heartbeat }
    }
}

const OPEN_RETRIES: u32 = 4;

/// Read the stream to its end (the trailers follow the result at once). Dropping it early
/// would reset the HTTP/2 stream, and a server that sees thousands of resets closes the
/// whole connection (ENHANCE_YOUR_CALM), failing every attempt on it.
async fn finish_stream(stream: &mut tonic::Streaming<pb::RunEvent>) {
    let _ = tokio::time::timeout(Duration::from_secs(1), async {
        while let Ok(Some(_)) = stream.message().await {}
    })
    .await;
}

/// Codes with which a stream is refused before the worker ran anything.
fn open_refused(code: Code) -> bool {
    matches!(code, Code::Unavailable | Code::ResourceExhausted)
}

fn retryable(code: Code) -> bool {
    !matches!(
        code,
        Code::InvalidArgument
            | Code::FailedPrecondition
            | Code::Unimplemented
            | Code::PermissionDenied
            | Code::Unauthenticated
            | Code::NotFound
    )
}

impl Executor for GrpcExecutor {
    async fn execute(&self, run: &ClaimedRun, handle: Arc<RunHandle>) -> ExecOutcome {
        let service = run.spec.params.service();
        let Some((client, url)) = self.workers.get(&service) else {
            return ExecOutcome::Failed {
                worker: None,
                failure: RunFailure {
                    message: format!("no worker endpoint is configured for the {service} service"),
                    causes: vec![],
                    retryable: false,
                },
            };
        };
        let worker = Some(format!("{service}@{url}"));
        let deadline =
            run.claimed_at + chrono::TimeDelta::seconds(i64::from(run.spec.timeout_secs));
        let req = pb::RunRequest {
            run_id: run.run_id.to_string(),
            entry_id: run.entry_id.to_string(),
            task: task_to_pb(run.spec.task()) as i32,
            shop: run.spec.shop.clone(),
            params: Some(params_to_pb(&run.spec.params)),
            attempt: run.attempt.max(1) as u32,
            fencing_token: run.fencing_token,
            deadline: Some(ts(deadline)),
            fire_time: opt_ts(run.fire_time),
            heartbeat_interval_ms: self.heartbeat.as_millis() as u32,
        };
        // A stream the worker refused before it started (connection not up yet, a restart,
        // too many streams at once) is opened again a few times before the attempt fails.
        let mut tries = 0u32;
        let opened = loop {
            match client.clone().run(req.clone()).await {
                Err(s) if tries < OPEN_RETRIES && open_refused(s.code()) => {
                    tries += 1;
                    tracing::debug!(run = %run.run_id, code = ?s.code(), tries, "worker refused the stream, opening it again");
                    tokio::time::sleep(Duration::from_millis(25 << tries)).await;
                }
                other => break other,
            }
        };
        let mut stream = match opened {
            Ok(r) => r.into_inner(),
            Err(status) => {
                return ExecOutcome::Failed {
                    worker,
                    failure: RunFailure {
                        message: format!(
                            "the {service} worker refused the run: {}",
                            status.message()
                        ),
                        causes: vec![format!("grpc status {:?}", status.code())],
                        retryable: retryable(status.code()),
                    },
                };
            }
        };
        loop {
            match stream.message().await {
                Ok(Some(pb::RunEvent { event: Some(Event::Progress(p)) })) => {
                    handle.progress(p.done, p.total, &p.step);
                }
                Ok(Some(pb::RunEvent { event: Some(Event::Result(r)) })) => {
                    finish_stream(&mut stream).await;
                    return ExecOutcome::Succeeded { worker, report: report_from_pb(r) };
                }
                Ok(Some(pb::RunEvent { event: Some(Event::Failure(f)) })) => {
                    finish_stream(&mut stream).await;
                    return ExecOutcome::Failed { worker, failure: failure_from_pb(f) };
                }
                Ok(Some(pb::RunEvent { event: None })) => handle.touch(),
                Ok(None) => {
                    return ExecOutcome::Lost {
                        worker,
                        message: format!("the {service} worker closed the stream without a result"),
                    };
                }
                Err(status) => {
                    return ExecOutcome::Lost {
                        worker,
                        message: format!(
                            "lost the {service} worker: {} ({:?})",
                            status.message(),
                            status.code()
                        ),
                    };
                }
            }
        }
    }
}

/// Succeeds at once: measures the queue itself (benchmark (a)).
pub struct NoopExecutor;

impl Executor for NoopExecutor {
    async fn execute(&self, _run: &ClaimedRun, _handle: Arc<RunHandle>) -> ExecOutcome {
        ExecOutcome::Succeeded { worker: None, report: RunReport::default() }
    }
}
