//! Bulk queries for initial loads: start one, poll it to completion, then read its JSONL file
//! as a stream. Each line is one object; an object of a nested connection carries
//! `__parentId`, the id of its parent, which comes earlier in the file.

use crate::ops::{self, bulk_operation::BulkOperationStatus};
use crate::{ShopifyClient, ShopifyError};
use futures::{Stream, StreamExt};
use serde_json::Value;
use std::time::Duration;

/// One line of a bulk result.
#[derive(Debug, Clone, PartialEq)]
pub struct BulkRecord {
    /// The object's `id`, if it selected one.
    pub id: Option<String>,
    /// The parent object's id, for nodes of nested connections.
    pub parent_id: Option<String>,
    /// The object without `__parentId`.
    pub data: Value,
}

fn record(line: &[u8]) -> Result<BulkRecord, ShopifyError> {
    let mut data: Value = serde_json::from_slice(line)
        .map_err(|source| ShopifyError::Decode { operation: "BulkOperation", source })?;
    let parent_id = data
        .as_object_mut()
        .and_then(|o| o.remove("__parentId"))
        .and_then(|v| v.as_str().map(str::to_owned));
    let id = data.get("id").and_then(Value::as_str).map(str::to_owned);
    Ok(BulkRecord { id, parent_id, data })
}

impl ShopifyClient {
    /// Run `query` as a bulk operation and stream its records once it has completed.
    ///
    /// The file is downloaded with [`ClientConfig::bulk_read_timeout`](crate::ClientConfig)
    /// between reads and no total timeout (a large file may take long; a stalled one fails),
    /// split into lines as it arrives (a line over `bulk_max_line` bytes is an error), and the
    /// records are counted: a file that ends with fewer (or more) objects than the operation's
    /// `objectCount` ends the stream with [`ShopifyError::BulkShort`], never quietly.
    pub async fn bulk_query(
        &self,
        query: &str,
        poll_every: Duration,
    ) -> Result<impl Stream<Item = Result<BulkRecord, ShopifyError>> + Send + use<>, ShopifyError>
    {
        let started = self
            .run::<ops::BulkRunQuery>(ops::bulk_run_query::Variables { query: query.to_owned() })
            .await?;
        let id = started
            .bulk_operation_run_query
            .and_then(|p| p.bulk_operation)
            .map(|b| b.id)
            .ok_or_else(|| ShopifyError::Missing {
                operation: "BulkRunQuery",
                what: "bulkOperation".into(),
            })?;
        let bulk_error = |reason: String| ShopifyError::Bulk {
            operation: "BulkOperation",
            id: id.clone(),
            reason,
        };
        let (url, expected) = loop {
            let r = self
                .run::<ops::BulkOperation>(ops::bulk_operation::Variables { id: id.clone() })
                .await?;
            let op = r.bulk_operation.ok_or_else(|| bulk_error("not found".into()))?;
            match op.status {
                BulkOperationStatus::COMPLETED => {
                    let count = op.object_count.parse::<u64>().map_err(|_| {
                        bulk_error(format!("objectCount {:?} is not a count", op.object_count))
                    })?;
                    break (op.url, count);
                }
                BulkOperationStatus::CREATED | BulkOperationStatus::RUNNING => {
                    tokio::time::sleep(poll_every).await;
                }
                other => {
                    // FAILED, CANCELED, EXPIRED…: a partial file is never taken for the whole.
                    return Err(bulk_error(format!(
                        "ended {other:?} (error code {:?})",
                        op.error_code
                    )));
                }
            }
        };
        // No url: the query matched nothing, and Shopify must say so.
        let Some(url) = url else {
            if expected != 0 {
                return Err(ShopifyError::BulkShort {
                    operation: "BulkOperation",
                    id,
                    expected,
                    read: 0,
                });
            }
            return Ok(futures::stream::empty().left_stream());
        };
        let resp = self
            .bulk_http
            .get(&url)
            .send()
            .await
            .and_then(|r| r.error_for_status())
            .map_err(|e| bulk_error(crate::describe(&e)))?;
        let max = self.config.bulk_max_line;
        let lines = Lines {
            bytes: resp.bytes_stream().boxed(),
            buf: Vec::new(),
            ended: false,
            line: 0,
            max,
            id: id.clone(),
        };
        let records = futures::stream::try_unfold(
            (lines, 0u64, false),
            move |(mut lines, mut read, finished)| async move {
                if finished {
                    return Ok(None);
                }
                match lines.next_line().await? {
                    Some(l) => {
                        read += 1;
                        Ok(Some((record(&l)?, (lines, read, false))))
                    }
                    None if read == expected => Ok(None),
                    None => Err(ShopifyError::BulkShort {
                        operation: "BulkOperation",
                        id: lines.id.clone(),
                        expected,
                        read,
                    }),
                }
            },
        );
        Ok(records.right_stream())
    }
}

/// The lines of a download, split as the bytes arrive; blank lines are skipped.
struct Lines {
    bytes: futures::stream::BoxStream<'static, reqwest::Result<bytes::Bytes>>,
    buf: Vec<u8>,
    ended: bool,
    /// Lines read so far (for errors).
    line: u64,
    max: usize,
    id: String,
}

impl Lines {
    async fn next_line(&mut self) -> Result<Option<Vec<u8>>, ShopifyError> {
        loop {
            if let Some(pos) = self.buf.iter().position(|b| *b == b'\n') {
                let line: Vec<u8> = self.buf.drain(..=pos).collect();
                self.line += 1;
                if line.len() > self.max + 1 {
                    return Err(self.too_long());
                }
                if line.iter().all(u8::is_ascii_whitespace) {
                    continue;
                }
                return Ok(Some(line));
            }
            if self.buf.len() > self.max {
                self.line += 1;
                return Err(self.too_long());
            }
            if self.ended {
                if self.buf.iter().all(u8::is_ascii_whitespace) {
                    return Ok(None);
                }
                self.line += 1;
                return Ok(Some(std::mem::take(&mut self.buf)));
            }
            match self.bytes.next().await {
                Some(Ok(chunk)) => self.buf.extend_from_slice(&chunk),
                Some(Err(e)) => {
                    return Err(ShopifyError::Bulk {
                        operation: "BulkOperation",
                        id: self.id.clone(),
                        reason: format!(
                            "download failed at line {}: {}",
                            self.line + 1,
                            crate::describe(&e)
                        ),
                    });
                }
                None => self.ended = true,
            }
        }
    }

    fn too_long(&self) -> ShopifyError {
        ShopifyError::BulkLineTooLong { operation: "BulkOperation", line: self.line, max: self.max }
    }
}
